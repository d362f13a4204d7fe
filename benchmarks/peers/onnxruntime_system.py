"""ONNX Runtime on the ONNX file Horn exports for the same model (``codegen.onnx.export_onnx``).

The parent exports the files in a process of their own (``export_models``), so
this worker's memory holds ONNX Runtime and the model only. Sessions use the
CPU provider, full graph optimization (ORT's default), ``intra_op_num_threads``
= the thread count and sequential execution (one inter-op thread).
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from peers.common import Settings, log, mnist_like, time_call, timed


def versions() -> dict:
    import onnx
    return {"onnxruntime": ort.__version__, "onnx": onnx.__version__}


def export_models(models: list[str], out_dir: str, seed: int = 0) -> dict[str, str]:
    """Writes ``<model>.onnx`` for each seed model (random weights, seeded) with Horn's exporter."""
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    import horn as k
    from codegen.onnx import export_onnx
    from tests.models import seed_models
    paths = {}
    for name in models:
        k.utils.set_random_seed(seed)
        path = str(Path(out_dir) / f"{name}.onnx")
        export_onnx(getattr(seed_models, name)(k), path)
        paths[name] = path
    return paths


def _session(path: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def measure(model_name: str, s: Settings) -> dict:
    path = s.extra["onnx_files"][model_name]
    log(f"onnxruntime {model_name}: sessions")
    creations = []
    for _ in range(1 + s.compile_repeats):
        seconds, sess = timed(lambda: _session(path, s.threads))
        creations.append(seconds)
    name = sess.get_inputs()[0].name
    x1, _ = mnist_like(1, model_name, s.seed)
    xb, _ = mnist_like(s.batch, model_name, s.seed + 1)
    log(f"onnxruntime {model_name}: predict")
    predict = {"b1": time_call(lambda: sess.run(None, {name: x1})[0], s),
               f"b{s.batch}": time_call(lambda: sess.run(None, {name: xb})[0], s)}
    assert np.isfinite(sess.run(None, {name: xb})[0]).all()
    return {"predict": predict, "predict_path": "InferenceSession.run",
            "compile": {"session_create_s": statistics.median(creations[1:] or creations),
                        "session_create_cold_s": creations[0]}}

"""benchmarks/run.py: a quick Horn-only run writes well-formed JSON; goals and skips are right.

No timing is asserted: the numbers depend on the machine and its load. The
subprocess run is the smallest the script offers (``--quick``, MLP, one
thread, a 128^3 GEMM), about ten seconds of CPU, most of it LLVM compiling the
train step.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


@pytest.fixture
def run_module():
    """benchmarks/run.py imported as a module (it puts benchmarks/ on sys.path; undone after)."""
    saved = list(sys.path)
    spec = importlib.util.spec_from_file_location("horn_benchmarks_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path[:] = saved
    for name in [n for n in sys.modules if n == "peers" or n.startswith("peers.")]:
        del sys.modules[name]


def test_quick_horn_run_writes_json(tmp_path, run_module, capsys):
    out, md = tmp_path / "run.json", tmp_path / "run.md"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--models", "mlp", "--systems", "horn",
                           "--threads", "1", "--json", str(out), "--markdown", str(md)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["settings"]["quick"] is True and record["complete"] is True
    assert {"cpu_model", "cores", "cpu_flags", "os", "loadavg_start", "loadavg_end"} <= set(record["machine"])
    assert set(record["machine"]["cpu_flags"]) >= {"avx2", "fma", "avx512f"}
    assert {"horn", "numpy", "llvmlite"} <= set(record["versions"])
    [run] = record["runs"]
    assert (run["system"], run["model"], run["threads"], run["status"]) == ("horn", "mlp", 1, "ok")
    result = run["result"]
    assert result["predict_path"] == "model.predict_on_batch"
    for key in ("b1", "b128"):
        assert result["predict"][key]["median_s"] > 0
    assert result["train"]["samples_per_epoch"] == record["settings"]["train_samples"]
    assert result["train"]["samples_per_s"] > 0
    for graph in ("predict", "train_step"):
        phases = result["compile"][graph]
        assert phases["complete"], "a compile phase hook no longer matches the code it times"
        assert min(phases["trace_s"], phases["passes_s"], phases["codegen_s"]) >= 0
        assert phases["total_s"] == pytest.approx(phases["trace_s"] + phases["passes_s"] + phases["codegen_s"])
    memory = result["memory"]
    assert memory["peak_rss_mb"] >= memory["import_rss_mb"] > 0
    assert memory["arena_train_bytes"] > 0
    [gemm] = record["gemm"]
    assert gemm["size"] == 128 and gemm["threads"] == 1
    assert gemm["horn_gflops"] > 0 and gemm["numpy_gflops"] > 0
    # Without ORT or a training peer, the goals that need them say so instead of passing.
    goals = {(g["what"], g["subject"]): g for g in record["goals"]}
    assert goals[("predict latency, batch 1 (Horn/ORT)", "MLP")]["verdict"] == "n/a"
    assert "predict latency, batch 1" in proc.stdout
    text = md.read_text()
    assert "| | MLP, 1 thread |" in text.replace("|  |", "| |") and "\n| Horn | " in text
    # The tables can be made again from the JSON alone, without measuring.
    again = tmp_path / "again.md"
    assert run_module.main(["--from-json", str(out), "--markdown", str(again)]) == 0
    assert again.read_text() == text and "predict latency, batch 1" in capsys.readouterr().out


def _run(system, model, threads, **metrics):
    predict = {}
    if "latency_ms" in metrics:
        predict["b1"] = {"median_s": metrics["latency_ms"] / 1e3}
    if "throughput" in metrics:
        predict["b128"] = {"median_s": 128 / metrics["throughput"]}
    result = {"predict": predict}
    if "train_sps" in metrics:
        result["train"] = {"samples_per_s": metrics["train_sps"]}
    if "compile_train_s" in metrics:
        result["compile"] = {"train_step": {"total_s": metrics["compile_train_s"]}}
    return {"system": system, "model": model, "threads": threads, "status": "ok", "result": result}


def test_goals_use_the_issue_targets(run_module):
    report = run_module.report
    runs = [_run("horn", "mlp", 1, latency_ms=0.02, throughput=400e3, train_sps=150e3),
            _run("onnxruntime", "mlp", 1, latency_ms=0.03, throughput=350e3),
            _run("pytorch", "mlp", 1, train_sps=69e3),
            _run("keras-jax", "mlp", 1, train_sps=80e3),
            _run("horn", "convnet_s", 2, latency_ms=0.08, compile_train_s=2.5),
            _run("onnxruntime", "convnet_s", 2, latency_ms=0.09)]
    gemm = [{"size": 512, "threads": 1, "horn_gflops": 70.0, "numpy_gflops": 85.0}]
    got = {(g.what.split(" (")[0], g.subject, g.threads): g for g in report.goals(runs, gemm, 128)}
    lat = got[("predict latency, batch 1", "MLP", 1)]
    assert lat.value == pytest.approx(2 / 3) and lat.met is False          # needs <= 0.5x
    assert got[("predict throughput, batch 128", "MLP", 1)].met is True    # 400k >= 350k
    train = got[("training throughput", "MLP", 1)]
    assert train.value == pytest.approx(150 / 80) and train.met is False   # vs the better peer, Keras
    assert got[("predict latency, batch 1", "convnet-S", 2)].met is False  # 0.89x > 0.8x
    assert got[("compile time, train step: trace + passes + codegen", "convnet-S", 2)].met is False
    assert got[("predict throughput, batch 128", "convnet-S", 2)].met is None   # no figures for it
    assert got[("GEMM GFLOP/s", "512^3", 1)].met is True                   # 0.82x >= 0.8x


def test_missing_peer_is_skipped_not_a_crash(run_module, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(run_module.SYSTEMS, "ghost", ("ghost_system", ("no_such_package_for_horn",)))
    out = tmp_path / "run.json"
    status = run_module.main(["--systems", "ghost", "--models", "mlp", "--threads", "1", "--json", str(out)])
    assert status == 0
    assert "skipping ghost: no_such_package_for_horn not installed" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["runs"] == [] and "ghost" in record["skipped"]


def test_bad_filters_name_what_is_allowed(run_module):
    with pytest.raises(SystemExit, match="--models: expected a comma-separated subset of mlp"):
        run_module.main(["--models", "resnet"])
    with pytest.raises(SystemExit, match="--threads"):
        run_module.main(["--threads", "0"])

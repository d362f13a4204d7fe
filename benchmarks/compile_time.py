"""Horn's compile time, phase by phase, for the predict and train-step graphs of the seed models.

    python benchmarks/compile_time.py [--models mlp,convnet_s,convnet_l] [--repeats 3]
                                      [--graphs predict,train] [--run-steps 20] [--json PATH]
                                      [--clock wall|cpu] [--cache-dir DIR]

Every measurement is a fresh process (a cold compile: nothing compiled earlier in the
process, e.g. the shared GEMM, is reused), and the table shows the median of
``--repeats`` processes per graph. Phases:

* trace: building the IR from the model (forward, loss, gradients, optimizer update);
* passes: ``runtime.compile.optimize_graph`` (the -O pipeline with its verifier runs);
* codegen: ``codegen.cpu.compiler.compile_graph``, the Python emission of LLVM IR
  (with the memory plan);
* llvm: ``runtime.jit.JitLibrary``: parsing, optimizing and machine-code generation;

and the kernel count (kernel calls in the entry function, and distinct kernel
functions after deduplication). Phases are wall-clock seconds, or with ``--clock cpu``
this process's CPU seconds: compiling is single-threaded, so on a loaded machine CPU
time is what a quiet machine's wall clock would show. ``cpu`` is the CPU time of the
whole first call (compile plus one step). ``--run-steps N`` also times N train steps at batch 128
(median ms per step, wall or CPU as ``--clock`` says) so a compile-time change can be
checked against the code it makes.
The train step is the one ``model.fit`` compiles: Adam, sparse categorical
crossentropy and accuracy. ``HORN_CACHE_DIR`` is not set in the workers unless
``--cache-dir`` is given (cold numbers by default).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mlp", "convnet_s", "convnet_l")
PHASES = ("trace", "passes", "codegen", "llvm")

WORKER = r'''
import json, os, sys, time
sys.path.insert(0, os.environ["HORN_ROOT"])
import numpy as np
import horn as k
from tests.models import seed_models
import runtime.compile as rc
import runtime.executable as rx

model_name, graph_kind, run_steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = {k + c: 0.0 for k in ("trace_total", "passes", "codegen", "llvm") for c in ("", "_cpu")}
modules = []

def timed(key, fn, keep=None):
    def wrapper(*a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            out = fn(*a, **kw)
        finally:
            t[key] += time.perf_counter() - t0
            t[key + "_cpu"] += time.process_time() - c0
        if keep is not None:
            keep.append(out)
        return out
    return wrapper

rc.optimize_graph = timed("passes", rc.optimize_graph)
rx.compile_graph = timed("codegen", rx.compile_graph, modules)
rx.JitLibrary = timed("llvm", rx.JitLibrary)

k.utils.set_random_seed(0)
model = getattr(seed_models, model_name)(k)
rng = np.random.default_rng(0)
x = rng.random((128, 28, 28) if model_name == "mlp" else (128, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, 128)
cls = type(model)
if graph_kind == "train":
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cls._trace_step_graph = timed("trace_total", cls._trace_step_graph)
    run = lambda: model.train_on_batch(x, y)
else:
    model.build((None,) + x.shape[1:])
    cls._trace_graph = timed("trace_total", cls._trace_graph)
    run = lambda: model.predict_on_batch(x)
t0, c0 = time.perf_counter(), time.process_time()
run()
first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
steps, steps_cpu = [], []
for _ in range(run_steps):
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    steps.append(time.perf_counter() - t0)
    steps_cpu.append(time.process_time() - c0)
out = {"trace": t["trace_total"] - t["passes"], "passes": t["passes"], "codegen": t["codegen"],
       "llvm": t["llvm"],
       "trace_cpu": t["trace_total_cpu"] - t["passes_cpu"], "passes_cpu": t["passes_cpu"],
       "codegen_cpu": t["codegen_cpu"], "llvm_cpu": t["llvm_cpu"],
       "first_call": first, "first_call_cpu": first_cpu,
       "kernels": sum(m.kernel_count for m in modules),
       "distinct_kernels": sum(getattr(m, "distinct_kernels", m.kernel_count) for m in modules),
       "step_ms": 1e3 * float(np.median(steps)) if steps else None,
       "step_cpu_ms": 1e3 * float(np.median(steps_cpu)) if steps else None}
print(json.dumps(out))
'''


def measure(model: str, graph: str, run_steps: int, cache_dir: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HORN_CACHE_DIR"}
    env.update(HORN_ROOT=str(ROOT), KERAS_BACKEND="numpy")
    if cache_dir:
        env["HORN_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", WORKER, model, graph, str(run_steps)], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()
        raise RuntimeError(f"{model} {graph}: worker failed: {tail[-1] if tail else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--graphs", default="predict,train")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--run-steps", type=int, default=0)
    ap.add_argument("--cache-dir", default=None, help="HORN_CACHE_DIR for the workers (warm runs)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="which time the table shows (both go to the JSON); cpu is robust to load")
    args = ap.parse_args(argv)
    results = {}
    header = (f"{'graph':<20}{'trace':>8}{'passes':>8}{'codegen':>9}{'llvm':>8}{'total':>8}"
              f"{'cpu':>7}{'kernels':>9}{'distinct':>9}" + (f"{'step ms':>9}" if args.run_steps else ""))
    print(header)
    for model in args.models.split(","):
        for graph in args.graphs.split(","):
            # Repeats interleave nothing else: each is its own cold process, one after another.
            runs = [measure(model, graph, args.run_steps, args.cache_dir) for _ in range(args.repeats)]
            sfx = "_cpu" if args.clock == "cpu" else ""
            med = {p: statistics.median(r[p + sfx] for r in runs) for p in PHASES}
            med["total"] = statistics.median(sum(r[p + sfx] for p in PHASES) for r in runs)
            med["cpu"] = statistics.median(r["first_call_cpu"] for r in runs)
            med["kernels"] = runs[0]["kernels"]
            med["distinct_kernels"] = runs[0]["distinct_kernels"]
            if args.run_steps:
                med["step_ms"] = statistics.median(r["step_ms" if args.clock == "wall" else "step_cpu_ms"]
                                                   for r in runs)
            results[f"{model}/{graph}"] = {"median": med, "runs": runs}
            print(f"{model + '/' + graph:<20}{med['trace']:8.2f}{med['passes']:8.2f}{med['codegen']:9.2f}"
                  f"{med['llvm']:8.2f}{med['total']:8.2f}{med['cpu']:7.2f}{med['kernels']:9d}{med['distinct_kernels']:9d}"
                  + (f"{med['step_ms']:9.2f}" if args.run_steps else ""), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()

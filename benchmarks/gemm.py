"""GEMM: Horn's MATMUL kernel against numpy's sgemm (OpenBLAS), float32, square sizes.

    python benchmarks/gemm.py                       # 512, 1024, 2048; 1 and 2 threads
    python benchmarks/gemm.py --sizes 1024 --threads 1 --json out.json

Each thread count runs in its own process, with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
HORN_NUM_THREADS set before numpy loads, so both libraries use the same number of
threads. In that process Horn (a one-node graph through ``runtime.executable``) and
numpy alternate call by call, after warm-up, with a short pause between calls so that
neither library's spinning worker threads steal the other's cores; the report gives
medians and the Horn/numpy ratio of GFLOP/s. ``run(sizes, threads)`` returns the same
figures as a dict for ``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAUSE_S = 0.05          # between calls: lets the other library's workers go to sleep


def _worker(sizes: list[int], threads: int, repeats: int) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from ir import DType, Graph, Op, TensorType
    from runtime import threads as horn_threads
    from runtime.executable import Executable

    horn_threads.set_num_threads(threads)
    out = []
    for n in sizes:
        g = Graph(f"gemm{n}")
        a = g.add_input(TensorType(DType.float32, (n, n)), "a")
        b = g.add_input(TensorType(DType.float32, (n, n)), "b")
        g.set_outputs([g.add_node(Op.MATMUL, [a, b], name="mm").output])
        t0 = time.perf_counter()
        exe = Executable(g)
        compile_s = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        y = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        got, want = exe(x, y)[0], x @ y
        err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        if err > 1e-4:
            raise AssertionError(f"Horn's {n}^3 GEMM differs from numpy: max relative error {err:.2e}")
        # Enough calls per timing for ~20 ms at 50 GFLOP/s: the timer's resolution is moot.
        calls = min(20, max(1, int(0.02 * 50e9 / (2 * n ** 3))))
        times = {"horn": [], "numpy": []}
        cpu = {"horn": [], "numpy": []}
        fns = {"horn": lambda: exe(x, y), "numpy": lambda: x @ y}
        for name in fns:                                     # warm-up
            fns[name]()
        for _ in range(repeats):
            for name, fn in fns.items():
                time.sleep(PAUSE_S)
                t, c = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    fn()
                times[name].append((time.perf_counter() - t) / calls)
                cpu[name].append((time.process_time() - c) / calls)
        flop = 2.0 * n ** 3
        horn_s, np_s = statistics.median(times["horn"]), statistics.median(times["numpy"])
        out.append({"size": n, "threads": threads, "horn_ms": horn_s * 1e3, "numpy_ms": np_s * 1e3,
                    "horn_gflops": flop / horn_s / 1e9, "numpy_gflops": flop / np_s / 1e9,
                    "ratio": np_s / horn_s, "horn_compile_s": compile_s, "max_rel_error": err,
                    # CPU seconds of the whole process per call: with one thread, a measure that a
                    # loaded machine's time slicing does not inflate (caches are still shared).
                    "cpu_ratio": statistics.median(cpu["numpy"]) / statistics.median(cpu["horn"]),
                    "repeats": repeats, "calls_per_repeat": calls,
                    "horn_ms_all": [t * 1e3 for t in times["horn"]],
                    "numpy_ms_all": [t * 1e3 for t in times["numpy"]]})
    return out


def run(sizes=(512, 1024, 2048), threads=(1, 2), repeats: int = 5) -> dict:
    """Horn vs numpy GFLOP/s per (size, thread count); one subprocess per thread count."""
    results = []
    load_before = os.getloadavg()
    for t in threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t),
                   HORN_NUM_THREADS=str(t), KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "numpy"))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(t),
               "--repeats", str(repeats), "--sizes", *map(str, sizes)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"GEMM benchmark worker ({t} threads) failed:\n{proc.stderr[-4000:]}")
        results.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"benchmark": "gemm", "dtype": "float32", "machine": _machine(),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "results": results}


def _machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": cpu or platform.processor(), "cpus": os.cpu_count(), "python": platform.python_version()}


def _print(report: dict) -> None:
    print(f"GEMM float32, {report['machine']['cpu']} ({report['machine']['cpus']} CPUs); load average "
          f"{report['loadavg_before'][0]:.2f} -> {report['loadavg_after'][0]:.2f}")
    print(f"{'size':>6} {'thr':>4} {'Horn GFLOP/s':>13} {'numpy GFLOP/s':>14} {'Horn/numpy':>11} "
          f"{'(CPU time)':>11}")
    for r in report["results"]:
        print(f"{r['size']:>6} {r['threads']:>4} {r['horn_gflops']:>13.1f} {r['numpy_gflops']:>14.1f} "
              f"{r['ratio']:>11.2f} {r['cpu_ratio']:>11.2f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.sizes, args.threads[0], args.repeats)))
        return
    report = run(args.sizes, args.threads, args.repeats)
    _print(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()

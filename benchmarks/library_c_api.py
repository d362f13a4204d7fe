"""convnet-S as a shared library: its size, load time, and batch-1 latency through the C API.

    python benchmarks/library_c_api.py [--repeats 1000] [--loads 30]

Compiles convnet-S (with its train step, as `horn compile` does for a compiled
model) into a temporary directory, then measures, on this machine:
- the size of libconvnet_s.so, and of the library without the train step;
- load time: dlopen + dlsym + create context, median over fresh processes
  (benchmarks/c/load_time.c);
- latency of one batch-1 inference through the C API, median of --repeats calls
  timed inside a C program (tests/c/horn_driver.c), against Horn's Python
  `predict_on_batch` and `predict` on the same model (the JIT-compiled code), medians too.
Prints a table and writes benchmarks/results/library_c_api.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import horn as keras  # noqa: E402
from tests.models import seed_models  # noqa: E402
from tests.native import build_driver, c_compiler, run_driver, write_tensors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    model = seed_models.convnet_s(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        info = keras.compile_library(model, out, name="convnet_s")
        compile_s = time.perf_counter() - t0
        driver = build_driver(info.library, info.name, out)
        loader = out / "load_time"
        subprocess.run([c_compiler() or "cc", "-O2", "-o", str(loader), str(ROOT / "benchmarks/c/load_time.c")],
                       check=True)
        loads = [int(subprocess.run([str(loader), str(info.library), info.name], capture_output=True,
                                    text=True, check=True).stdout.split()[1]) for _ in range(args.loads)]
        c_ns = int(run_driver(driver, "bench", write_tensors(out / "x.bin", [x]), args.repeats).stdout.split()[1])
        size = info.library.stat().st_size
        inference_only = keras.compile_library(model, out / "inference", name="convnet_s", train_step=False)
        size_inference = inference_only.library.stat().st_size

    def median_py(fn) -> float:
        fn()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    pob = median_py(lambda: model.predict_on_batch(x))
    pred = median_py(lambda: model.predict(x, verbose=0))
    result = {
        "model": "convnet_s", "library_bytes": size, "weights_bytes": info.weights_bytes,
        "inference_only_library_bytes": size_inference,
        "compile_library_s": compile_s, "load_median_us": statistics.median(loads) / 1e3,
        "c_api_batch1_median_us": c_ns / 1e3, "python_predict_on_batch_batch1_median_us": pob * 1e6,
        "python_predict_batch1_median_us": pred * 1e6, "repeats": args.repeats, "loads": args.loads,
    }
    print(f"libconvnet_s.so: {size / 2**20:.2f} MiB ({size} bytes; weights and optimizer state "
          f"{info.weights_bytes} bytes), compile_library {compile_s:.1f} s; "
          f"inference only: {size_inference / 2**20:.2f} MiB ({size_inference} bytes)")
    print(f"load (dlopen + create context), median of {args.loads} processes: "
          f"{result['load_median_us']:.0f} us")
    print(f"batch-1 latency, median of {args.repeats}:")
    print(f"  C API ({info.name}_run)        {result['c_api_batch1_median_us']:9.1f} us")
    print(f"  Python predict_on_batch   {result['python_predict_on_batch_batch1_median_us']:9.1f} us")
    print(f"  Python predict            {result['python_predict_batch1_median_us']:9.1f} us")
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "library_c_api.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

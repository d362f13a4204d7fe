"""Seconds per MNIST epoch (60k samples, batch 128, Adam) and test accuracy: Horn beside Keras-JAX.

    HORN_DATA_DIR=../shared/data python benchmarks/train_mnist.py [--epochs-mlp 5] [--epochs-convnet 3]

Each system runs in its own process, one after the other in this one run, on
the same data, model and optimizer. The first epoch includes compilation
(Horn: trace + passes + LLVM; Keras-JAX: XLA); later epochs are steady state.
Prints a table and writes benchmarks/results/train_mnist.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r'''
import json, os, sys, time
import numpy as np
system, model_name, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
if system == "keras-jax":
    os.environ["KERAS_BACKEND"] = "jax"
    import keras as k
    from horn.datasets import mnist
else:
    import horn as k
    from horn.datasets import mnist
sys.path.insert(0, os.environ["HORN_ROOT"])
from tests.models import seed_models
k.utils.set_random_seed(0)
(x, y), (xt, yt) = mnist.load_data()
x, xt = x.astype("float32") / 255.0, xt.astype("float32") / 255.0
if model_name != "mlp":
    x, xt = x[..., None], xt[..., None]
model = getattr(seed_models, model_name)(k)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
times = []
class T(k.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.t)
model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=[T()])
acc = float(model.evaluate(xt, yt, batch_size=512, verbose=0)[1])
print(json.dumps({"epoch_seconds": times, "test_accuracy": acc}))
'''


def run(system: str, model: str, epochs: int) -> dict:
    env = {**os.environ, "HORN_ROOT": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", WORKER, system, model, str(epochs)], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-mlp", type=int, default=5)
    parser.add_argument("--epochs-convnet", type=int, default=3)
    args = parser.parse_args()
    if "HORN_DATA_DIR" not in os.environ:
        print("note: HORN_DATA_DIR is unset; MNIST will be downloaded", file=sys.stderr)
    results = {}
    for model, epochs in (("mlp", args.epochs_mlp), ("convnet_s", args.epochs_convnet)):
        for system in ("horn", "keras-jax"):
            start = time.perf_counter()
            results[f"{model}/{system}"] = r = run(system, model, epochs)
            r["wall_seconds"] = time.perf_counter() - start
            print(f"{model:10s} {system:10s} {json.dumps(r)}", flush=True)
    print()
    print(f"{'model':10s} {'system':10s} {'epoch 1 (s)':>12s} {'later epochs (s)':>17s} {'test acc':>9s}")
    for key, r in results.items():
        model, system = key.split("/")
        if "error" in r:
            print(f"{model:10s} {system:10s} error: {r['error']}")
            continue
        t = r["epoch_seconds"]
        later = sum(t[1:]) / max(len(t) - 1, 1) if len(t) > 1 else float("nan")
        print(f"{model:10s} {system:10s} {t[0]:12.2f} {later:17.2f} {r['test_accuracy']:9.4f}")
    for model in ("mlp", "convnet_s"):
        h, k = results[f"{model}/horn"], results[f"{model}/keras-jax"]
        if "error" not in h and "error" not in k and len(h["epoch_seconds"]) > 1:
            ratio = (sum(k["epoch_seconds"][1:]) / sum(h["epoch_seconds"][1:]))
            print(f"{model}: Horn steady-state epochs are {ratio:.2f}x Keras-JAX's speed")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_mnist.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

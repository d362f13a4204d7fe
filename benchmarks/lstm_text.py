"""The issue's text classifier, Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid) on
length-200 sequences: Horn beside Keras (JAX backend) and PyTorch, in one run.

    python benchmarks/lstm_text.py [--threads 1] [--batch 128] [--samples 2048] [--epochs 3]

Each system runs in its own process (one after the other, same data, same model, Adam,
binary cross-entropy) and reports:

* training samples/s: median over timed ``fit`` epochs (PyTorch: the usual Python loop);
* predict latency at batch 1: median of ``predict_on_batch`` (PyTorch: ``model(x)`` under
  ``no_grad``), calibrated repeats after warm-up;
* compile time: Horn's trace + passes + codegen of the train step and of the predict
  graph (measured around the first calls); Keras-JAX's first-epoch overhead (first epoch
  minus a steady epoch: XLA tracing and compiling) and its first predict call; PyTorch
  runs eagerly (no compile step).

Threads are capped per process with the same environment as benchmarks/run.py. With
``--rounds R`` the three processes run in turn R times (interleaved, so a change in machine
load hits every system alike) and the table shows each figure's median over the rounds.
Prints a table with ratios to Horn and writes benchmarks/results/lstm_text.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SYSTEMS = ("horn", "keras-jax", "pytorch")
LENGTH, VOCAB, DIM, UNITS = 200, 10000, 32, 32


def _data(n: int, seed: int = 0):
    from tests.training.text_models import marker_task
    return marker_task(n, length=LENGTH, vocab=200, copies=8, seed=seed)


def _settings(args):
    from peers.common import Settings
    return Settings(threads=args.threads, batch=args.batch, repeats=args.repeats)


# -- workers ------------------------------------------------------------------------------------
def _epoch_timer(k, out: list):
    class EpochTimer(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            out.append(time.perf_counter() - self.t0)
    return EpochTimer()


def measure_horn(args) -> dict:
    import horn as k
    from peers.common import time_call
    from peers.horn_system import compile_phases
    from tests.training.text_models import lstm_classifier
    if hasattr(getattr(k, "config", None), "set_num_threads"):
        k.config.set_num_threads(args.threads)
    x, y = _data(args.samples)
    k.utils.set_random_seed(0)
    model = lstm_classifier(k, VOCAB, DIM, UNITS, LENGTH)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss="binary_crossentropy")
    t0 = time.perf_counter()
    with compile_phases() as train_phases:
        model.train_on_batch(x[:args.batch], y[:args.batch])
    first_step = time.perf_counter() - t0
    t0 = time.perf_counter()
    with compile_phases() as predict_phases:
        model.predict_on_batch(x[:1])
    first_predict = time.perf_counter() - t0
    epochs: list[float] = []
    history = model.fit(x, y, batch_size=args.batch, epochs=args.epochs, verbose=0,
                        callbacks=[_epoch_timer(k, epochs)]).history
    latency = time_call(lambda: model.predict_on_batch(x[:1]), _settings(args))
    return {"epoch_s": epochs, "samples_per_s": args.samples / statistics.median(epochs),
            "loss": history["loss"], "predict_b1": latency,
            "compile": {"train_step": train_phases, "predict": predict_phases,
                        "first_train_step_s": first_step, "first_predict_s": first_predict}}


def measure_keras_jax(args) -> dict:
    import keras as k
    from peers.common import time_call
    from tests.training.text_models import lstm_classifier
    x, y = _data(args.samples)
    k.utils.set_random_seed(0)
    model = lstm_classifier(k, VOCAB, DIM, UNITS, LENGTH)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss="binary_crossentropy")
    epochs: list[float] = []
    history = model.fit(x, y, batch_size=args.batch, epochs=args.epochs + 1, verbose=0,
                        callbacks=[_epoch_timer(k, epochs)]).history
    steady = epochs[1:]
    t0 = time.perf_counter()
    model.predict_on_batch(x[:1])
    first_predict = time.perf_counter() - t0
    latency = time_call(lambda: model.predict_on_batch(x[:1]), _settings(args))
    return {"epoch_s": steady, "first_epoch_s": epochs[0],
            "samples_per_s": args.samples / statistics.median(steady), "loss": history["loss"][1:],
            "predict_b1": latency,
            "compile": {"first_epoch_overhead_s": epochs[0] - statistics.median(steady),
                        "first_predict_s": first_predict}}


def measure_pytorch(args) -> dict:
    import numpy as np
    import torch
    from torch import nn
    from peers.common import time_call
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, DIM)
            self.lstm = nn.LSTM(DIM, UNITS, batch_first=True)
            self.dense = nn.Linear(UNITS, 1)

        def forward(self, ids):
            _, (h, _) = self.lstm(self.embedding(ids))
            return torch.sigmoid(self.dense(h[-1]))

    x, y = _data(args.samples)
    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y[:, None])
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()
    epochs, losses = [], []
    rng = np.random.default_rng(0)
    for _ in range(args.epochs + 1):
        order = torch.from_numpy(rng.permutation(len(x)))
        t0, total = time.perf_counter(), 0.0
        for i in range(0, len(x), args.batch):
            idx = order[i:i + args.batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        epochs.append(time.perf_counter() - t0)
        losses.append(total / len(x))
    model.eval()
    x1 = xt[:1]

    def predict():
        with torch.no_grad():
            return model(x1).numpy()
    latency = time_call(predict, _settings(args))
    steady = epochs[1:]
    return {"epoch_s": steady, "first_epoch_s": epochs[0],
            "samples_per_s": args.samples / statistics.median(steady), "loss": losses[1:],
            "predict_b1": latency, "compile": {"note": "eager; no compile step"}}


WORKERS = {"horn": measure_horn, "keras-jax": measure_keras_jax, "pytorch": measure_pytorch}


# -- parent -------------------------------------------------------------------------------------
def run_worker(system: str, args) -> dict:
    from peers.common import thread_env
    env = {**os.environ, **thread_env(args.threads), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", system,
           "--threads", str(args.threads), "--batch", str(args.batch), "--samples", str(args.samples),
           "--epochs", str(args.epochs), "--repeats", str(args.repeats)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-5:] if out.stderr.strip() else ["failed"]
        return {"error": "\n".join(tail)}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def _compile_s(system: str, r: dict):
    c = r.get("compile", {})
    if system == "horn":
        return c["train_step"]["total_s"] + c["predict"]["total_s"]
    if system == "keras-jax":
        return c["first_epoch_overhead_s"] + c["first_predict_s"]
    return None


def _median_round(runs: list[dict]) -> dict:
    """The run whose training throughput is the median (its other figures with it), plus
    the median of each headline figure over all rounds."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    ok.sort(key=lambda r: r["samples_per_s"])
    out = dict(ok[len(ok) // 2])
    out["samples_per_s"] = statistics.median(r["samples_per_s"] for r in ok)
    out["predict_b1"] = {**out["predict_b1"],
                         "median_s": statistics.median(r["predict_b1"]["median_s"] for r in ok)}
    out["rounds"] = runs
    return out


def report(results: dict, args) -> str:
    lines = [f"LSTM text classifier (Embedding({VOCAB}, {DIM}) -> LSTM({UNITS}) -> Dense(1)), "
             f"T={LENGTH}, batch {args.batch}, {args.samples} samples/epoch, {args.threads} thread(s), "
             f"median of {args.rounds} interleaved round(s)",
             f"{'system':<11}{'train samples/s':>17}{'x Horn':>8}{'predict b=1 ms':>16}{'x Horn':>8}"
             f"{'compile s':>11}"]
    base = results.get("horn", {})
    for system, r in results.items():
        if "error" in r:
            lines.append(f"{system:<11}  error: {r['error']}")
            continue
        sps, lat = r["samples_per_s"], r["predict_b1"]["median_s"] * 1e3
        rs = f"{sps / base['samples_per_s']:.2f}" if "samples_per_s" in base else "-"
        rl = f"{lat / (base['predict_b1']['median_s'] * 1e3):.2f}" if "predict_b1" in base else "-"
        comp = _compile_s(system, r)
        lines.append(f"{system:<11}{sps:>17.0f}{rs:>8}{lat:>16.3f}{rl:>8}"
                     f"{(f'{comp:.2f}' if comp is not None else 'n/a'):>11}")
    if "compile" in base:
        t, p = base["compile"]["train_step"], base["compile"]["predict"]
        lines.append(f"Horn compile: train step {t['total_s']:.2f} s (trace {t['trace_s']:.2f}, passes "
                     f"{t['passes_s']:.2f}, codegen {t['codegen_s']:.2f}); predict {p['total_s']:.2f} s")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=3, help="timed (steady) epochs per system")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats of the batch-1 predict")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds of all systems")
    ap.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    systems = args.systems.split(",")
    rounds: dict[str, list[dict]] = {s: [] for s in systems}
    for r in range(args.rounds):
        for system in systems:
            print(f"round {r + 1}/{args.rounds}: {system} ...", file=sys.stderr, flush=True)
            rounds[system].append(run_worker(system, args))
    results = {s: _median_round(runs) for s, runs in rounds.items()}
    text = report(results, args)
    print(text)
    out = ROOT / "benchmarks" / "results" / "lstm_text.json"
    out.write_text(json.dumps({"settings": vars(args), "results": results, "table": text}, indent=1))


if __name__ == "__main__":
    main()

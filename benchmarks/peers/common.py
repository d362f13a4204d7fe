"""What every benchmark worker shares: settings, thread caps, timing, data, memory.

A worker is one process measuring one system on one model at one thread count
(``benchmarks/run.py --worker SYSTEM ...``). The parent sets the thread
environment before the process starts, because several runtimes (OpenBLAS, XLA,
OpenMP) read it once, at import.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

# System name -> module in benchmarks/peers, and the packages it needs (looked up, not imported,
# so a missing peer is skipped without a crash).
SYSTEMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "horn": ("horn_system", ("llvmlite",)),
    "onnxruntime": ("onnxruntime_system", ("onnxruntime", "onnx")),
    "keras-jax": ("keras_jax_system", ("keras", "jax")),
    "pytorch": ("pytorch_system", ("torch",)),
}
MODELS = ("mlp", "convnet_s", "convnet_l")
MNIST_TRAIN = 60_000


@dataclass(frozen=True)
class Settings:
    """How hard to measure; the parent builds it and hands it to each worker as JSON."""

    threads: int = 1
    quick: bool = False
    batch: int = 128                   # predict throughput and training batch
    repeats: int = 15                  # timed repeats of a predict call (the median is reported)
    min_repeat_s: float = 0.05         # each repeat runs the call back to back for at least this long
    warmup_s: float = 0.3              # untimed calls before the first repeat
    train_samples: int = MNIST_TRAIN   # samples in one training epoch
    train_epochs: int | None = None    # steady-state epochs timed (median); None: per model, below
    warmup_samples: int = 1248         # the warm-up fit: 9 full batches and one of 96 (60000 % 128)
    compile_repeats: int = 2           # timed compiles after one cold compile (the median is reported)
    seed: int = 0
    gemm_sizes: tuple[int, ...] = (512, 1024, 2048)
    gemm_repeats: int = 5
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        raw = json.loads(text)
        raw["gemm_sizes"] = tuple(raw.get("gemm_sizes", ()))
        return cls(**raw)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


# Steady epochs timed by default: convnet-L's epoch alone takes minutes on one core.
DEFAULT_TRAIN_EPOCHS = {"mlp": 3, "convnet_s": 2, "convnet_l": 1}


def train_epochs(model_name: str, s: Settings) -> int:
    return s.train_epochs or DEFAULT_TRAIN_EPOCHS.get(model_name, 2)


def thread_env(n: int) -> dict[str, str]:
    """Environment that caps every runtime we start at ``n`` threads.

    Horn reads HORN_NUM_THREADS; numpy's OpenBLAS, MKL and OpenMP read theirs at load.
    XLA's CPU client sizes its intra-op pool from PJRT_NPROC (jaxlib 0.10 ignores
    ``intra_op_parallelism_threads`` in XLA_FLAGS: measured, a 2048^2 matmul kept both
    cores busy with it, and one with PJRT_NPROC=1). ONNX Runtime and PyTorch take the
    count through their APIs in the worker; the variables below cover their OpenMP.
    """
    env = {k: str(n) for k in ("HORN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                               "MKL_NUM_THREADS", "PJRT_NPROC")}
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1:
        flags = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    if flags:
        env["XLA_FLAGS"] = flags
    env["JAX_PLATFORMS"] = "cpu"
    env["KERAS_BACKEND"] = "jax"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def time_call(fn: Callable[[], object], s: Settings) -> dict:
    """Median seconds per call of ``fn`` after warm-up, and how busy the process was meanwhile.

    Each repeat runs ``fn`` back to back ``inner`` times (calibrated so a repeat lasts
    ``min_repeat_s``), which keeps the timer's own resolution out of sub-millisecond calls.
    ``cpu_per_wall`` near 1 means one core worked; near 2, two (a check on the thread caps).
    ``median_cpu_s`` is the process's CPU time per call: with one thread, a figure that time
    slicing on a shared machine inflates less than wall time.
    """
    fn()
    start = time.perf_counter()
    calls = 1
    while time.perf_counter() - start < s.warmup_s or calls < 3:
        fn()
        calls += 1
    one = (time.perf_counter() - start) / (calls - 1) if calls > 1 else 1e-3
    inner = max(1, int(s.min_repeat_s / max(one, 1e-7)))
    per_call, cpu_per_call = [], []
    for _ in range(s.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        per_call.append((time.perf_counter() - t0) / inner)
        cpu_per_call.append((time.process_time() - c0) / inner)
    wall, cpu = sum(per_call), sum(cpu_per_call)
    return {"median_s": statistics.median(per_call), "min_s": min(per_call), "repeats": s.repeats,
            "inner": inner, "median_cpu_s": statistics.median(cpu_per_call),
            "cpu_per_wall": cpu / wall if wall > 0 else None}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def is_conv(model_name: str) -> bool:
    return model_name != "mlp"


def mnist_like(n: int, model_name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-shaped samples: float32 pixels in [0, 1) channels-last, int32 labels 0..9.

    Random data is enough for throughput (the work per batch does not depend on the
    values), and every system gets the same arrays.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28), dtype=np.float32)
    if is_conv(model_name):
        x = x[..., None]
    return x, rng.integers(0, 10, n).astype(np.int32)


def train_summary(epoch_seconds: list[float], samples: int, first_fit_s: float | None,
                  warmup_samples: int) -> dict:
    """Steady-state training throughput from timed epochs over ``samples`` samples.

    ``first_epoch_overhead_s`` is what the first (warm-up) fit cost beyond the steady
    rate at the same number of samples: first epoch minus a steady epoch, scaled to the
    warm-up's size, so a full extra epoch is not needed to see compilation.
    """
    steady = statistics.median(epoch_seconds)
    out = {"samples_per_epoch": samples, "epoch_s": epoch_seconds, "steady_epoch_s": steady,
           "samples_per_s": samples / steady, "warmup_samples": warmup_samples}
    if first_fit_s is not None:
        out["first_fit_s"] = first_fit_s
        out["first_epoch_overhead_s"] = first_fit_s - steady * warmup_samples / samples
    return out


def rss_mb() -> dict:
    """This process's current and peak resident memory in MiB (Linux ``ru_maxrss`` is in KiB),
    and its OS threads (a check that the thread caps took: pools start one per allowed core)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    current = threads = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) / 1024.0
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        pass
    return {"current_mb": current, "peak_mb": peak, "os_threads": threads}


def log(msg: str) -> None:
    """Progress goes to stderr; the parent shows it only when a worker fails."""
    import sys
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fit_epochs(k, model, x: np.ndarray, y: np.ndarray, s: Settings, epochs: int) -> dict:
    """Training throughput of ``model.fit`` for a Keras-compatible module ``k`` (horn or keras).

    A warm-up fit on the first ``warmup_samples`` compiles the step (and, for Keras-JAX,
    the shape of the last partial batch), then ``epochs`` epochs over all of ``x``
    are timed one by one with a callback, shuffled as fit does by default.
    """
    epoch_seconds: list[float] = []

    class EpochTimer(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.t0)

    w = min(s.warmup_samples, len(x))
    first, _ = timed(lambda: model.fit(x[:w], y[:w], batch_size=s.batch, epochs=1, verbose=0))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model.fit(x, y, batch_size=s.batch, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    out = train_summary(epoch_seconds, len(x), first, w)
    out["cpu_per_wall"] = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return out

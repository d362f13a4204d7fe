"""How many threads Horn's compiled kernels may use in this process.

Generated code reads the ``i32`` global ``horn_num_threads`` (see
``codegen.cpu.parallel``) each time a parallel loop starts, so a change takes
effect at the next call, without recompiling. This module owns that global for
the JIT: a ``ctypes`` integer whose address ``runtime.jit`` gives to LLVM.

The starting value is ``$HORN_NUM_THREADS`` when set, else :data:`DEFAULT_THREADS`.
"""
from __future__ import annotations

import ctypes
import os

# One thread, measured: on the 2-vCPU Zen 4 dev box (AVX-512; its vCPUs share physical
# capacity, and other jobs ran beside it, load average 5-6) benchmarks/gemm.py gave Horn
# 98.4 / 88.4 / 62.8 GFLOP/s at 512^3 / 1024^3 / 2048^3 on one thread against 16.1 / 39.9 /
# 69.9 on two (numpy's OpenBLAS alike: 98.3 / 92.4 / 67.4 against 15.5 / 36.2 / 80.6;
# benchmarks/results/gemm.json). Earlier runs agreed: one thread ahead in 8 of 9 sizes.
# A second thread only pays where a core is otherwise idle: set HORN_NUM_THREADS or
# horn.config.set_num_threads(2) then. benchmarks/run.py agrees: at load 0.9-1.6, two threads
# won most model workloads (convnet-S predict 30.0k/s against 17.4k, train 5.0k against 4.2k),
# while at load 0.9-2.6 they collapsed (convnet-L batch-1 latency 24 ms against 1.1 ms, MLP
# training 16k/s against 134k): one thread is the default that never collapses.
DEFAULT_THREADS = 1

_value = ctypes.c_int32(0)


def _initial() -> int:
    raw = os.environ.get("HORN_NUM_THREADS")
    if raw is None or raw.strip() == "":
        return max(1, min(DEFAULT_THREADS, os.cpu_count() or 1))
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"HORN_NUM_THREADS must be a positive integer. Received: {raw!r}") from None
    if n < 1:
        raise ValueError(f"HORN_NUM_THREADS must be a positive integer. Received: {raw!r}")
    return n


def set_num_threads(n: int) -> None:
    """Uses at most ``n`` threads in every compiled kernel from the next call on (``n >= 1``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer. Received: n={n!r}")
    _value.value = n


def get_num_threads() -> int:
    """The most threads a compiled kernel uses (small kernels use fewer: see codegen.cpu.parallel)."""
    return int(_value.value)


def symbol_address() -> int:
    """Address of the ``horn_num_threads`` global that JIT-compiled code reads."""
    return ctypes.addressof(_value)


_value.value = _initial()

"""Shared checks for codegen tests: compiled output against the reference interpreter."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ir import DType, Graph, interpret, verify
from runtime.executable import Executable

# Shapes worth trying for any op: unit dims, primes, and something large enough for vector loops.
AWKWARD_SIZES = (1, 2, 3, 5, 7, 13, 31, 64, 67)
BATCHES = (1, 7, 129)


def random_array(shape: Sequence[int], dtype: DType, rng: np.random.Generator,
                 low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """Random values of ``dtype``: uniform floats in [low, high), ints in [-5, 5], random bools."""
    if dtype is DType.bool:
        return rng.random(shape) < 0.5
    if dtype.is_integer:
        lo = 0 if dtype is DType.uint8 else -5
        return rng.integers(lo, 6, size=shape).astype(dtype.numpy)
    return rng.uniform(low, high, size=shape).astype(dtype.numpy)


def check_compiled(graph: Graph, inputs: Sequence[np.ndarray], *, rtol: float = 1e-5,
                   atol: float = 1e-6, executable: Executable | None = None) -> list[np.ndarray]:
    """Compiles ``graph`` (unless given), runs both paths, asserts they agree; returns compiled outputs."""
    verify(graph)
    exe = executable or Executable(graph)
    want = interpret(graph, list(inputs))
    got = exe(*inputs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != reference {w.dtype}"
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != reference {w.shape}"
        if w.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")
    return got

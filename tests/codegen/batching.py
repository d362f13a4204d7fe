"""One compiled graph, several batch sizes, per-dtype tolerances.

``check_compiled`` (harness.py) compares one call against the interpreter
with one tolerance. The op tests here put several dtypes into one graph (to
compile once per parametrization) and call the same Executable at several
batch sizes, so they need the tolerance to follow each output's dtype.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ir import DType, Graph, SymDim, interpret, verify
from ir.shapes import Shape
from runtime.executable import Executable
from tests.codegen.harness import BATCHES

# (rtol, atol) per output dtype. float32 ops are correctly rounded or within a few ulp
# (libm and numpy's SIMD math differ by <= 4 ulp ~ 5e-7), so 1e-5 has room to spare.
# float16 is computed in float32 and rounded once, where numpy may round after each
# step of a formula (sigmoid, rsqrt): up to 2 float16 ulp (~2e-3).
TOLERANCES: dict[DType, tuple[float, float]] = {
    DType.float16: (2e-3, 1e-3),
    DType.float32: (1e-5, 1e-6),
    DType.float64: (1e-12, 1e-14),
}


def concrete(shape: Shape, n: int) -> tuple[int, ...]:
    """``shape`` with every symbolic dim (or None, the batch) set to ``n``."""
    return tuple(n if d is None or isinstance(d, SymDim) else int(d) for d in shape)


def full_range_ints(shape: Sequence[int], dtype: DType, rng: np.random.Generator) -> np.ndarray:
    """Integers over the whole range of ``dtype``, so wrap-around paths get exercised."""
    info = np.iinfo(dtype.numpy)
    return rng.integers(info.min, info.max, size=tuple(shape), endpoint=True, dtype=dtype.numpy)


def check_batches(graph: Graph, make_inputs: Callable[[int], Sequence[np.ndarray]], *,
                  batches: Sequence[int] = BATCHES,
                  tolerances: Mapping[DType, tuple[float, float]] | None = None) -> Executable:
    """Compiles ``graph`` once and checks it against the interpreter at every batch size.

    ``make_inputs(n)`` gives the inputs for batch ``n``. Outputs must match the
    reference in dtype and shape, floats within the tolerance of their dtype
    (NaN matching NaN, infinities matching in sign), everything else exactly.
    """
    verify(graph)
    tol = {**TOLERANCES, **(tolerances or {})}
    exe = Executable(graph)
    for n in batches:
        inputs = list(make_inputs(n))
        with np.errstate(all="ignore"):      # the references warn on x/0, log(-1), int % 0, ...
            want = interpret(graph, inputs)
        got = exe(*inputs)
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            what = f"batch {n}, output {i} (%{graph.outputs[i].name})"
            assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} != reference {w.dtype}"
            assert g.shape == w.shape, f"{what}: shape {g.shape} != reference {w.shape}"
            if w.dtype.kind == "f":
                rtol, atol = tol[DType.from_any(w.dtype)]
                np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)
            else:
                np.testing.assert_array_equal(g, w, err_msg=what)
    return exe

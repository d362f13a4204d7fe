"""Compiled POOL_GRAD and SCATTER_ADD (the adjoints autodiff adds) against the interpreter.

POOL_GRAD runs the pooling configurations of test_window.py, on values with
many ties (small integers, so the first-maximum rule is exercised) and on
values poisoned with NaN and infinities. SCATTER_ADD runs every numeric dtype
with repeated and out-of-range indices (integers wrap as numpy's add.at does).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from codegen.cpu.kernel import LoweringError
from ir import BATCH, DType, Graph, Op, TensorType
from ir.attrs import PoolAttrs, PoolKind, ScatterAddAttrs
from ir.registry import infer_types
from runtime.executable import Executable
from tests.codegen.batching import check_batches, concrete
from tests.codegen.test_movement import ALL_DTYPES, Builder
from tests.codegen.test_window import POOL_1D, POOL_2D, POOL_3D, PoolCase

F32, F64 = DType.float32, DType.float64


def _ties(shape: tuple[int, ...], dtype: DType, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-2, 3, size=shape).astype(dtype.numpy)


def _poisoned(shape: tuple[int, ...], dtype: DType, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(shape).astype(dtype.numpy)
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=max(1, flat.size // 10), replace=False)
    flat[picks[0::3]] = np.nan
    flat[picks[1::3]] = -np.inf
    flat[picks[2::3]] = np.inf
    return x


def _run_pool_grad(cases: Sequence[PoolCase], dtype: DType, fill, batches=(1, 7, 129)) -> None:
    g = Graph("pool_grads")
    outs, makers = [], []
    for i, c in enumerate(cases):
        x = g.add_input(TensorType(dtype, c.x), f"x{i}")
        makers.append((c.x, fill))
        for kind in c.kinds:
            attrs = c.attrs(kind)
            (y_type,) = infer_types(Op.POOL, (x.type,), attrs)    # only its type: no pool kernel
            dy = g.add_input(y_type, f"dy{i}{kind}")
            makers.append((y_type.shape, _normal))
            outs.append(g.add_node(Op.POOL_GRAD, [x, dy], attrs, name=f"{kind}grad{i}").output)
    g.set_outputs(outs)

    def inputs(n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(n)
        return [make(concrete(shape, n), dtype, rng) for shape, make in makers]

    # Overlapping windows add into one dx element in another order than the reference's
    # (window by window, against tap by tap): float32 rounding, no more.
    check_batches(g, inputs, batches=batches, tolerances={F32: (1e-5, 1e-5)})


def _normal(shape: tuple[int, ...], dtype: DType, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype.numpy)


@pytest.mark.parametrize("cases", [POOL_1D, POOL_2D, POOL_3D], ids=["1d", "2d", "3d"])
def test_pool_grad_float32_with_ties(cases: list[PoolCase]) -> None:
    _run_pool_grad(cases, F32, _ties)


def test_pool_grad_float64_with_nan_and_infinities() -> None:
    # A NaN is a window's maximum (the first NaN takes dy); -inf and inf are ordinary values.
    _run_pool_grad([c for c in POOL_2D if "pad" in c.label or "same" in c.label], F64, _poisoned,
                   batches=(1, 7))


def test_pool_grad_float16_is_refused_with_a_clear_error() -> None:
    g = Graph()
    x = g.add_input(TensorType(DType.float16, (BATCH, 4, 2)), "x")
    attrs = PoolAttrs(PoolKind.MAX, (2,), (2,), ((0, 0),))
    dy = g.add_input(g.add_node(Op.POOL, [x], attrs).output.type, "dy")
    g.set_outputs([g.add_node(Op.POOL_GRAD, [x, dy], attrs, name="pg").output])
    with pytest.raises(LoweringError, match=r"pg: no CPU pool_grad for float16.*cast to float32"):
        Executable(g)


def test_scatter_add_every_dtype_and_layout() -> None:
    b = Builder("scatter_add")
    for dt in ALL_DTYPES:
        if dt is DType.bool:
            continue
        b.add(Op.SCATTER_ADD, [b.data(dt, (None, 6, 3)), b.indices(DType.int32, (6,), 5)],
              ScatterAddAttrs(1, 5))
    # The embedding layout: ids (N, 7) into a (13, 4) table.
    b.add(Op.SCATTER_ADD, [b.data(F32, (None, 7, 4)), b.indices(DType.int32, (None, 7), 13)],
          ScatterAddAttrs(0, 13))
    b.add(Op.SCATTER_ADD, [b.data(F64, (None, 3)), b.indices(DType.int64, (), 3)], ScatterAddAttrs(1, 3))
    b.add(Op.SCATTER_ADD, [b.data(F32, (2, 3, None)), b.indices(DType.int64, (3,), 2)],
          ScatterAddAttrs(1, 2))
    b.add(Op.SCATTER_ADD, [b.data(F32, (None, 4)), b.indices(DType.int32, (4,), 1)], ScatterAddAttrs(1, 1))
    b.check()

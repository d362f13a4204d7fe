"""References of the adjoint ops autodiff adds: POOL_GRAD and SCATTER_ADD.

Each is checked against a loop written the slow, obvious way, against the
adjoint identity <op(a), b> = <a, adjoint(b)> with its forward op, and its
shape rule against bad operands.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ir import BATCH, DType, Graph, IRTypeError, Op, TensorType
from ir.attrs import GatherAttrs, PoolAttrs, PoolKind, ScatterAddAttrs
from ir.registry import evaluate, infer_types

F64 = DType.float64


def slow_pool_grad(x: np.ndarray, dy: np.ndarray, a: PoolAttrs) -> np.ndarray:
    """Window by window: the real taps in row-major order, max to the first np.argmax."""
    dx = np.zeros_like(x)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[-1])):
        for o in itertools.product(*(range(s) for s in dy.shape[1:-1])):
            taps = []
            for k in itertools.product(*(range(w) for w in a.window)):
                p = tuple(oi * s + ki - pad[0] for oi, s, ki, pad in zip(o, a.strides, k, a.padding))
                if all(0 <= pi < size for pi, size in zip(p, x.shape[1:-1])):
                    taps.append(p)
            g = dy[(n, *o, c)]
            if a.kind is PoolKind.MAX:
                values = [x[(n, *p, c)] for p in taps]
                dx[(n, *taps[int(np.argmax(values))], c)] += g
            else:
                for p in taps:
                    dx[(n, *p, c)] += g / len(taps)
    return dx


POOLS = [
    PoolAttrs(PoolKind.MAX, (3, 3), (2, 2), ((1, 1), (1, 1))),
    PoolAttrs(PoolKind.MAX, (2, 3), (1, 2), ((0, 1), (2, 0))),
    PoolAttrs(PoolKind.AVG, (3, 3), (2, 2), ((1, 1), (1, 1))),
    PoolAttrs(PoolKind.AVG, (2, 3), (1, 1), ((1, 0), (0, 2))),
]


@pytest.mark.parametrize("attrs", POOLS, ids=lambda a: f"{a.kind}{a.window}s{a.strides}p{a.padding}")
def test_pool_grad_matches_the_window_by_window_loop(attrs: PoolAttrs) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (2, 5, 6, 2)).astype(np.float64)       # many ties
    x[0, 1, 1, 0] = np.nan
    (y,) = evaluate(Op.POOL, (x,), attrs)
    dy = rng.standard_normal(y.shape)
    (dx,) = evaluate(Op.POOL_GRAD, (x, dy), attrs)
    np.testing.assert_allclose(dx, slow_pool_grad(x, dy, attrs), rtol=1e-12, atol=1e-12)


def test_avg_pool_grad_is_the_adjoint_of_avg_pool() -> None:
    rng = np.random.default_rng(1)
    attrs = POOLS[3]
    x = rng.standard_normal((3, 4, 7, 2))
    (y,) = evaluate(Op.POOL, (x,), attrs)
    dy = rng.standard_normal(y.shape)
    (dx,) = evaluate(Op.POOL_GRAD, (x, dy), attrs)
    np.testing.assert_allclose(np.sum(y * dy), np.sum(x * dx), rtol=1e-12)


def test_max_pool_grad_routes_each_window_to_its_maximum() -> None:
    x = np.array([1.0, 5.0, 5.0, 2.0, -np.inf, 7.0]).reshape(1, 6, 1)
    attrs = PoolAttrs(PoolKind.MAX, (3,), (1,), ((1, 1),))
    dy = np.arange(1.0, 7.0).reshape(1, 6, 1)
    (dx,) = evaluate(Op.POOL_GRAD, (x, dy), attrs)
    # Windows over positions (-1,0,1) (0,1,2) (1,2,3) (2,3,4) (3,4,5) (4,5,6): the tie of 5s
    # goes to position 1 while the window holds it, then to 2; 7 wins the last two.
    np.testing.assert_array_equal(dx.ravel(), [0, 1 + 2 + 3, 4, 0, 0, 5 + 6])


def test_scatter_add_matches_a_loop_and_is_the_adjoint_of_gather() -> None:
    rng = np.random.default_rng(2)
    idx = np.array([[3, -1, 3], [9, 0, 2]], np.int64)          # repeated and out of range
    upd = rng.standard_normal((2, 2, 3, 5))
    (out,) = evaluate(Op.SCATTER_ADD, (upd, idx), ScatterAddAttrs(1, 4))
    want = np.zeros((2, 4, 5))
    for i, j in itertools.product(range(2), range(3)):
        want[:, min(max(idx[i, j], 0), 3), :] += upd[:, i, j, :]
    np.testing.assert_allclose(out, want, rtol=1e-12)
    data = rng.standard_normal((2, 4, 5))
    (gathered,) = evaluate(Op.GATHER, (data, idx), GatherAttrs(1))
    np.testing.assert_allclose(np.sum(gathered * upd), np.sum(data * out), rtol=1e-12)


def test_scatter_add_shape_rule() -> None:
    t = lambda dt, *shape: TensorType(dt, shape)  # noqa: E731
    assert infer_types(Op.SCATTER_ADD, (t(F64, BATCH, 200, 32), t(DType.int32, BATCH, 200)),
                       ScatterAddAttrs(0, 10000)) == (t(F64, 10000, 32),)
    assert infer_types(Op.SCATTER_ADD, (t(F64, BATCH, 3), t(DType.int64)),
                       ScatterAddAttrs(1, 7)) == (t(F64, BATCH, 7, 3),)
    with pytest.raises(IRTypeError, match="indices must be int32 or int64, received float64"):
        infer_types(Op.SCATTER_ADD, (t(F64, 3), t(F64, 3)), ScatterAddAttrs(0, 4))
    with pytest.raises(IRTypeError, match=r"updates \[N,4\] must hold the indices' dims \[3\] from axis 1"):
        infer_types(Op.SCATTER_ADD, (t(F64, BATCH, 4), t(DType.int32, 3)), ScatterAddAttrs(1, 4))
    with pytest.raises(IRTypeError, match="size must be at least 1, received 0"):
        infer_types(Op.SCATTER_ADD, (t(F64, 3), t(DType.int32, 3)), ScatterAddAttrs(0, 0))
    with pytest.raises(IRTypeError, match="expects numeric updates, received bool"):
        infer_types(Op.SCATTER_ADD, (t(DType.bool, 3), t(DType.int32, 3)), ScatterAddAttrs(0, 2))


def test_pool_grad_shape_rule() -> None:
    g = Graph()
    x = g.add_input(TensorType(F64, (BATCH, 5, 5, 2)), "x")
    attrs = POOLS[0]
    y = g.add_node(Op.POOL, [x], attrs).output
    assert g.add_node(Op.POOL_GRAD, [x, y], attrs).output.type == x.type
    wrong = g.add_input(TensorType(F64, (BATCH, 2, 3, 2)), "wrong")
    with pytest.raises(IRTypeError, match=r"dy must have the pool's output type f64\[N,3,3,2\], "
                                          r"received f64\[N,2,3,2\]"):
        g.add_node(Op.POOL_GRAD, [x, wrong], attrs)

"""Compiled data movement against the reference interpreter.

Movement copies bytes, so each op runs on every dtype (one case each) plus a
set of float32 cases for the shapes that stress its index math: size-1 axes,
primes, the symbolic batch, negative steps, clamped indices.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType
from ir.attrs import (BroadcastAttrs, ConcatAttrs, GatherAttrs, PadAttrs, SliceAttrs,
                      TransposeAttrs)
from tests.codegen.batching import check_batches, concrete, full_range_ints

F16, F32 = DType.float16, DType.float32


def _fill(shape: tuple[int, ...], dtype: DType, rng: np.random.Generator) -> np.ndarray:
    if dtype is DType.bool:
        return rng.random(shape) < 0.5
    if dtype.is_integer:
        return full_range_ints(shape, dtype, rng)
    x = rng.standard_normal(shape).astype(dtype.numpy)
    if x.size:
        x.flat[0] = np.nan           # bytes are copied, not values: NaN must survive
    return x


class Builder:
    """Collects cases ``op(inputs...)`` into one graph and makes inputs for a batch size."""

    def __init__(self, name: str):
        self.g = Graph(name)
        self.outs: list = []
        self.makers: list[Callable[[int, np.random.Generator], np.ndarray]] = []

    def data(self, dtype: DType, shape: tuple):
        self.makers.append(lambda n, rng: _fill(concrete(shape, n), dtype, rng))
        return self.g.add_input(TensorType(dtype, shape), "x")

    def indices(self, dtype: DType, shape: tuple, n_axis: int):
        # Out-of-range on both sides, so the clamp is exercised.
        self.makers.append(lambda n, rng: rng.integers(-3, n_axis + 3, size=concrete(shape, n))
                           .astype(dtype.numpy))
        return self.g.add_input(TensorType(dtype, shape), "idx")

    def add(self, op: Op, inputs: Sequence, attrs: Any) -> None:
        self.outs.append(self.g.add_node(op, list(inputs), attrs).output)

    def check(self, **kwargs) -> None:
        self.g.set_outputs(self.outs)

        def make(n: int) -> list[np.ndarray]:
            rng = np.random.default_rng(n)
            return [m(n, rng) for m in self.makers]

        check_batches(self.g, make, **kwargs)


ALL_DTYPES = list(DType)


def test_transpose() -> None:
    """Also rank 0 (with a rank-0 slice and broadcast_to: movement on scalars is a no-op copy)."""
    b = Builder("transpose")
    for dt in ALL_DTYPES:
        b.add(Op.TRANSPOSE, [b.data(dt, (None, 3, 5))], TransposeAttrs((2, 0, 1)))
    b.add(Op.TRANSPOSE, [b.data(F32, (None, 13))], TransposeAttrs((1, 0)))
    b.add(Op.TRANSPOSE, [b.data(F32, (None, 3, 5))], TransposeAttrs((0, 2, 1)))
    b.add(Op.TRANSPOSE, [b.data(F32, (3, 1, 5, 2))], TransposeAttrs((3, 1, 0, 2)))
    b.add(Op.TRANSPOSE, [b.data(F32, (2, 3, 7))], TransposeAttrs((0, 1, 2)))
    b.add(Op.TRANSPOSE, [b.data(F32, (67, 64))], TransposeAttrs((1, 0)))
    b.add(Op.TRANSPOSE, [b.data(F32, ())], TransposeAttrs(()))
    b.add(Op.SLICE, [b.data(F32, ())], SliceAttrs((), (), ()))
    b.add(Op.BROADCAST_TO, [b.data(F32, ())], BroadcastAttrs(()))
    b.check()


def test_broadcast_to() -> None:
    b = Builder("broadcast_to")
    for dt in ALL_DTYPES:
        b.add(Op.BROADCAST_TO, [b.data(dt, (1, 7))], BroadcastAttrs((None, 7)))
    b.add(Op.BROADCAST_TO, [b.data(F32, (7,))], BroadcastAttrs((None, 3, 7)))
    b.add(Op.BROADCAST_TO, [b.data(F32, ())], BroadcastAttrs((None, 5)))
    b.add(Op.BROADCAST_TO, [b.data(F32, (None, 1))], BroadcastAttrs((None, 13)))
    b.add(Op.BROADCAST_TO, [b.data(F32, (3, 1, 5))], BroadcastAttrs((2, 3, 4, 5)))
    b.add(Op.BROADCAST_TO, [b.data(F32, (1,))], BroadcastAttrs((1,)))
    b.add(Op.BROADCAST_TO, [b.data(F32, (None, 1, 3))], BroadcastAttrs((2, None, 5, 3)))
    b.check()


def _slice(shape: tuple, *slices: slice) -> SliceAttrs:
    """Normalized attrs as the frontend stores them (slice.indices applied, stop -1 -> None)."""
    starts, stops, steps = [], [], []
    for d, s in zip(shape, slices):
        if d is None:
            starts.append(0), stops.append(None), steps.append(1)
            continue
        start, stop, step = s.indices(d)
        starts.append(start)
        stops.append(None if step < 0 and stop == -1 else stop)
        steps.append(step)
    return SliceAttrs(tuple(starts), tuple(stops), tuple(steps))


ALL = slice(None)


def test_slice() -> None:
    b = Builder("slice")
    for dt in ALL_DTYPES:
        b.add(Op.SLICE, [b.data(dt, (None, 13))], _slice((None, 13), ALL, slice(2, 11, 3)))
    cases = [
        ((None, 3, 5), (ALL, slice(None, None, -1), slice(4, 0, -2))),
        ((None, 3, 5), (ALL, slice(1, 2), slice(None, None, 5))),
        ((7, 13), (slice(6, None, -1), slice(-1, -14, -1))),       # reversed whole axes
        ((7, 13), (slice(1, 6, 4), slice(12, 2, -3))),
        ((67,), (slice(5, 60, 7),)),
        ((5, 7), (slice(3, 3), ALL)),                               # empty result
        ((2, 1, 3), (ALL, ALL, ALL)),
    ]
    for shape, slices in cases:
        b.add(Op.SLICE, [b.data(F32, shape)], _slice(shape, *slices))
    b.check()


def test_concat() -> None:
    b = Builder("concat")
    for dt in ALL_DTYPES:
        b.add(Op.CONCAT, [b.data(dt, (None, 3)), b.data(dt, (None, 4))], ConcatAttrs(1))
    b.add(Op.CONCAT, [b.data(F32, (2, 5)), b.data(F32, (1, 5)), b.data(F32, (3, 5))], ConcatAttrs(0))
    b.add(Op.CONCAT, [b.data(F32, (None, 3, 1)), b.data(F32, (None, 3, 7))], ConcatAttrs(2))
    b.add(Op.CONCAT, [b.data(F32, (None, 2, 5)), b.data(F32, (None, 1, 5)),
                      b.data(F32, (None, 13, 5))], ConcatAttrs(1))
    b.add(Op.CONCAT, [b.data(F32, (13,))], ConcatAttrs(0))
    x = b.data(F32, (None, 3))
    b.add(Op.CONCAT, [x, x], ConcatAttrs(1))
    b.check()


def test_pad() -> None:
    b = Builder("pad")
    for dt in ALL_DTYPES:
        b.add(Op.PAD, [b.data(dt, (None, 3, 5))], PadAttrs(((0, 0), (1, 2), (0, 3)), 1.0))
    b.add(Op.PAD, [b.data(F32, (None, 7))], PadAttrs(((0, 0), (3, 0)), -2.5))
    b.add(Op.PAD, [b.data(F32, (2, 1, 3))], PadAttrs(((1, 1), (0, 0), (2, 2)), 0.0))
    b.add(Op.PAD, [b.data(F32, (5,))], PadAttrs(((0, 0),), 9.0))
    b.add(Op.PAD, [b.data(F16, (13,))], PadAttrs(((2, 1),), 0.1))
    b.add(Op.PAD, [b.data(DType.int32, (3, 2))], PadAttrs(((1, 0), (0, 1)), -7.9))   # truncates
    b.add(Op.PAD, [b.data(DType.uint8, (3,))], PadAttrs(((1, 1),), 255.0))
    b.check()


def test_gather() -> None:
    b = Builder("gather")
    for dt in ALL_DTYPES:
        b.add(Op.GATHER, [b.data(dt, (13, 7)), b.indices(DType.int32, (None, 3), 13)], GatherAttrs(0))
    b.add(Op.GATHER, [b.data(F32, (None, 13)), b.indices(DType.int64, (5,), 13)], GatherAttrs(1))
    b.add(Op.GATHER, [b.data(F32, (None, 3, 5)), b.indices(DType.int32, (), 3)], GatherAttrs(1))
    b.add(Op.GATHER, [b.data(F32, (2, 3, 5)), b.indices(DType.int64, (None, 2), 5)], GatherAttrs(2))
    b.add(Op.GATHER, [b.data(F32, (1,)), b.indices(DType.int32, (4,), 1)], GatherAttrs(0))
    b.add(Op.GATHER, [b.data(DType.int64, (67,)), b.indices(DType.int64, (2, 2), 67)], GatherAttrs(0))
    b.check()


@pytest.mark.parametrize("value", [np.int32(np.iinfo(np.int32).max), np.int32(np.iinfo(np.int32).min)],
                         ids=["max", "min"])
def test_gather_extreme_indices(value: np.int32) -> None:
    """Indices far outside the axis clamp to its ends (no wrap-around, no out-of-bounds read)."""
    g = Graph()
    data = g.add_input(TensorType(F32, (5, 2)), "data")
    idx = g.add_input(TensorType(DType.int32, (None,)), "idx")
    g.set_outputs([g.add_node(Op.GATHER, [data, idx], GatherAttrs(0)).output])
    d = np.arange(10, dtype=np.float32).reshape(5, 2)
    check_batches(g, lambda n: [d, np.full(n, value, np.int32)], batches=(1, 3))

"""Compiled reductions and arg-reductions against the reference interpreter.

The axis sets cover both loop shapes of the emitter (innermost axis reduced:
vector accumulators down the run; innermost axis kept: register strips of
adjacent outputs), their masked tails, reductions over the symbolic batch axis
(mean divides by the run-time size), keepdims, static size-1 axes and
everything-at-once; argmax/argmin keep the scalar loops (stack tiles).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType
from ir.attrs import ArgReduceAttrs, ReduceAttrs
from runtime.executable import Executable
from tests.codegen.batching import check_batches, concrete, full_range_ints

F16, F32, F64 = DType.float16, DType.float32, DType.float64
I8, U8, I32, I64 = DType.int8, DType.uint8, DType.int32, DType.int64

SHAPE = (None, 3, 1, 5, 7)
AXES = [(4,), (0,), (1, 3), (0, 4), (3, 4), (1, 2), (0, 1, 2, 3, 4), ()]


def _inputs(dtype: DType, shapes: list[tuple]):
    def make(n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(n)
        out = []
        for s in shapes:
            s = concrete(s, n)
            if dtype.is_floating:
                out.append(rng.uniform(-2.0, 2.0, s).astype(dtype.numpy))
            elif dtype in (I8, U8):
                out.append(full_range_ints(s, dtype, rng))    # sums wrap, as numpy's cast back
            else:
                out.append(rng.integers(-50, 51, size=s).astype(dtype.numpy))
        return out
    return make


REDUCE_CASES = [(op, dt) for op in (Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_MEAN)
                for dt in (F32, F64, I32, U8) if dt.is_floating or op is not Op.REDUCE_MEAN]


@pytest.mark.parametrize("op,dtype", REDUCE_CASES, ids=lambda v: str(v))
def test_reduce(op: Op, dtype: DType) -> None:
    g = Graph(f"{op}_{dtype}")
    x = g.add_input(TensorType(dtype, SHAPE), "x")
    v = g.add_input(TensorType(dtype, (67,)), "v")
    outs = [g.add_node(op, [x], ReduceAttrs(axes, keepdims=k % 2 == 1)).output
            for k, axes in enumerate(AXES)]
    outs.append(g.add_node(op, [v], ReduceAttrs((0,))).output)
    g.set_outputs(outs)
    # float32: the compiled sums accumulate in float64; numpy's pairwise/sequential float32
    # sums of up to 129*35 terms of size ~2 are off by ~1e-5 in absolute terms.
    check_batches(g, _inputs(dtype, [SHAPE, (67,)]), tolerances={F32: (1e-5, 2e-5)})


@pytest.mark.parametrize("op", [Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_MEAN], ids=str)
def test_reduce_float16(op: Op) -> None:
    """Along the contiguous axis, where numpy's float16 sum accumulates in float32 too.

    (Across a leading axis numpy adds float16 rows in float16, which drifts far from
    the true sum; the compiled sum is the more accurate one there.)
    """
    g = Graph()
    x = g.add_input(TensorType(F16, (None, 13)), "x")
    g.set_outputs([g.add_node(op, [x], ReduceAttrs((1,))).output,
                   g.add_node(op, [x], ReduceAttrs((0, 1), keepdims=True)).output
                   if op in (Op.REDUCE_MAX, Op.REDUCE_MIN) else
                   g.add_node(op, [x], ReduceAttrs((1,), keepdims=True)).output])
    check_batches(g, _inputs(F16, [(None, 13)]))


def test_reduce_tiles() -> None:
    """A kept innermost run longer than one tile (300 > 256), static and symbolic."""
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 300)), "x")
    y = g.add_input(TensorType(F32, (5, None)), "y")
    outs = [g.add_node(op, [x], ReduceAttrs((0,))).output
            for op in (Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MEAN)]
    outs += [g.add_node(op, [y], ReduceAttrs((0,))).output for op in (Op.REDUCE_SUM, Op.REDUCE_MIN)]
    outs.append(g.add_node(Op.ARGMAX, [y], ArgReduceAttrs(0)).output)
    g.set_outputs(outs)
    # numpy adds the 300 rows one by one in float32 (error ~ sqrt(300) * eps * |partial sum|,
    # a few 1e-6); the compiled float64 accumulation is the exact sum rounded once.
    check_batches(g, _inputs(F32, [(None, 300), (5, None)]), batches=(1, 7, 300),
                  tolerances={F32: (1e-5, 3e-5)})


@pytest.mark.parametrize("op", [Op.ARGMAX, Op.ARGMIN], ids=str)
def test_arg_reduce(op: Op) -> None:
    g = Graph(str(op))
    cases = [(F32, SHAPE, a, a % 2 == 1) for a in (0, 1, 2, 4)] + [
        (I8, (None, 13), 1, False),       # few distinct values: ties, first index must win
        (I8, (None, 13), 0, True),
        (U8, (7, 67), 0, False),
        (I64, (None, 2, 3), 2, False),
        (F64, (None, 5), 1, True),
    ]
    shapes, outs = [], []
    for dtype, shape, axis, keep in cases:
        x = g.add_input(TensorType(dtype, shape), "x")
        outs.append(g.add_node(op, [x], ArgReduceAttrs(axis, keepdims=keep)).output)
        shapes.append((dtype, shape))
    g.set_outputs(outs)

    def make(n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(n)
        return [rng.integers(-3, 4, size=concrete(s, n)).astype(d.numpy) if not d.is_floating
                else rng.uniform(-2, 2, concrete(s, n)).astype(d.numpy) for d, s in shapes]

    check_batches(g, make)


def test_nan_and_infinities() -> None:
    """max/min propagate NaN, argmax/argmin point at the first NaN, infinities win otherwise."""
    rows = np.array([
        [1.0, np.nan, 3.0, np.nan],
        [np.nan, 1.0, 2.0, 0.0],
        [-np.inf, -np.inf, -np.inf, -np.inf],
        [np.inf, 1.0, np.inf, -np.inf],
        [2.0, 2.0, -1.0, -1.0],
        [0.0, -0.0, 0.0, -0.0],
    ], np.float32)
    g = Graph()
    x = g.add_input(TensorType(F32, (6, 4)), "x")
    xt = g.add_input(TensorType(F32, (4, 6)), "xt")
    ops = (Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_SUM)
    outs = [g.add_node(op, [x], ReduceAttrs((1,))).output for op in ops]        # scalar path
    outs += [g.add_node(op, [xt], ReduceAttrs((0,))).output for op in ops]      # tile path
    outs += [g.add_node(op, [v], ArgReduceAttrs(ax)).output
             for op in (Op.ARGMAX, Op.ARGMIN) for v, ax in ((x, 1), (xt, 0))]
    g.set_outputs(outs)
    exe = check_batches(g, lambda n: [rows, np.ascontiguousarray(rows.T)], batches=(1,))
    mx, mn, _, mxt, mnt, _, amax, amaxt, amin, amint = exe(rows, np.ascontiguousarray(rows.T))
    for got in (mx, mxt):
        np.testing.assert_array_equal(got, [np.nan, np.nan, -np.inf, np.inf, 2.0, 0.0])
    for got in (mn, mnt):
        np.testing.assert_array_equal(got, [np.nan, np.nan, -np.inf, -np.inf, -1.0, 0.0])
    for got in (amax, amaxt):
        np.testing.assert_array_equal(got, [1, 0, 0, 0, 0, 0])
    for got in (amin, amint):
        np.testing.assert_array_equal(got, [1, 0, 0, 3, 2, 0])


@pytest.mark.parametrize("axis", [0, 1], ids=["leading", "last"])
def test_float32_sum_accuracy(axis: int) -> None:
    """10^4 float32 terms: within rtol 1e-5 of numpy and ~correctly rounded vs the exact sum."""
    g = Graph()
    shape = (None, 10007) if axis == 1 else (10007, None)
    x = g.add_input(TensorType(F32, shape), "x")
    g.set_outputs([g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((axis,))).output,
                   g.add_node(Op.REDUCE_MEAN, [x], ReduceAttrs((axis,))).output])
    exe = check_batches(g, lambda n: [np.random.default_rng(n).uniform(0, 2, concrete(shape, n))
                                      .astype(np.float32)], batches=(1, 3))
    a = np.random.default_rng(5).uniform(-2, 2, concrete(shape, 3)).astype(np.float32)
    total, _ = exe(a)
    exact = [math.fsum(r) for r in (a if axis == 1 else a.T).astype(np.float64)]
    # Accumulated in float64: the only error left is the final rounding to float32.
    np.testing.assert_allclose(total, exact, rtol=2**-23, atol=1e-12)


def test_reduction_loops_vectorize() -> None:
    """Both loop shapes put a contiguous loop innermost, which LLVM vectorizes."""
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 1000)), "x")
    g.set_outputs([g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((1,))).output])
    assert re.search(r"<\d+ x (float|double)>", Executable(g).library.optimized_ir)
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 1000)), "x")
    g.set_outputs([g.add_node(Op.REDUCE_MAX, [x], ReduceAttrs((0,))).output])
    assert re.search(r"<\d+ x float>", Executable(g).library.optimized_ir)


# --------------------------------------------------------------------------------------------
# the vector loops: long runs (several vectors, unrolled strips, tails), chunked columns, threads

VECTOR_SHAPE = (None, 37, 131)
VECTOR_AXES = [(2,), (0,), (1,), (0, 2), (0, 1), (1, 2)]


@pytest.mark.parametrize("dtype", [F32, F64, F16, I32, U8, I8, I64], ids=str)
def test_reduce_vector_paths(dtype: DType) -> None:
    """Runs longer than UNROLL vectors in both loop shapes, with vector and scalar tails."""
    g = Graph(f"vec_{dtype}")
    x = g.add_input(TensorType(dtype, VECTOR_SHAPE), "x")
    wide = g.add_input(TensorType(dtype, (3, 2100)), "wide")        # kept run in 3 column chunks
    ops = [Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN] + ([Op.REDUCE_MEAN] if dtype.is_floating else [])
    outs = [g.add_node(op, [x], ReduceAttrs(axes)).output for op in ops for axes in VECTOR_AXES]
    outs += [g.add_node(op, [wide], ReduceAttrs((0,))).output for op in ops]
    g.set_outputs(outs)
    # float16 sums over a leading axis: numpy adds float16 rows in float16 (see
    # test_reduce_float16); the compiled sum rounds once, so compare at float16's own scale.
    check_batches(g, _inputs(dtype, [VECTOR_SHAPE, (3, 2100)]), batches=(1, 5),
                  tolerances={F32: (1e-5, 2e-5), F16: (2e-2, 0.25)})


def test_nan_in_vector_lanes() -> None:
    """NaN anywhere in a long run (any lane of any accumulator, or the tail) wins max and min."""
    rng = np.random.default_rng(0)
    n, k = 40, 203
    a = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    for r in range(n):                       # one special per row, at every kind of position
        a[r, (r * 37) % k] = [np.nan, np.inf, -np.inf][r % 3]
    g = Graph()
    x = g.add_input(TensorType(F32, (n, k)), "x")
    xt = g.add_input(TensorType(F32, (k, n)), "xt")
    ops = (Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_SUM)
    g.set_outputs([g.add_node(op, [x], ReduceAttrs((1,))).output for op in ops]
                  + [g.add_node(op, [xt], ReduceAttrs((0,))).output for op in ops])
    at = np.ascontiguousarray(a.T)
    exe = check_batches(g, lambda _: [a, at], batches=(1,))
    with np.errstate(invalid="ignore"):
        want = [a.max(1), a.min(1), a.sum(1, dtype=np.float64).astype(np.float32)]
    got = exe(a, at)
    for i, w in enumerate(want * 2):
        np.testing.assert_array_equal(np.isnan(got[i]), np.isnan(w))
        np.testing.assert_array_equal(np.isinf(got[i]) * np.sign(got[i]), np.isinf(w) * np.sign(w))


def test_threads_give_identical_results() -> None:
    """Each output is folded by one thread in one order: 1 and 2 threads agree bit for bit."""
    from codegen.cpu.parallel import uses_threads
    from runtime import threads
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 50, 400)), "x")          # above THREADS_FROM
    flat = g.add_input(TensorType(F32, (None, 20000)), "flat")
    tall = g.add_input(TensorType(F32, (20000, None)), "tall")     # chunks of a run-time width
    g.set_outputs([g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((2,))).output,
                   g.add_node(Op.REDUCE_MEAN, [x], ReduceAttrs((1,))).output,
                   g.add_node(Op.REDUCE_MAX, [flat], ReduceAttrs((0,))).output,   # column chunks
                   g.add_node(Op.REDUCE_SUM, [flat], ReduceAttrs((0,))).output,
                   g.add_node(Op.REDUCE_SUM, [tall], ReduceAttrs((0,))).output])
    exe = Executable(g)
    assert uses_threads(exe.module.llvm_ir)
    rng = np.random.default_rng(1)
    args = [rng.uniform(-2, 2, (64, 50, 400)).astype(np.float32),
            rng.uniform(-2, 2, (64, 20000)).astype(np.float32),
            rng.uniform(-2, 2, (20000, 64)).astype(np.float32)]
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        one = exe(*args)
        threads.set_num_threads(2)
        two = exe(*args)
    finally:
        threads.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(one[0], args[0].sum(2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one[1], args[0].mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(one[2], args[1].max(0))
    np.testing.assert_allclose(one[3], args[1].sum(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(one[4], args[2].astype(np.float64).sum(0), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("dtype", [F32, F64, I32], ids=str)
def test_reduce_symbolic_innermost_run(dtype: DType) -> None:
    """The run-time-length loops: unrolled vectors, single vectors, masked tail, in both shapes."""
    g = Graph(f"sym_{dtype}")
    x = g.add_input(TensorType(dtype, (3, None)), "x")
    ops = [Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN] + ([Op.REDUCE_MEAN] if dtype.is_floating else [])
    g.set_outputs([g.add_node(op, [x], ReduceAttrs(axes)).output for op in ops for axes in ((1,), (0,))])
    check_batches(g, _inputs(dtype, [(3, None)]), batches=(1, 17, 300))

"""Op semantics where the reference is more than one numpy call: each case is
worked out by hand (or by a loop written the slow, obvious way)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType, interpret
from ir.attrs import ArgReduceAttrs, CastAttrs, ConvAttrs, GatherAttrs, PoolAttrs, PoolKind, SliceAttrs


def run(op: Op, arrays: list[np.ndarray], attrs=None) -> np.ndarray:
    """One node applied to ``arrays`` through the interpreter (which checks the inferred type)."""
    g = Graph()
    ins = [g.add_input(TensorType(DType.from_any(a.dtype), a.shape), f"in{i}") for i, a in enumerate(arrays)]
    g.set_outputs([g.add_node(op, ins, attrs).output])
    return interpret(g, arrays)[0]


# -- conv with lhs_dilation is a transposed convolution -------------------
def transposed_conv(x: np.ndarray, w: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    """Scatter form, no cropping: y[i*s + k, o] += x[i, c] * w[k, c, o] for every position."""
    b, *sp, cin = x.shape
    *win, _, cout = w.shape
    out_sp = [(n - 1) * s + k for n, s, k in zip(sp, strides, win)]
    y = np.zeros([b, *out_sp, cout], np.float64)
    for i in itertools.product(*(range(n) for n in sp)):
        for k in itertools.product(*(range(n) for n in win)):
            at = tuple(ii * s + kk for ii, s, kk in zip(i, strides, k))
            y[(slice(None), *at)] += x[(slice(None), *i)] @ w[k]
    return y


def test_conv_lhs_dilation_1d_by_hand():
    x = np.array([1, 2, 3], np.float32).reshape(1, 3, 1)
    w = np.array([1, 10, 100], np.float32).reshape(3, 1, 1)
    # Transposed conv with stride 2: [1,10,100] + [2,20,200] shifted by 2 + [3,30,300] by 4.
    expected = [1, 10, 102, 20, 203, 30, 300]
    assert transposed_conv(x, w, (2,)).ravel().tolist() == expected
    # The same as a conv over the input with 1 zero between elements, padded by K-1,
    # with the kernel flipped.
    attrs = ConvAttrs(strides=(1,), padding=((2, 2),), dilation=(1,), lhs_dilation=(2,))
    y = run(Op.CONV, [x, w[::-1].copy()], attrs)
    assert y.shape == (1, 7, 1)
    assert y.ravel().tolist() == expected


def test_conv_lhs_dilation_2d_channels_against_scatter():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 3))
    w = rng.standard_normal((2, 3, 3, 5))
    strides = (2, 3)
    pads = tuple((k - 1, k - 1) for k in w.shape[:2])
    attrs = ConvAttrs(strides=(1, 1), padding=pads, dilation=(1, 1), lhs_dilation=strides)
    y = run(Op.CONV, [x, w[::-1, ::-1].copy()], attrs)
    np.testing.assert_allclose(y, transposed_conv(x, w, strides), rtol=1e-12, atol=1e-12)


def test_conv_groups_and_dilation_by_hand():
    # Two groups of one channel each, kernel dilation 2: out[j, g] = x[j, g]*w0 + x[j+2, g]*w1.
    x = np.array([[1, 10], [2, 20], [3, 30], [4, 40]], np.float32).reshape(1, 4, 2)
    w = np.array([[1, 100], [2, 200]], np.float32).reshape(2, 1, 2)
    attrs = ConvAttrs(strides=(1,), padding=((0, 0),), dilation=(2,), lhs_dilation=(1,), groups=2)
    y = run(Op.CONV, [x, w], attrs)
    assert y.reshape(2, 2).tolist() == [[1 + 3 * 2, 10 * 100 + 30 * 200],
                                        [2 + 4 * 2, 20 * 100 + 40 * 200]]


# -- pooling --------------------------------------------------------------
def test_avg_pool_does_not_count_padding():
    x = np.array([1, 2, 3, 4], np.float32).reshape(1, 4, 1)
    attrs = PoolAttrs(PoolKind.AVG, window=(3,), strides=(1,), padding=((1, 1),))
    # Edges average the two real elements, not three with a zero.
    assert run(Op.POOL, [x], attrs).ravel().tolist() == [1.5, 2.0, 3.0, 3.5]


def test_avg_pool_2d_corner_counts():
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)      # [[1,2],[3,4]]
    attrs = PoolAttrs(PoolKind.AVG, window=(2, 2), strides=(1, 1), padding=((1, 0), (1, 0)))
    # Windows: {1}, {1,2}, {1,3}, {1,2,3,4}.
    assert run(Op.POOL, [x], attrs).reshape(2, 2).tolist() == [[1.0, 1.5], [2.0, 2.5]]


def test_max_pool_padding_never_wins():
    x = np.array([-3, -1, -2], np.float32).reshape(1, 3, 1)
    attrs = PoolAttrs(PoolKind.MAX, window=(2,), strides=(2,), padding=((1, 1),))
    # Windows over [pad, -3 | -1, -2 | pad]: a zero pad would wrongly win both edges.
    assert run(Op.POOL, [x], attrs).ravel().tolist() == [-3.0, -1.0]


# -- gather ---------------------------------------------------------------
def test_gather_clamps_out_of_range_indices():
    data = np.array([[10, 11], [20, 21], [30, 31]], np.float32)
    idx = np.array([-1, 0, 2, 3, 100], np.int32)
    out = run(Op.GATHER, [data, idx], GatherAttrs(axis=0))
    assert out[:, 0].tolist() == [10, 10, 30, 30, 30]         # -1 is clamped, not wrapped
    out = run(Op.GATHER, [data, np.array([[5], [-7]], np.int64)], GatherAttrs(axis=1))
    assert out.shape == (3, 2, 1)
    assert out[:, :, 0].tolist() == [[11, 10], [21, 20], [31, 30]]


# -- cast -----------------------------------------------------------------
def test_cast_float_to_int_saturates():
    x = np.array([1e10, -1e10, np.nan, 2.7, -2.7, np.inf, -np.inf, 2.0**31], np.float32)
    i32 = np.iinfo(np.int32)
    out = run(Op.CAST, [x], CastAttrs(DType.int32))
    assert out.dtype == np.int32
    assert out.tolist() == [i32.max, i32.min, 0, 2, -2, i32.max, i32.min, i32.max]


@pytest.mark.parametrize("dtype, values, expected", [
    (DType.uint8, [-1.0, 300.0, 255.9, 0.5], [0, 255, 255, 0]),
    (DType.int8, [-128.9, 127.9, -1000.0, 1000.0], [-128, 127, -128, 127]),
    (DType.int64, [2.0**63, -(2.0**63), 1e300], [2**63 - 1, -(2**63), 2**63 - 1]),
])
def test_cast_saturates_at_each_integer_width(dtype, values, expected):
    x = np.array(values, np.float64)
    assert run(Op.CAST, [x], CastAttrs(dtype)).tolist() == expected


def test_cast_int_to_narrower_int_wraps_and_to_bool_tests_nonzero():
    # Only float -> int saturates; int -> int keeps the low bits, as numpy and C do.
    assert run(Op.CAST, [np.array([300, -129], np.int32)], CastAttrs(DType.int8)).tolist() == [44, 127]
    assert run(Op.CAST, [np.array([0.0, 0.5, -2.0], np.float32)],
               CastAttrs(DType.bool)).tolist() == [False, True, True]


# -- slice ----------------------------------------------------------------
@pytest.mark.parametrize("start, stop, step, expected", [
    (5, None, -1, [5, 4, 3, 2, 1, 0]),        # stop None with a negative step runs past index 0
    (5, None, -2, [5, 3, 1]),
    (4, 0, -1, [4, 3, 2, 1]),                 # the stop is excluded
    (4, 1, -3, [4]),
    (0, 6, 4, [0, 4]),
    (3, 3, -1, []),
])
def test_slice_with_steps(start, stop, step, expected):
    x = np.arange(6, dtype=np.int32)
    out = run(Op.SLICE, [x], SliceAttrs((start,), (stop,), (step,)))
    assert out.tolist() == expected


def test_slice_negative_step_on_one_axis_of_two():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = run(Op.SLICE, [x], SliceAttrs(starts=(2, 0), stops=(None, 4), steps=(-1, 2)))
    assert out.tolist() == [[8, 10], [4, 6], [0, 2]]


# -- arg-reductions -------------------------------------------------------
def test_argmax_and_argmin_ties_take_the_first_index():
    x = np.array([[1, 3, 3, 2], [7, 7, 7, 7]], np.float32)
    assert run(Op.ARGMAX, [x], ArgReduceAttrs(axis=1)).tolist() == [1, 0]
    assert run(Op.ARGMIN, [x], ArgReduceAttrs(axis=1)).tolist() == [0, 0]
    y = np.array([[2, 1], [1, 1], [1, 5]], np.int32)
    assert run(Op.ARGMIN, [y], ArgReduceAttrs(axis=0)).tolist() == [1, 0]
    out = run(Op.ARGMAX, [y], ArgReduceAttrs(axis=0, keepdims=True))
    assert out.dtype == np.int32 and out.tolist() == [[0, 2]]

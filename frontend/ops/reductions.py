"""Reductions: ``sum``, ``mean``, ``max``, ``min``, ``argmax``, ``argmin``,
``var``, ``std``, ``all``, ``any``, ``logsumexp``, ``count_nonzero``.

Axes reach the IR sorted, unique and non-negative (ReduceAttrs' contract).
Dtypes as Keras: ``sum`` of bools and small ints is int32, ``mean``/``var``
of ints is floatx, ``max`` of bools stays bool.
"""
from __future__ import annotations

from typing import Sequence

from frontend.ops import core
from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.util import dtype, ir_shape, normalize_axes, normalize_axis, tensor, to_float
from ir.attrs import ArgReduceAttrs, ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std", "all",
           "any", "logsumexp", "count_nonzero"]

Axis = int | Sequence[int] | None


def reduce(op: Op, x: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    """Emits ``op`` over ``axis``; no axes to reduce leaves ``x`` as it is (numpy's ``axis=()``)."""
    axes = normalize_axes(axis, len(ir_shape(x)))
    if not axes:
        return x
    return apply(op, [x], ReduceAttrs(axes, bool(keepdims)))


@symbolic
def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = tensor(x)
    dt = dtype(x)
    if dt is DType.bool or (dt.is_integer and dt.itemsize < 4):
        x = core.cast(x, DType.int32)
    return reduce(Op.REDUCE_SUM, x, axis, keepdims)


@symbolic
def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return reduce(Op.REDUCE_MEAN, to_float(x), axis, keepdims)


def _extreme(op: Op, x: Tensor, axis: Axis, keepdims: bool, initial) -> Tensor:
    x = tensor(x)
    is_bool = dtype(x) is DType.bool
    if is_bool:
        x = core.cast(x, DType.int32)
    y = reduce(op, x, axis, keepdims)
    if initial is not None:
        (y, init), _ = prepare(y, initial, dtype=dtype(y))
        y = apply(Op.MAXIMUM if op is Op.REDUCE_MAX else Op.MINIMUM, [y, init])
    return core.cast(y, DType.bool) if is_bool else y


@symbolic
def max(x: Tensor, axis: Axis = None, keepdims: bool = False, initial=None) -> Tensor:  # noqa: A001
    return _extreme(Op.REDUCE_MAX, x, axis, keepdims, initial)


@symbolic
def min(x: Tensor, axis: Axis = None, keepdims: bool = False, initial=None) -> Tensor:  # noqa: A001
    return _extreme(Op.REDUCE_MIN, x, axis, keepdims, initial)


@symbolic
def amax(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _extreme(Op.REDUCE_MAX, x, axis, keepdims, None)


@symbolic
def amin(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _extreme(Op.REDUCE_MIN, x, axis, keepdims, None)


def _arg(op: Op, x: Tensor, axis: int | None, keepdims: bool) -> Tensor:
    x = tensor(x)
    if dtype(x) is DType.bool:
        x = core.cast(x, DType.int32)
    shape = ir_shape(x)
    if axis is None:
        # numpy flattens first; keepdims then keeps every axis as size 1.
        from frontend.ops.movement import reshape
        y = apply(op, [reshape(x, (-1,))], ArgReduceAttrs(0, False))
        return reshape(y, (1,) * len(shape)) if keepdims else y
    return apply(op, [x], ArgReduceAttrs(normalize_axis(axis, len(shape)), bool(keepdims)))


@symbolic
def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the first maximum, int32."""
    return _arg(Op.ARGMAX, x, axis, keepdims)


@symbolic
def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the first minimum, int32."""
    return _arg(Op.ARGMIN, x, axis, keepdims)


@symbolic
def var(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Population variance ``mean(|x - mean(x)|**2)``, numpy's two-pass formula."""
    x = to_float(x)
    centered = apply(Op.SUB, [x, reduce(Op.REDUCE_MEAN, x, axis, True)])
    return reduce(Op.REDUCE_MEAN, apply(Op.MUL, [centered, centered]), axis, keepdims)


@symbolic
def std(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return apply(Op.SQRT, [var(x, axis, keepdims)])


def _truth_reduce(op: Op, x: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    # Reductions are numeric in the IR: count truth as int32 0/1, reduce, and turn back to bool.
    (b,), _ = prepare(x, dtype=DType.bool)
    return core.cast(reduce(op, core.cast(b, DType.int32), axis, keepdims), DType.bool)


@symbolic
def all(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _truth_reduce(Op.REDUCE_MIN, x, axis, keepdims)


@symbolic
def any(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _truth_reduce(Op.REDUCE_MAX, x, axis, keepdims)


@symbolic
def count_nonzero(x: Tensor, axis: Axis = None) -> Tensor:
    (b,), _ = prepare(x, dtype=DType.bool)
    return reduce(Op.REDUCE_SUM, core.cast(b, DType.int32), axis, False)


@symbolic
def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """``max + log(sum(exp(x - max)))``: stable for large inputs."""
    x = to_float(x)
    m = reduce(Op.REDUCE_MAX, x, axis, True)
    s = reduce(Op.REDUCE_SUM, apply(Op.EXP, [apply(Op.SUB, [x, m])]), axis, True)
    out = apply(Op.ADD, [m, apply(Op.LOG, [s])])
    if keepdims:
        return out
    from frontend.ops.movement import squeeze
    axes = normalize_axes(axis, len(ir_shape(x)))
    return squeeze(out, axes) if axes else out


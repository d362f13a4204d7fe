"""Reductions over axes (sum, max, min, mean) and arg-reductions (argmax, argmin)."""
from __future__ import annotations

import numpy as np

from ir.attrs import ArgReduceAttrs, ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import TensorType


def _check_axes(rank: int, axes: tuple[int, ...]) -> None:
    if list(axes) != sorted(set(axes)) or any(a < 0 or a >= rank for a in axes):
        raise ValueError(f"reduction axes must be sorted, unique and in [0, {rank}); received {axes}")


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(op: Op):
    def infer(ts, a: ReduceAttrs):
        t = ts[0]
        _check_axes(t.rank, a.axes)
        if t.dtype is DType.bool:
            raise TypeError(f"{op} expects a numeric operand, received bool")
        if op is Op.REDUCE_MEAN and not t.dtype.is_floating:
            raise TypeError(f"reduce_mean expects a floating operand, received {t.dtype.name}")
        return (TensorType(t.dtype, reduced_shape(t.shape, a.axes, a.keepdims)),)
    return infer


_REDUCERS = {
    Op.REDUCE_SUM: np.sum,
    Op.REDUCE_MAX: np.max,
    Op.REDUCE_MIN: np.min,
    Op.REDUCE_MEAN: np.mean,
}

for _op, _fn in _REDUCERS.items():
    register(_op, ReduceAttrs, 1, _reduce_infer(_op),
             lambda arrays, a, _fn=_fn: (np.asarray(
                 _fn(arrays[0], axis=a.axes, keepdims=a.keepdims), dtype=arrays[0].dtype),))


def _arg_infer(ts, a: ArgReduceAttrs):
    t = ts[0]
    if not 0 <= a.axis < t.rank:
        raise ValueError(f"axis {a.axis} is out of range for rank {t.rank}")
    if t.dtype is DType.bool:
        raise TypeError("arg-reductions expect a numeric operand, received bool")
    return (TensorType(DType.int32, reduced_shape(t.shape, (a.axis,), a.keepdims)),)


for _op, _fn in ((Op.ARGMAX, np.argmax), (Op.ARGMIN, np.argmin)):
    # First index wins on ties, as numpy and Keras.
    register(_op, ArgReduceAttrs, 1, _arg_infer,
             lambda arrays, a, _fn=_fn: (np.asarray(
                 _fn(arrays[0], axis=a.axis, keepdims=a.keepdims), dtype=np.int32),))

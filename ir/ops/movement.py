"""Data movement: reshape, transpose, broadcast_to, slice, concat, pad, gather,
and the constant leaf."""
from __future__ import annotations

import numpy as np

from ir.attrs import (BroadcastAttrs, ConcatAttrs, ConstantAttrs, GatherAttrs, NoAttrs, PadAttrs,
                      ReshapeAttrs, ScatterAddAttrs, SliceAttrs, TransposeAttrs)
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import SymDim, TensorType, broadcast_shapes, element_count, format_shape


def _reshape_infer(ts, a: ReshapeAttrs):
    t = ts[0]
    if element_count(t.shape) != element_count(a.shape):
        raise ValueError(f"cannot reshape {format_shape(t.shape)} ({element_count(t.shape)} elements) "
                         f"to {format_shape(a.shape)} ({element_count(a.shape)} elements)")
    return (TensorType(t.dtype, a.shape),)


def _reshape_reference(arrays, a: ReshapeAttrs):
    x = arrays[0]
    # Symbolic dims take the size that makes the element count right.
    shape = [-1 if isinstance(d, SymDim) else d for d in a.shape]
    if shape.count(-1) > 1:  # several symbolic dims: each is bound by the input; take in order
        raise NotImplementedError("reshape with more than one symbolic dim")
    return (x.reshape(shape),)


register(Op.RESHAPE, ReshapeAttrs, 1, _reshape_infer, _reshape_reference)


def _transpose_infer(ts, a: TransposeAttrs):
    t = ts[0]
    if sorted(a.perm) != list(range(t.rank)):
        raise ValueError(f"perm {a.perm} is not a permutation of {t.rank} axes")
    return (TensorType(t.dtype, tuple(t.shape[p] for p in a.perm)),)


register(Op.TRANSPOSE, TransposeAttrs, 1, _transpose_infer,
         lambda arrays, a: (np.asarray(np.transpose(arrays[0], a.perm), order="C"),))


def _broadcast_infer(ts, a: BroadcastAttrs):
    t = ts[0]
    if t.rank > len(a.shape) or broadcast_shapes(t.shape, a.shape) != a.shape:
        raise ValueError(f"cannot broadcast {format_shape(t.shape)} to {format_shape(a.shape)}")
    return (TensorType(t.dtype, a.shape),)


def _broadcast_reference(arrays, a: BroadcastAttrs):
    x = arrays[0]
    lead = len(a.shape) - x.ndim
    shape = [x.shape[i - lead] if isinstance(d, SymDim) and i >= lead else d
             for i, d in enumerate(a.shape)]
    if any(isinstance(d, SymDim) for d in shape):
        raise ValueError("broadcast_to a new symbolic dim needs its run-time size")
    return (np.asarray(np.broadcast_to(x, shape), order="C"),)


register(Op.BROADCAST_TO, BroadcastAttrs, 1, _broadcast_infer, _broadcast_reference)


def slice_length(dim, start: int, stop: int | None, step: int):
    """Length of ``range(start, stop, step)`` on an axis of size ``dim`` (stop None: to the end)."""
    if isinstance(dim, SymDim):
        if (start, stop, step) not in ((0, None, 1), (-1, None, -1)):
            raise ValueError(f"an axis of symbolic size {dim} can only be taken whole (0, None, 1) or "
                             f"whole and reversed (-1, None, -1); received ({start}, {stop}, {step})")
        return dim
    if step == 0:
        raise ValueError("slice step must not be zero")
    if stop is None:
        stop = dim if step > 0 else -1
    if not (0 <= start <= dim) or not (-1 <= stop <= dim):
        raise ValueError(f"slice {start}:{stop}:{step} is out of range for size {dim}")
    return len(range(start, stop, step))


def _slice_infer(ts, a: SliceAttrs):
    t = ts[0]
    if not len(a.starts) == len(a.stops) == len(a.steps) == t.rank:
        raise ValueError(f"slice needs start/stop/step for each of {t.rank} axes")
    return (TensorType(t.dtype, tuple(slice_length(d, *s) for d, s in
                                      zip(t.shape, zip(a.starts, a.stops, a.steps)))),)


register(Op.SLICE, SliceAttrs, 1, _slice_infer,
         lambda arrays, a: (np.asarray(arrays[0][tuple(
             slice(s, e, k) for s, e, k in zip(a.starts, a.stops, a.steps))], order="C"),))


def _concat_infer(ts, a: ConcatAttrs):
    first = ts[0]
    if not 0 <= a.axis < first.rank:
        raise ValueError(f"axis {a.axis} is out of range for rank {first.rank}")
    total = 0
    for t in ts:
        if t.dtype != first.dtype or t.rank != first.rank or any(
                d != e for i, (d, e) in enumerate(zip(t.shape, first.shape)) if i != a.axis):
            raise ValueError("concat expects operands that match except on the axis; received "
                             + ", ".join(str(x) for x in ts))
        if isinstance(t.shape[a.axis], SymDim):
            raise ValueError("concat along a symbolic axis is not supported")
        total += t.shape[a.axis]
    shape = list(first.shape)
    shape[a.axis] = total
    return (TensorType(first.dtype, tuple(shape)),)


register(Op.CONCAT, ConcatAttrs, None, _concat_infer,
         lambda arrays, a: (np.concatenate(arrays, axis=a.axis),))


def _pad_infer(ts, a: PadAttrs):
    t = ts[0]
    if len(a.pads) != t.rank or any(lo < 0 or hi < 0 for lo, hi in a.pads):
        raise ValueError(f"pad needs non-negative (low, high) for each of {t.rank} axes, received {a.pads}")
    shape = []
    for d, (lo, hi) in zip(t.shape, a.pads):
        if isinstance(d, SymDim):
            if lo or hi:
                raise ValueError(f"cannot pad the symbolic axis {d}")
            shape.append(d)
        else:
            shape.append(d + lo + hi)
    return (TensorType(t.dtype, tuple(shape)),)


register(Op.PAD, PadAttrs, 1, _pad_infer,
         lambda arrays, a: (np.pad(arrays[0], a.pads, constant_values=a.value),))


def _gather_infer(ts, a: GatherAttrs):
    data, idx = ts
    if not 0 <= a.axis < data.rank:
        raise ValueError(f"axis {a.axis} is out of range for rank {data.rank}")
    if idx.dtype not in (DType.int32, DType.int64):
        raise TypeError(f"gather indices must be int32 or int64, received {idx.dtype.name}")
    if isinstance(data.shape[a.axis], SymDim):
        raise ValueError("gather along a symbolic axis is not supported")
    return (TensorType(data.dtype, data.shape[:a.axis] + idx.shape + data.shape[a.axis + 1:]),)


def _gather_reference(arrays, a: GatherAttrs):
    data, idx = arrays
    n = data.shape[a.axis]
    return (np.take(data, np.clip(idx, 0, n - 1), axis=a.axis),)


register(Op.GATHER, GatherAttrs, 2, _gather_infer, _gather_reference)


def _scatter_add_infer(ts, a: ScatterAddAttrs):
    upd, idx = ts
    k = idx.rank
    if idx.dtype not in (DType.int32, DType.int64):
        raise TypeError(f"scatter_add indices must be int32 or int64, received {idx.dtype.name}")
    if upd.dtype is DType.bool:
        raise TypeError("scatter_add expects numeric updates, received bool")
    if a.size < 1:
        raise ValueError(f"scatter_add size must be at least 1, received {a.size}")
    if a.axis < 0 or upd.rank < a.axis + k:
        raise ValueError(f"axis {a.axis} with rank-{k} indices needs updates of rank >= {a.axis + k}, "
                         f"received rank {upd.rank}")
    if tuple(upd.shape[a.axis:a.axis + k]) != tuple(idx.shape):
        raise ValueError(f"updates {format_shape(upd.shape)} must hold the indices' dims "
                         f"{format_shape(idx.shape)} from axis {a.axis}")
    return (TensorType(upd.dtype, upd.shape[:a.axis] + (a.size,) + upd.shape[a.axis + k:]),)


def _scatter_add_reference(arrays, a: ScatterAddAttrs):
    upd, idx = arrays
    k = idx.ndim
    out = np.zeros(upd.shape[:a.axis] + (a.size,) + upd.shape[a.axis + k:], upd.dtype)
    # add.at, not +=: repeated indices must each add (an embedding row used twice in a batch).
    np.add.at(out, (slice(None),) * a.axis + (np.clip(idx, 0, a.size - 1),), upd)
    return (out,)


register(Op.SCATTER_ADD, ScatterAddAttrs, 2, _scatter_add_infer, _scatter_add_reference)


register(Op.CONSTANT, ConstantAttrs, 0,
         lambda ts, a: (TensorType(a.value.dtype, a.value.shape),),
         lambda arrays, a: (a.value,))

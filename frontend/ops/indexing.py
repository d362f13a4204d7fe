"""Indexing: ``x[key]`` (basic indexing and one integer-array index),
``take``, ``tril`` / ``triu``.

Basic indexing is one SLICE (ints become length-1 slices) followed by one
RESHAPE that drops the int axes and inserts the ``None`` ones. An int-array
index becomes a GATHER. Boolean masks have data-dependent shapes, which a
compiled graph cannot have, so they are refused with a clear error.
"""
from __future__ import annotations

import numpy as np

from frontend.ops import core
from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.movement import normalize_slice, ravel, reshape_to, slice_axes
from frontend.ops.util import dtype, ir_shape, normalize_axis, static_dim, tensor
from frontend.tensors import TracedTensor
from ir.attrs import GatherAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.ops.movement import slice_length

__all__ = ["getitem", "get_item", "take", "tril", "triu"]

_INT_TYPES = (int, np.integer)


def _is_index_array(k) -> bool:
    return isinstance(k, (list, np.ndarray, TracedTensor)) or (hasattr(k, "__array__") and np.ndim(k) > 0)


@symbolic
def getitem(x: Tensor, key) -> Tensor:
    """``x[key]`` for ints, slices (any step), ``None``, ``...`` and one int-array index."""
    x = tensor(x)
    shape = ir_shape(x)
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    arrays = [i for i, k in enumerate(key) if _is_index_array(k)]
    if arrays:
        return _array_index(x, key, arrays)
    consumed = sum(k is not None and k is not Ellipsis for k in key)
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor: tensor is {len(shape)}-dimensional, "
                         f"but {consumed} were indexed")
    fill = (slice(None),) * (len(shape) - consumed)
    key = (key[:key.index(Ellipsis)] + fill + key[key.index(Ellipsis) + 1:]) if Ellipsis in key else key + fill
    spec, out_shape, axis = {}, [], 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        d = shape[axis]
        if isinstance(k, _INT_TYPES) and not isinstance(k, bool):
            n = static_dim(d, f"Indexing axis {axis} with an integer")
            i = int(k) + n if k < 0 else int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {n}")
            spec[axis] = (i, i + 1, 1)
        elif isinstance(k, slice):
            spec[axis] = normalize_slice(k, d, "Indexing")
            out_shape.append(slice_length(d, *spec[axis]))
        else:
            raise TypeError(f"Unsupported index {k!r} of type {type(k).__name__}: use ints, slices, "
                            "None, Ellipsis or an integer array")
        axis += 1
    return reshape_to(slice_axes(x, spec), tuple(out_shape))


get_item = getitem


def _array_index(x: Tensor, key: tuple, arrays: list[int]) -> Tensor:
    """``x[..., idx, :]``: one integer array among full slices is ``take`` on that axis."""
    rank = len(ir_shape(x))
    full = slice(None)
    if len(arrays) != 1 or any(not (k is Ellipsis or (isinstance(k, slice) and k == full))
                               for i, k in enumerate(key) if i != arrays[0]):
        raise IndexError("Only one integer-array index, with `:` or `...` on the other axes, is "
                         f"supported. Received: {key!r}")
    pos = arrays[0]
    axis = rank - (len(key) - pos) if Ellipsis in key[:pos] else pos
    idx = key[pos]
    if not isinstance(idx, TracedTensor) and np.asarray(idx).dtype == np.bool_:
        raise IndexError("Boolean mask indexing gives a data-dependent shape, which a compiled graph "
                         "cannot have. Use ops.where instead.")
    return take(x, idx, axis=normalize_axis(axis, rank))


@symbolic
def take(x: Tensor, indices, axis: int | None = None) -> Tensor:
    """Elements of ``x`` at ``indices`` along ``axis`` (flattened when None); negatives count back."""
    x = tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    shape = ir_shape(x)
    axis = normalize_axis(axis, len(shape))
    n = static_dim(shape[axis], "take along this axis")
    if isinstance(indices, TracedTensor):
        idx = indices
        if dtype(idx) not in (DType.int32, DType.int64):
            idx = core.cast(idx, DType.int32)
        (idx, zero, size), _ = prepare(idx, 0, n, dtype=dtype(idx))
        # GATHER clamps; numpy counts negative indices from the end.
        idx = apply(Op.SELECT, [apply(Op.LESS, [idx, zero]), apply(Op.ADD, [idx, size]), idx])
    else:
        arr = np.asarray(indices)
        if arr.dtype.kind not in "iu":
            arr = arr.astype(np.int32)
        idx = np.where(arr < 0, arr + n, arr).astype(np.int64 if arr.dtype == np.int64 else np.int32)
    return apply(Op.GATHER, [x, idx], GatherAttrs(axis))


def _triangle(x: Tensor, k: int, lower: bool) -> Tensor:
    x = tensor(x)
    shape = ir_shape(x)
    if len(shape) < 2:
        raise ValueError(f"tril/triu expect a tensor of rank >= 2, received rank {len(shape)}")
    m, n = static_dim(shape[-2], "tril/triu"), static_dim(shape[-1], "tril/triu")
    ones = np.ones((m, n), dtype=bool)
    mask = np.tril(ones, k) if lower else np.triu(ones, k)
    (x, zero), _ = prepare(x, 0, dtype=dtype(x))
    return apply(Op.SELECT, [mask, x, zero])


@symbolic
def tril(x: Tensor, k: int = 0) -> Tensor:
    """Zeros above the ``k``-th diagonal of the last two axes."""
    return _triangle(x, k, True)


@symbolic
def triu(x: Tensor, k: int = 0) -> Tensor:
    """Zeros below the ``k``-th diagonal of the last two axes."""
    return _triangle(x, k, False)

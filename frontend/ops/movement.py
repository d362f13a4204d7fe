"""Data movement: reshape, transpose, expand/squeeze, broadcast, concatenate,
stack, tile, repeat, pad, flip, split, roll.

Every new shape keeps the input's symbolic dims in place, so a graph traced
with batch ``N`` stays valid for any batch. Where an op would have to merge
the batch with another axis (``ravel`` of a ``(N, 3)`` tensor) the IR cannot
say it, and the error says so.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.util import ir_shape, normalize_axes, normalize_axis, resolve_shape, static_dim, tensor
from frontend.tensors import TracedTensor
from frontend.tracing import active_tracer
from ir.attrs import (BroadcastAttrs, ConcatAttrs, GatherAttrs, PadAttrs, ReshapeAttrs, SliceAttrs,
                      TransposeAttrs)
from ir.opcodes import Op
from ir.shapes import BATCH, SymDim

__all__ = ["reshape", "transpose", "expand_dims", "squeeze", "ravel", "broadcast_to", "concatenate",
           "stack", "tile", "repeat", "pad", "flip", "moveaxis", "swapaxes", "split", "roll", "slice"]


def reshape_to(x: Tensor, shape: tuple) -> Tensor:
    """RESHAPE to a fully resolved IR shape; no node when nothing changes."""
    return x if tuple(ir_shape(x)) == tuple(shape) else apply(Op.RESHAPE, [x], ReshapeAttrs(shape))


def _keras_shape(x: Tensor) -> tuple:
    return tuple(None if isinstance(d, SymDim) else d for d in ir_shape(x))


@symbolic
def reshape(x: Tensor, newshape) -> Tensor:
    """``x`` with shape ``newshape``; one ``-1`` is inferred, ``None`` is the batch dim."""
    x = tensor(x)
    if isinstance(newshape, (int, np.integer)):
        newshape = (newshape,)
    in_shape = ir_shape(x)
    newshape = list(newshape)
    if None in newshape and not any(isinstance(d, SymDim) for d in in_shape):
        # Eager (or batch-free) input: None can only mean "whatever is left", like -1.
        newshape = [-1 if d is None else d for d in newshape]
    return reshape_to(x, resolve_shape(in_shape, newshape))


@symbolic
def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permutes axes; ``None`` reverses them."""
    x = tensor(x)
    rank = len(ir_shape(x))
    perm = tuple(reversed(range(rank))) if axes is None else tuple(normalize_axis(a, rank) for a in axes)
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"axes {tuple(axes)} is not a permutation of the {rank} axes of the input")
    return x if perm == tuple(range(rank)) else apply(Op.TRANSPOSE, [x], TransposeAttrs(perm))


@symbolic
def expand_dims(x: Tensor, axis: int | Sequence[int]) -> Tensor:
    """Inserts size-1 axes at ``axis`` (positions in the result)."""
    x = tensor(x)
    shape = ir_shape(x)
    axes = normalize_axes(axis, len(shape) + (1 if isinstance(axis, (int, np.integer)) else len(axis)))
    it = iter(shape)
    out = tuple(1 if i in axes else next(it) for i in range(len(shape) + len(axes)))
    return reshape_to(x, out)


@symbolic
def squeeze(x: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Removes size-1 axes (all static ones when ``axis`` is None)."""
    x = tensor(x)
    shape = ir_shape(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = normalize_axes(axis, len(shape))
        for a in axes:
            if shape[a] != 1:
                raise ValueError("Cannot select an axis to squeeze out which has size not equal to one. "
                                 f"Received: axis={axis} for a tensor of shape "
                                 f"{tuple(None if isinstance(d, SymDim) else d for d in shape)}")
    return reshape_to(x, tuple(d for i, d in enumerate(shape) if i not in axes))


@symbolic
def ravel(x: Tensor) -> Tensor:
    """``x`` as one flat axis."""
    x = tensor(x)
    return reshape(x, (-1,))


@symbolic
def broadcast_to(x: Tensor, shape) -> Tensor:
    """``x`` broadcast to ``shape`` (``None`` for the batch dim)."""
    x = tensor(x)
    if not isinstance(x, TracedTensor) and any(d is None for d in shape):
        # A batch-free value broadcast to the batch: inside a traced graph it becomes a
        # constant of that graph (N is known when it runs); eagerly None has no size.
        tracer = active_tracer()
        if tracer is None:
            raise ValueError(f"broadcast_to: shape={tuple(shape)} has None (the symbolic batch), which "
                             "only has a size inside a traced graph; give an eager array a full shape")
        x = tracer.constant(np.asarray(x))
    target = tuple(BATCH if d is None else d for d in shape)
    return x if ir_shape(x) == target else apply(Op.BROADCAST_TO, [x], BroadcastAttrs(target))


@symbolic
def concatenate(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Joins tensors along ``axis`` (promoted to one dtype)."""
    xs, _ = prepare(*xs)
    ranks = {len(ir_shape(x)) for x in xs}
    if len(ranks) != 1:
        raise ValueError("concatenate expects tensors of one rank. Received shapes: "
                         + ", ".join(str(_keras_shape(x)) for x in xs))
    if len(xs) == 1:
        return xs[0]
    return apply(Op.CONCAT, xs, ConcatAttrs(normalize_axis(axis, ranks.pop())))


@symbolic
def stack(x: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Joins tensors of one shape along a new axis."""
    xs, _ = prepare(*x)
    return concatenate([expand_dims(t, axis) for t in xs], axis=axis)


def _interleave_repeat(x: Tensor, reps: Sequence[int], inner: bool) -> Tensor:
    """Repeats along each axis with ``reps[i] > 1`` by reshape + broadcast + reshape.

    ``inner=False`` tiles (whole axis copied ``r`` times), ``inner=True``
    repeats each element ``r`` times: a new size-``r`` axis goes before or
    after the original one, gets broadcast, and is merged back.
    """
    shape = ir_shape(x)
    split_shape, big_shape, out_shape = [], [], []
    for d, r in zip(shape, reps):
        if r == 1:
            split_shape.append(d), big_shape.append(d), out_shape.append(d)
            continue
        d = static_dim(d, "tile/repeat along this axis")
        pair = [(d, 1), (d, r)] if inner else [(1, d), (r, d)]
        split_shape += pair[0]
        big_shape += pair[1]
        out_shape.append(d * r)
    y = reshape_to(x, tuple(split_shape))
    y = broadcast_to(y, tuple(big_shape))
    return reshape_to(y, tuple(out_shape))


@symbolic
def tile(x: Tensor, repeats) -> Tensor:
    """Repeats the whole tensor ``repeats[i]`` times along axis ``i`` (numpy.tile)."""
    x = tensor(x)
    reps = [int(repeats)] if isinstance(repeats, (int, np.integer)) else [int(r) for r in repeats]
    shape = ir_shape(x)
    if len(reps) > len(shape):
        x = reshape_to(x, (1,) * (len(reps) - len(shape)) + shape)
    reps = [1] * (len(ir_shape(x)) - len(reps)) + reps
    if any(r < 0 for r in reps):
        raise ValueError(f"tile repeats must be non-negative. Received: repeats={repeats}")
    return _interleave_repeat(x, reps, inner=False)


@symbolic
def repeat(x: Tensor, repeats, axis: int | None = None) -> Tensor:
    """Repeats each element (numpy.repeat); per-element counts become one constant GATHER."""
    x = tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    shape = ir_shape(x)
    axis = normalize_axis(axis, len(shape))
    if isinstance(repeats, (int, np.integer)) or np.ndim(repeats) == 0:
        reps = [1] * len(shape)
        reps[axis] = int(np.asarray(repeats))
        return _interleave_repeat(x, reps, inner=True)
    n = static_dim(shape[axis], "repeat with per-element counts")
    counts = np.asarray(repeats, dtype=np.int64)
    if counts.shape != (n,):
        raise ValueError(f"repeats has {counts.size} entries for an axis of size {n}")
    idx = np.repeat(np.arange(n, dtype=np.int32), counts)
    return apply(Op.GATHER, [x, idx], GatherAttrs(axis))


def _pad_pairs(pad_width, rank: int) -> tuple[tuple[int, int], ...]:
    pw = np.asarray(pad_width, dtype=np.int64)
    if pw.ndim == 0:
        pw = np.full((rank, 2), int(pw))
    elif pw.shape == (2,) or pw.shape == (1, 2):
        pw = np.tile(pw.reshape(1, 2), (rank, 1))
    elif pw.shape == (1,):
        pw = np.full((rank, 2), int(pw[0]))
    if pw.shape != (rank, 2):
        raise ValueError(f"pad_width must give (before, after) for each of {rank} axes. "
                         f"Received: pad_width={pad_width}")
    if (pw < 0).any():
        raise ValueError(f"pad_width must be non-negative. Received: pad_width={pad_width}")
    return tuple((int(a), int(b)) for a, b in pw)


@symbolic
def pad(x: Tensor, pad_width, mode: str = "constant", constant_values=None) -> Tensor:
    """Constant padding (numpy.pad's ``pad_width`` forms)."""
    if mode != "constant":
        raise ValueError(f"pad supports mode='constant' only. Received: mode={mode!r}")
    x = tensor(x)
    pads = _pad_pairs(pad_width, len(ir_shape(x)))
    value = 0.0 if constant_values is None else float(constant_values)
    if not any(a or b for a, b in pads):
        return x
    return apply(Op.PAD, [x], PadAttrs(pads, value))


def slice_axes(x: Tensor, spec: dict[int, tuple[int, int | None, int]]) -> Tensor:
    """SLICE with (start, stop, step) on the axes in ``spec`` (already normalized), whole elsewhere."""
    shape = ir_shape(x)
    starts, stops, steps = [], [], []
    for i in range(len(shape)):
        s = spec.get(i, (0, None, 1))
        starts.append(s[0]), stops.append(s[1]), steps.append(s[2])
    if all(s == (0, None, 1) for s in zip(starts, stops, steps)):
        return x
    return apply(Op.SLICE, [x], SliceAttrs(tuple(starts), tuple(stops), tuple(steps)))


def _sym_what(dim: SymDim) -> str:
    """What a symbolic dim is, in the user's words."""
    return "the batch" if dim == BATCH else "a length given as None"


def normalize_slice(s: slice, dim, what: str = "slicing") -> tuple[int, int | None, int]:
    """Python slice -> SliceAttrs' normalized (start, stop, step) for an axis of size ``dim``."""
    if isinstance(dim, SymDim):
        if (s.start in (None, 0)) and s.stop is None and s.step in (None, 1):
            return (0, None, 1)
        if s.start in (None, -1) and s.stop is None and s.step == -1:
            return (-1, None, -1)
        raise ValueError(f"{what}: an axis of symbolic size {dim} ({_sym_what(dim)}) can only be taken "
                         f"whole (`:`) or whole and reversed (`::-1`); received {s}")
    start, stop, step = s.indices(dim)
    if step < 0 and stop < 0:
        stop = None
    if step > 0 and stop < start:   # empty: keep the IR's 0 <= stop check happy
        stop = start
    return (start, stop, step)


@symbolic
def flip(x: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Reverses the order of elements along ``axis`` (all axes when None)."""
    x = tensor(x)
    shape = ir_shape(x)
    axes = normalize_axes(axis, len(shape))
    return slice_axes(x, {a: normalize_slice(np.s_[::-1], shape[a], "flip") for a in axes})


@symbolic
def moveaxis(x: Tensor, source, destination) -> Tensor:
    x = tensor(x)
    rank = len(ir_shape(x))
    src = [normalize_axis(a, rank) for a in np.atleast_1d(source).tolist()]
    dst = [normalize_axis(a, rank) for a in np.atleast_1d(destination).tolist()]
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    order = [a for a in range(rank) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


@symbolic
def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    x = tensor(x)
    rank = len(ir_shape(x))
    perm = list(range(rank))
    a, b = normalize_axis(axis1, rank), normalize_axis(axis2, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


@symbolic
def split(x: Tensor, indices_or_sections, axis: int = 0) -> list[Tensor]:
    """numpy.split: ``n`` equal sections, or cut points."""
    x = tensor(x)
    shape = ir_shape(x)
    axis = normalize_axis(axis, len(shape))
    n = static_dim(shape[axis], "split")
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"array split does not result in an equal division: {n} into {k}")
        cuts = [n // k * i for i in range(1, k)]
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = [0] + [min(max(c, 0), n) for c in cuts] + [n]
    return [slice_axes(x, {axis: (lo, max(lo, hi), 1)}) for lo, hi in zip(bounds, bounds[1:])]


@symbolic
def roll(x: Tensor, shift, axis: int | Sequence[int] | None = None) -> Tensor:
    """numpy.roll: elements shifted along ``axis`` wrap around."""
    x = tensor(x)
    if axis is None:
        shape = ir_shape(x)
        return reshape_to(roll(ravel(x), shift, 0), shape)
    shifts = np.broadcast_to(np.atleast_1d(shift), np.atleast_1d(axis).shape).tolist()
    for s, a in zip(shifts, np.atleast_1d(axis).tolist()):
        shape = ir_shape(x)
        a = normalize_axis(a, len(shape))
        n = static_dim(shape[a], "roll")
        s = s % n if n else 0
        if s:
            x = concatenate([slice_axes(x, {a: (n - s, n, 1)}), slice_axes(x, {a: (0, n - s, 1)})], a)
    return x


# Defined last: from here on the module name `slice` is this op, not the builtin.
@symbolic
def slice(inputs: Tensor, start_indices, shape) -> Tensor:  # noqa: A001 - keras.ops.slice
    """``inputs[start:start+shape]`` per axis, static starts (keras.ops.slice)."""
    x = tensor(inputs)
    in_shape = ir_shape(x)
    spec = {}
    for i, (st, sz, d) in enumerate(zip(start_indices, shape, in_shape)):
        if isinstance(d, SymDim):
            if int(st) != 0 or sz not in (None, -1):
                raise ValueError(f"slice: axis {i} has symbolic size {d} ({_sym_what(d)}), so it can only "
                                 f"be taken whole (start 0, size -1 or None); received start {st}, "
                                 f"size {sz}")
            continue
        st = int(st)
        stop = d if sz in (None, -1) else st + int(sz)
        if not 0 <= st <= stop <= d:
            raise ValueError(f"slice of size {sz} at {st} is out of range for an axis of size {d}")
        spec[i] = (st, stop, 1)
    return slice_axes(x, spec)

"""Data movement: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Slice,
Pad, Gather, Expand, Tile, Split, DepthToSpace, SpaceToDepth.

Shapes, axes, starts and pads must be known when Horn compiles (the
``static_inputs`` of each entry). A symbolic batch dim travels through
unchanged: Reshape's ``0`` copies it, ``-1`` absorbs it, a shape computed from
Shape carries it as ``values.BATCH_SIZE``, and an axis of symbolic size can be
taken whole but not sliced, padded or tiled.
"""
from __future__ import annotations

import numpy as np

from frontend.onnx_import.context import NodeContext
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import (add, binary, const, dims_with_batch, is_static, normalize_axis,
                                         rank, shape, where)
from frontend.ops.core import apply
from frontend.ops.movement import reshape_to, slice_axes
from frontend.ops.util import resolve_shape, static_product
from ir.attrs import BroadcastAttrs, ConcatAttrs, GatherAttrs, PadAttrs, TransposeAttrs
from ir.opcodes import Op
from ir.shapes import SymDim, broadcast_shapes

_TO_END = 2 ** 62   # ONNX writes "to the end" as INT64_MAX (or any huge value)


def transpose(x, perm):
    perm = tuple(int(p) for p in perm)
    return x if perm == tuple(range(len(perm))) else apply(Op.TRANSPOSE, [x], TransposeAttrs(perm))


def concat(values, axis: int):
    return values[0] if len(values) == 1 else apply(Op.CONCAT, values, ConcatAttrs(axis))


@importer("Reshape", static_inputs=(1,), batch_operands=(0,))
def _reshape(n: NodeContext):
    x = n.input(0)
    if n.has_input(1):
        target = dims_with_batch(n.static(1, "Reshape's shape", batch_ok=True))
    else:
        target = [int(d) for d in n.attr("shape")]    # an attribute before opset 5
    in_shape = shape(x)
    if not n.attr("allowzero", 0):
        # 0 copies the input's dim at that position (the symbolic batch included).
        target = [in_shape[i] if not isinstance(d, SymDim) and d == 0 else d
                  for i, d in enumerate(target)]
    return reshape_to(x, resolve_shape(in_shape, target))


@importer("Flatten")
def _flatten(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    axis = int(n.attr("axis", 1))
    if not -len(s) <= axis <= len(s):
        raise ValueError(f"axis {axis} is out of range for rank {len(s)}")
    if axis < 0:
        axis += len(s)
    return reshape_to(x, (static_product(s[:axis]), static_product(s[axis:])))


@importer("Transpose")
def _transpose(n: NodeContext):
    x = n.input(0)
    perm = n.attr("perm", None)
    return transpose(x, reversed(range(rank(x))) if perm is None else perm)


@importer("Squeeze", static_inputs=(1,), batch_operands=(0,))
def _squeeze(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    axes = n.ints(1, "axes", "Squeeze's axes")
    if axes is None:
        axes = [i for i, d in enumerate(s) if d == 1]
    axes = {normalize_axis(a, len(s), n.where) for a in axes}
    bad = [a for a in axes if s[a] != 1]
    if bad:
        raise ValueError(f"cannot squeeze axes {bad} of shape {s}: their size is not 1")
    return reshape_to(x, tuple(d for i, d in enumerate(s) if i not in axes))


@importer("Unsqueeze", static_inputs=(1,), batch_operands=(0,))
def _unsqueeze(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    axes = n.ints(1, "axes", "Unsqueeze's axes")
    out_rank = len(s) + len(axes)
    axes = {normalize_axis(a, out_rank, n.where) for a in axes}
    it = iter(s)
    return reshape_to(x, tuple(1 if i in axes else next(it) for i in range(out_rank)))


@importer("Concat", batch_operands="*")
def _concat(n: NodeContext):
    values = n.variadic()
    return concat(values, normalize_axis(n.attr("axis"), rank(values[0]), n.where))


def slice_spec(dim, start: int, end: int, step: int, where: str) -> tuple[int, int | None, int]:
    """ONNX's start/end/step on an axis of size ``dim`` as SliceAttrs' normalized triple.

    ONNX clamps like Python's slices (negative values count from the end;
    huge values mean "to the end"), so ``slice.indices`` gives the answer.
    """
    if step == 0:
        raise ValueError(f"{where}: a slice step must not be 0")
    if isinstance(dim, SymDim):
        if start == 0 and step == 1 and end >= _TO_END:
            return (0, None, 1)
        raise ValueError(f"{where}: the symbolic batch axis can only be taken whole")
    start, stop, step = slice(start, end, step).indices(dim)
    if step < 0 and stop < 0:
        return (start, None, step)
    if step > 0 and stop < start:
        return (start, start, step)
    return (start, stop, step)


@importer("Slice", static_inputs=(1, 2, 3, 4), batch_operands=(0,))
def _slice(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    starts = n.ints(1, "starts", "Slice's starts")
    ends = n.ints(2, "ends", "Slice's ends")
    axes = n.ints(3, "axes", "Slice's axes") or list(range(len(starts)))
    steps = n.ints(4, "steps", "Slice's steps") or [1] * len(starts)
    spec = {}
    for a, b, e, k in zip(axes, starts, ends, steps):
        a = normalize_axis(a, len(s), n.where)
        spec[a] = slice_spec(s[a], b, e, k, n.where)
    return slice_axes(x, spec)


def _pad_axis(x, axis: int, lo: int, hi: int, mode: str):
    """Pads one axis by (lo, hi) >= 0 in ``mode`` (constant is done by the caller with PAD)."""
    size = shape(x)[axis]
    parts = []
    if mode == "edge":
        def repeat_edge(start: int, times: int):
            edge = slice_axes(x, {axis: (start, start + 1, 1)})
            return apply(Op.BROADCAST_TO, [edge], BroadcastAttrs(
                tuple(times if i == axis else d for i, d in enumerate(shape(edge)))))

        parts = [repeat_edge(0, lo) if lo else None, x, repeat_edge(size - 1, hi) if hi else None]
    elif mode == "reflect":
        if lo >= size or hi >= size:
            raise ValueError(f"reflect padding ({lo}, {hi}) needs an axis longer than the pads; size {size}")
        parts = [slice_axes(x, {axis: (lo, 0, -1)}) if lo else None, x,
                 slice_axes(x, {axis: (size - 2, size - 2 - hi, -1)}) if hi else None]
    elif mode == "wrap":
        if lo > size or hi > size:
            raise ValueError(f"wrap padding ({lo}, {hi}) is wider than the axis (size {size})")
        parts = [slice_axes(x, {axis: (size - lo, size, 1)}) if lo else None, x,
                 slice_axes(x, {axis: (0, hi, 1)}) if hi else None]
    else:
        raise ValueError(f"Pad mode must be constant, reflect, edge or wrap; received {mode!r}")
    return concat([p for p in parts if p is not None], axis)


@importer("Pad", static_inputs=(1, 2, 3))
def _pad(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    r = len(s)
    mode = n.attr("mode", "constant")
    if n.opset < 11:
        raw, value = list(n.attr("pads")), n.attr("value", 0.0)
    else:
        raw = [int(v) for v in n.static(1, "Pad's pads").reshape(-1)]
        cv = n.static(2, "Pad's constant_value")
        value = 0 if cv is None or np.size(cv) == 0 else np.asarray(cv).reshape(-1)[0].item()
    axes = n.ints(3, "axes", "Pad's axes") if n.opset >= 18 else None
    axes = list(range(r)) if axes is None else [normalize_axis(a, r, n.where) for a in axes]
    k = len(axes)
    if len(raw) != 2 * k:
        raise ValueError(f"pads has {len(raw)} entries; expected {2 * k}")
    pads = {a: (int(raw[i]), int(raw[i + k])) for i, a in enumerate(axes)}
    # Negative pads remove elements: crop first, then pad what is left to pad.
    crops = {a: (max(-lo, 0), (s[a] - max(-hi, 0)) if not isinstance(s[a], SymDim) else None, 1)
             for a, (lo, hi) in pads.items() if lo < 0 or hi < 0}
    if crops:
        x = slice_axes(x, crops)
    pads = {a: (max(lo, 0), max(hi, 0)) for a, (lo, hi) in pads.items()}
    if not any(lo or hi for lo, hi in pads.values()):
        return x
    if mode == "constant":
        return apply(Op.PAD, [x], PadAttrs(tuple(pads.get(a, (0, 0)) for a in range(r)), float(value)))
    for a, (lo, hi) in pads.items():
        if lo or hi:
            x = _pad_axis(x, a, lo, hi, mode)
    return x


@importer("Gather", batch_operands=(0,))
def _gather(n: NodeContext):
    data, idx = n.input(0), n.input(1)
    axis = normalize_axis(n.attr("axis", 0), rank(data), n.where)
    size = shape(data)[axis]
    # Negative indices count from the end in ONNX; the IR's GATHER clamps them to 0 instead.
    if is_static(idx):
        idx = np.where(idx < 0, idx + size, idx)
    else:
        idx = where(binary(Op.LESS, idx, const(0, idx)), add(idx, const(size, idx)), idx)
    return apply(Op.GATHER, [data, idx], GatherAttrs(axis))


@importer("Expand", static_inputs=(1,))
def _expand(n: NodeContext):
    x = n.input(0)
    target = tuple(dims_with_batch(n.static(1, "Expand's shape", batch_ok=True)))
    out = broadcast_shapes(shape(x), target)   # Expand broadcasts both ways, like numpy
    if out == shape(x):
        return x
    return apply(Op.BROADCAST_TO, [x], BroadcastAttrs(out))


@importer("Tile", static_inputs=(1,))
def _tile(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    reps = [int(v) for v in n.static(1, "Tile's repeats").reshape(-1)]
    if len(reps) != len(s):
        raise ValueError(f"repeats {reps} must have one entry per axis of a rank-{len(s)} tensor")
    if all(r == 1 for r in reps):
        return x
    for d, r in zip(s, reps):
        if isinstance(d, SymDim) and r != 1:
            raise ValueError("the symbolic batch axis cannot be tiled")
    # (d0, d1) -> (1, d0, 1, d1) -> broadcast (r0, d0, r1, d1) -> (r0*d0, r1*d1): copies in order.
    spread = reshape_to(x, tuple(v for d in s for v in (1, d)))
    grown = apply(Op.BROADCAST_TO, [spread], BroadcastAttrs(tuple(v for d, r in zip(s, reps)
                                                                  for v in (r, d))))
    return reshape_to(grown, tuple(d if r == 1 else r * d for d, r in zip(s, reps)))


@importer("Split", static_inputs=(1,))
def _split(n: NodeContext):
    x = n.input(0)
    s = shape(x)
    axis = normalize_axis(n.attr("axis", 0), len(s), n.where)
    size = s[axis]
    if isinstance(size, SymDim):
        raise ValueError("the symbolic batch axis cannot be split")
    sizes = n.ints(1, "split", "Split's sizes")
    if sizes is None:
        parts = int(n.attr("num_outputs", len(n.outputs)))
        chunk = -(-size // parts)
        sizes = [min(chunk, size - i * chunk) for i in range(parts)]
    if sum(sizes) != size:
        raise ValueError(f"split sizes {sizes} do not add up to the axis size {size}")
    out, start = [], 0
    for k in sizes:
        out.append(slice_axes(x, {axis: (start, start + k, 1)}))
        start += k
    return tuple(out)


def _blocks(n: NodeContext):
    b = int(n.attr("blocksize"))
    s = shape(n.input(0))
    if len(s) != 4:
        raise ValueError(f"{n.op_type} expects a rank-4 NCHW input, received rank {len(s)}")
    return b, s


@importer("DepthToSpace")
def _depth_to_space(n: NodeContext):
    x = n.input(0)
    b, (batch, c, h, w) = _blocks(n)
    if n.attr("mode", "DCR") == "CRD":
        t = transpose(reshape_to(x, (batch, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    else:
        t = transpose(reshape_to(x, (batch, b, b, c // (b * b), h, w)), (0, 3, 4, 1, 5, 2))
    return reshape_to(t, (batch, c // (b * b), h * b, w * b))


@importer("SpaceToDepth")
def _space_to_depth(n: NodeContext):
    x = n.input(0)
    b, (batch, c, h, w) = _blocks(n)
    # DCR (the default) puts the block offsets before the channels; CRD after them.
    perm = (0, 1, 3, 5, 2, 4) if n.attr("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
    t = transpose(reshape_to(x, (batch, c, h // b, b, w // b, b)), perm)
    return reshape_to(t, (batch, c * b * b, h // b, w // b))

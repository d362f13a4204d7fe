"""CPU lowering of data movement: transpose, broadcast_to, slice, concat, pad, gather,
and scatter_add (gather's adjoint, the one op here that does arithmetic).

Bytes are bytes: elements are copied as integers of the element's size
(i8, i16, i32, i64), so one emitter serves every dtype, float16 and bool
included, and no value is ever reinterpreted (a NaN payload survives).

All but gather are one *strided copy*: an index box walked in row-major
order, with an element offset and a stride per axis on each side. Slices
(negative steps too) become a base offset plus signed strides, broadcast
axes stride 0, transposes permuted strides, concat and pad an offset into the
output. reshape is not here: the compiler makes it an alias of its operand.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import llvmlite.ir as ll
import numpy as np

from codegen.cpu.kernel import (I64, KernelContext, LoweringError, add, for_range, i64, lltype,
                                loop_nest, lowering, mul)
from codegen.cpu.lowerings._support import (bits_type, call_intrinsic, is_one, load_bits, narrow, offset,
                                            product, store_bits, widen)
from ir.attrs import (BroadcastAttrs, ConcatAttrs, GatherAttrs, PadAttrs, ScatterAddAttrs, SliceAttrs,
                      TransposeAttrs)
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import evaluate


def _const(v: ll.Value) -> int | None:
    return int(v.constant) if isinstance(v, ll.Constant) else None


def strided_copy(ctx: KernelContext, ty: ll.Type, src: ll.Value, src_base: ll.Value,
                 src_strides: Sequence[ll.Value], dst: ll.Value, dst_base: ll.Value,
                 dst_strides: Sequence[ll.Value], extents: Sequence[ll.Value]) -> None:
    """``dst[dst_base + i . dst_strides] = src[src_base + i . src_strides]`` for every i in the box.

    Axes of static extent 1 are dropped, and an axis is merged into the one
    before it when both sides are contiguous across the pair (known when the
    strides are constants), so a copy of whole rows is one long unit-stride
    loop that LLVM turns into vector moves or a memcpy.

    When the axis that is contiguous in the source is not the innermost one
    (a transpose), the two axes are walked in ``TILE`` x ``TILE`` blocks: the
    block's source rows stay in cache while the inner loop writes contiguous
    output, instead of one pass over the whole source per output row.
    """
    b = ctx.builder
    axes: list[tuple[ll.Value, ll.Value, ll.Value]] = []
    for e, s, d in zip(extents, src_strides, dst_strides):
        if _const(e) == 1:
            continue
        if axes:
            pe, ps, pd = axes[-1]
            ce, cs, cd, cps, cpd = _const(e), _const(s), _const(d), _const(ps), _const(pd)
            if None not in (ce, cs, cd, cps, cpd) and cps == cs * ce and cpd == cd * ce:
                axes[-1] = (mul(b, pe, e), s, d)
                continue
        axes.append((e, s, d))

    def copy(idx: Sequence[ll.Value], which: Sequence[int]) -> None:
        at_src = add(b, src_base, offset(b, idx, [axes[k][1] for k in which]))
        at_dst = add(b, dst_base, offset(b, idx, [axes[k][2] for k in which]))
        store_bits(b, load_bits(b, src, ty, at_src), dst, at_dst)

    inner = len(axes) - 1
    unit = next((k for k, a in enumerate(axes) if _const(a[1]) == 1), None)
    if unit is None or unit == inner or _const(axes[inner][2]) != 1:
        with loop_nest(b, [a[0] for a in axes], name="m") as ivs:
            copy(ivs, range(len(axes)))
        return
    others = [k for k in range(len(axes)) if k not in (unit, inner)]
    with loop_nest(b, [axes[k][0] for k in others], name="m") as ivs:
        with _tiles(b, axes[unit][0], "tj") as (j0, nj), _tiles(b, axes[inner][0], "ti") as (i0, ni):
            with for_range(b, 0, nj, name="j") as j, for_range(b, 0, ni, name="i") as i:
                copy([*ivs, add(b, j0, j), add(b, i0, i)], [*others, unit, inner])


TILE = 32     # 32 x 32 elements of up to 8 bytes: a block of both sides fits in L1


@contextlib.contextmanager
def _tiles(b: ll.IRBuilder, extent: ll.Value, name: str) -> Iterator[tuple[ll.Value, ll.Value]]:
    """Yields (start, length) of each TILE-sized block of ``range(extent)``; no loop if one block does."""
    if _const(extent) is not None and _const(extent) <= TILE:
        yield i64(0), extent
        return
    with for_range(b, 0, extent, step=TILE, name=name) as t0:
        yield t0, call_intrinsic(b, "smin", i64(TILE), b.sub(extent, t0))


@lowering(Op.TRANSPOSE)
def emit_transpose(ctx: KernelContext) -> None:
    """out[i] = x[i permuted back]: walk the output in order, reading x through permuted strides."""
    attrs: TransposeAttrs = ctx.node.attrs
    x, out = ctx.node.inputs[0], ctx.node.output
    in_strides = ctx.strides(ctx.dims(x))
    extents = ctx.dims(out)
    strided_copy(ctx, bits_type(x.dtype), ctx.inputs[0], i64(0), [in_strides[p] for p in attrs.perm],
                 ctx.outputs[0], i64(0), ctx.strides(extents), extents)


@lowering(Op.BROADCAST_TO)
def emit_broadcast_to(ctx: KernelContext) -> None:
    """numpy broadcast_to, materialized: stride 0 on new leading axes and on size-1 axes."""
    attrs: BroadcastAttrs = ctx.node.attrs
    x, out = ctx.node.inputs[0], ctx.node.output
    in_strides = ctx.strides(ctx.dims(x))
    lead = len(attrs.shape) - len(x.shape)
    src_strides = [i64(0) if j < 0 or is_one(x.shape[j]) else in_strides[j]
                   for j in (i - lead for i in range(len(attrs.shape)))]
    extents = ctx.dims(out)
    strided_copy(ctx, bits_type(x.dtype), ctx.inputs[0], i64(0), src_strides,
                 ctx.outputs[0], i64(0), ctx.strides(extents), extents)


@lowering(Op.SLICE)
def emit_slice(ctx: KernelContext) -> None:
    """x[start:stop:step, ...]: a base offset plus per-axis strides scaled by the (signed) step.

    The output's shape (from the shape rule) already holds each axis' length,
    so ``stop`` is not needed here; a symbolic axis is always taken whole, or whole and
    reversed: start -1, the last element, found from the run-time size.
    """
    attrs: SliceAttrs = ctx.node.attrs
    b = ctx.builder
    x, out = ctx.node.inputs[0], ctx.node.output
    in_dims = ctx.dims(x)
    in_strides = ctx.strides(in_dims)
    base: ll.Value = i64(0)
    for start, s, d in zip(attrs.starts, in_strides, in_dims):
        first = add(b, d, i64(start)) if start < 0 else i64(start)
        base = add(b, base, mul(b, first, s))
    src_strides = [mul(b, i64(step), s) for step, s in zip(attrs.steps, in_strides)]
    extents = ctx.dims(out)
    strided_copy(ctx, bits_type(x.dtype), ctx.inputs[0], base, src_strides,
                 ctx.outputs[0], i64(0), ctx.strides(extents), extents)


@lowering(Op.CONCAT)
def emit_concat(ctx: KernelContext) -> None:
    """Each operand copied into its window of the output; the axis sizes are static (shape rule)."""
    attrs: ConcatAttrs = ctx.node.attrs
    b = ctx.builder
    out = ctx.node.output
    out_strides = ctx.strides(ctx.dims(out))
    ty = bits_type(out.dtype)
    at = 0
    for ptr, v in zip(ctx.inputs, ctx.node.inputs):
        extents = ctx.dims(v)
        strided_copy(ctx, ty, ptr, i64(0), ctx.strides(extents), ctx.outputs[0],
                     mul(b, i64(at), out_strides[attrs.axis]), out_strides, extents)
        at += int(v.shape[attrs.axis])


def _pad_fill(dtype: DType, value: float) -> int:
    """The bit pattern the reference writes into padding, as an unsigned integer.

    Asking the reference itself (on a one-element array) keeps the float ->
    dtype conversion of ``value`` (truncation for ints, ``!= 0`` for bool) exactly its own.
    """
    try:
        (padded,) = evaluate(Op.PAD, (np.zeros(1, dtype.numpy),), PadAttrs(((1, 0),), value))
    except (ValueError, TypeError, OverflowError) as exc:
        raise LoweringError(f"pad value {value!r} cannot be stored as {dtype.name}: {exc}") from None
    return int.from_bytes(np.ascontiguousarray(padded[:1]).tobytes(), "little")


@lowering(Op.PAD)
def emit_pad(ctx: KernelContext) -> None:
    """Fill the whole output with the pad value, then copy x into the interior.

    The interior is written twice; in exchange both loops are unit-stride and
    branch-free (the fill is a vectorized memset-like loop).
    """
    attrs: PadAttrs = ctx.node.attrs
    b = ctx.builder
    x, out = ctx.node.inputs[0], ctx.node.output
    ty = bits_type(out.dtype)
    if any(lo or hi for lo, hi in attrs.pads):
        fill = ll.Constant(ty, _pad_fill(out.dtype, attrs.value))
        with for_range(b, 0, ctx.numel(out), name="f") as i:
            store_bits(b, fill, ctx.outputs[0], i)
    out_strides = ctx.strides(ctx.dims(out))
    base: ll.Value = i64(0)
    for (lo, _), s in zip(attrs.pads, out_strides):
        base = add(b, base, mul(b, i64(lo), s))
    extents = ctx.dims(x)
    strided_copy(ctx, ty, ctx.inputs[0], i64(0), ctx.strides(extents), ctx.outputs[0], base,
                 out_strides, extents)


@lowering(Op.GATHER)
def emit_gather(ctx: KernelContext) -> None:
    """numpy.take(data, clip(indices, 0, n - 1), axis).

    Viewed as data[outer, n, inner] and out[outer, m, inner] (m = number of
    indices): for every (outer, index) one contiguous row of ``inner``
    elements is copied, so an embedding lookup is a sequence of row copies.
    """
    attrs: GatherAttrs = ctx.node.attrs
    b = ctx.builder
    data, idx = ctx.node.inputs
    ty = bits_type(data.dtype)
    dims = ctx.dims(data)
    n = int(data.shape[attrs.axis])          # static: the shape rule forbids a symbolic axis
    outer = product(b, dims[:attrs.axis])
    inner = product(b, dims[attrs.axis + 1:])
    m = ctx.numel(idx)
    with for_range(b, 0, outer, name="o") as o:
        with for_range(b, 0, m, name="g") as j:
            raw = ctx.load(ctx.inputs[1], idx.dtype, j)
            at = b.sext(raw, I64) if raw.type != I64 else raw
            at = call_intrinsic(b, "smin", call_intrinsic(b, "smax", at, i64(0)), i64(n - 1))
            src = mul(b, add(b, mul(b, o, i64(n)), at), inner)
            dst = mul(b, add(b, mul(b, o, m), j), inner)
            with for_range(b, 0, inner, name="c") as k:
                store_bits(b, load_bits(b, ctx.inputs[0], ty, add(b, src, k)), ctx.outputs[0],
                           add(b, dst, k))


@lowering(Op.SCATTER_ADD)
def emit_scatter_add(ctx: KernelContext) -> None:
    """out = 0; out[outer, clip(idx[j]), inner] += updates[outer, j, inner] for j in order.

    The mirror of ``emit_gather``: one contiguous row of ``inner`` elements added per
    (outer, index), so an embedding's gradient costs a zero fill of the table plus one
    row add per id. Rows are added in index order from zero, the order of the reference's
    ``np.add.at``, so the sums round the same. float16 adds in float32 and rounds each
    step back, as numpy does.
    """
    attrs: ScatterAddAttrs = ctx.node.attrs
    b = ctx.builder
    upd, idx = ctx.node.inputs
    out = ctx.node.output
    dt = out.dtype
    k = len(idx.shape)
    n = attrs.size
    dims = ctx.dims(upd)
    outer = product(b, dims[:attrs.axis])
    inner = product(b, dims[attrs.axis + k:])
    m = ctx.numel(idx)
    zero = ll.Constant(lltype(dt), 0.0 if dt.is_floating else 0)
    with for_range(b, 0, ctx.numel(out), name="z") as i:
        ctx.store(zero, ctx.outputs[0], dt, i)
    with for_range(b, 0, outer, name="o") as o:
        with for_range(b, 0, m, name="g") as j:
            raw = ctx.load(ctx.inputs[1], idx.dtype, j)
            at = b.sext(raw, I64) if raw.type != I64 else raw
            at = call_intrinsic(b, "smin", call_intrinsic(b, "smax", at, i64(0)), i64(n - 1))
            dst = mul(b, add(b, mul(b, o, i64(n)), at), inner)
            src = mul(b, add(b, mul(b, o, m), j), inner)
            with for_range(b, 0, inner, name="c") as c:
                acc = widen(b, ctx.load(ctx.outputs[0], dt, add(b, dst, c)), dt)
                v = widen(b, ctx.load(ctx.inputs[0], dt, add(b, src, c)), dt)
                total = b.fadd(acc, v) if dt.is_floating else b.add(acc, v)
                ctx.store(narrow(b, total, dt), ctx.outputs[0], dt, add(b, dst, c))

"""CPU lowering of reductions (sum, max, min, mean over any axes) and arg-reductions.

The input's axes are first simplified: static size-1 axes are dropped and
adjacent axes of the same kind (both reduced or both kept) are merged, which
is exact for a contiguous row-major buffer. What remains alternates kept and
reduced runs, and the loop order follows the innermost run so that the inner
loop always walks contiguous memory:

* innermost run reduced (e.g. the last axis): one scalar accumulator per
  output element, the inner loop running down the contiguous run;
* innermost run kept (e.g. reducing a leading axis): a tile of up to
  ``TILE`` output elements is accumulated on the stack while the reduced
  axes are walked in the outer loops; the inner loop adds a contiguous input
  row into the tile.

Accuracy: float32 (and float16) sums are accumulated in float64 and rounded
once. numpy's pairwise float32 summation is then matched to well within
rtol 1e-5 at any size, and the adds can carry ``reassoc`` so the vectorizer
may split the sum across lanes (harmless at double precision). float64 sums
accumulate in float64, reassociated the same way; integer sums wrap in the
element type, which equals numpy's wider sum cast back.

max/min propagate NaN like numpy (llvm.maximum/minimum); argmax/argmin return
the first index of the extreme value, a NaN counting as the extreme.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import llvmlite.ir as ll

from codegen.cpu.kernel import (F32, F64, I32, I64, KernelContext, add, for_range, i64, lltype, loop_nest,
                                lowering, mul)
from codegen.cpu.lowerings._support import (call_intrinsic, compute_dtype, entry_alloca, f64_to_f16,
                                            is_one, narrow, offset, product, widen)
from ir.attrs import ArgReduceAttrs, ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op

TILE = 256        # output elements accumulated at once when the innermost axis is kept


@dataclass(frozen=True)
class Reducer:
    """How one reduction folds elements: accumulator types, start, step and result.

    ``step(b, acc, x, ridx)`` gets the element in the accumulator's type and
    its i64 index along the reduced axes; ``finish(b, acc, count)`` gets the
    number of reduced elements (i64) and returns the stored output value.
    """

    acc_types: tuple[ll.Type, ...]
    init: Callable[[], tuple[ll.Value, ...]]
    load: Callable[[ll.IRBuilder, ll.Value], ll.Value]
    step: Callable[[ll.IRBuilder, tuple[ll.Value, ...], ll.Value, ll.Value], tuple[ll.Value, ...]]
    finish: Callable[[ll.IRBuilder, tuple[ll.Value, ...], ll.Value], ll.Value]


def _extreme(dtype: DType, high: bool) -> ll.Constant:
    """The identity of max (``high=False``: the lowest value) or min (``high=True``) in ``dtype``."""
    ty = lltype(compute_dtype(dtype))
    if dtype.is_floating:
        return ll.Constant(ty, float("inf") if high else float("-inf"))
    bits = 8 * dtype.itemsize
    if dtype.is_signed:
        return ll.Constant(ty, (1 << (bits - 1)) - 1 if high else -(1 << (bits - 1)))
    return ll.Constant(ty, (1 << bits) - 1 if high else 0)


def _sum_reducer(dtype: DType, mean: bool) -> Reducer:
    if dtype.is_floating:
        def load(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
            x = widen(b, x, dtype)
            return b.fpext(x, F64) if x.type != F64 else x

        def finish(b: ll.IRBuilder, acc: tuple[ll.Value, ...], count: ll.Value) -> ll.Value:
            r = b.fdiv(acc[0], b.sitofp(count, F64)) if mean else acc[0]
            if dtype is DType.float16:
                return f64_to_f16(b, r)       # one rounding, not two through float32
            return b.fptrunc(r, F32) if dtype is DType.float32 else r

        return Reducer((F64,), lambda: (ll.Constant(F64, 0.0),), load,
                       lambda b, acc, x, _: (b.fadd(acc[0], x, flags=("reassoc",)),), finish)
    ty = lltype(dtype)
    return Reducer((ty,), lambda: (ll.Constant(ty, 0),), lambda b, x: x,
                   lambda b, acc, x, _: (b.add(acc[0], x),), lambda b, acc, count: acc[0])


def _minmax_reducer(dtype: DType, is_max: bool) -> Reducer:
    cdt = compute_dtype(dtype)
    ty = lltype(cdt)
    if dtype.is_floating:
        name = "maximum" if is_max else "minimum"      # NaN-propagating, like numpy's max/min
    elif dtype.is_signed:
        name = "smax" if is_max else "smin"
    else:
        name = "umax" if is_max else "umin"
    return Reducer((ty,), lambda: (_extreme(dtype, high=not is_max),), lambda b, x: widen(b, x, dtype),
                   lambda b, acc, x, _: (call_intrinsic(b, name, acc[0], x),),
                   lambda b, acc, count: narrow(b, acc[0], dtype))


def _arg_reducer(dtype: DType, is_max: bool) -> Reducer:
    ty = lltype(compute_dtype(dtype))

    def step(b: ll.IRBuilder, acc: tuple[ll.Value, ...], x: ll.Value,
             ridx: ll.Value) -> tuple[ll.Value, ...]:
        best, at = acc
        cmp = ">" if is_max else "<"
        if dtype.is_floating:
            # Strictly better, or the first NaN (numpy treats NaN as the extreme, first one wins).
            better = b.or_(b.fcmp_ordered(cmp, x, best),
                           b.and_(b.fcmp_unordered("uno", x, x), b.fcmp_ordered("ord", best, best)))
        elif dtype.is_signed:
            better = b.icmp_signed(cmp, x, best)
        else:
            better = b.icmp_unsigned(cmp, x, best)
        return b.select(better, x, best), b.select(better, ridx, at)

    # Starting from the far end with index 0 keeps index 0 when every element equals it.
    return Reducer((ty, I64), lambda: (_extreme(dtype, high=not is_max), i64(0)),
                   lambda b, x: widen(b, x, dtype), step,
                   lambda b, acc, count: b.trunc(acc[1], I32))


def _reducer(op: Op, dtype: DType) -> Reducer:
    if op in (Op.REDUCE_SUM, Op.REDUCE_MEAN):
        return _sum_reducer(dtype, mean=op is Op.REDUCE_MEAN)
    if op in (Op.REDUCE_MAX, Op.REDUCE_MIN):
        return _minmax_reducer(dtype, is_max=op is Op.REDUCE_MAX)
    return _arg_reducer(dtype, is_max=op is Op.ARGMAX)


@dataclass
class _Run:
    extent: ll.Value
    reduced: bool


def _runs(ctx: KernelContext, axes: tuple[int, ...]) -> list[_Run]:
    """The input's axes without static 1s, adjacent axes of the same kind merged."""
    runs: list[_Run] = []
    for i, d in enumerate(ctx.node.inputs[0].shape):
        if is_one(d):
            continue
        red = i in axes
        if runs and runs[-1].reduced == red:
            runs[-1].extent = mul(ctx.builder, runs[-1].extent, ctx.dim(d))
        else:
            runs.append(_Run(ctx.dim(d), red))
    return runs


def emit_reduction(ctx: KernelContext, reducer: Reducer, axes: tuple[int, ...]) -> None:
    """Writes ``out = fold(reducer, input over axes)``; the output layout ignores keepdims (same bytes)."""
    b = ctx.builder
    x, out = ctx.node.inputs[0], ctx.node.output
    src, dst = ctx.inputs[0], ctx.outputs[0]
    runs = _runs(ctx, axes)
    in_strides = ctx.strides([r.extent for r in runs])
    kept = [i for i, r in enumerate(runs) if not r.reduced]
    red = [i for i, r in enumerate(runs) if r.reduced]
    out_strides = ctx.strides([runs[i].extent for i in kept])
    red_strides = ctx.strides([runs[i].extent for i in red])   # index along the reduced axes
    count = product(b, [runs[i].extent for i in red])

    def fold(acc: tuple[ll.Value, ...], rivs: list[ll.Value], at: ll.Value) -> tuple[ll.Value, ...]:
        xv = reducer.load(b, ctx.load(src, x.dtype, at))
        return reducer.step(b, acc, xv, offset(b, rivs, red_strides))

    if not runs or runs[-1].reduced:
        # Scalar accumulators per output element (mem2reg turns them into registers).
        slots = [entry_alloca(b, t, name="acc") for t in reducer.acc_types]
        with loop_nest(b, [runs[i].extent for i in kept], name="k") as kivs:
            for s, v in zip(slots, reducer.init()):
                b.store(v, s)
            base = offset(b, kivs, [in_strides[i] for i in kept])
            with loop_nest(b, [runs[i].extent for i in red], name="r") as rivs:
                at = add(b, base, offset(b, rivs, [in_strides[i] for i in red]))
                acc = tuple(b.load(s, typ=t) for s, t in zip(slots, reducer.acc_types))
                for s, v in zip(slots, fold(acc, rivs, at)):
                    b.store(v, s)
            acc = tuple(b.load(s, typ=t) for s, t in zip(slots, reducer.acc_types))
            ctx.store(reducer.finish(b, acc, count), dst, out.dtype, offset(b, kivs, out_strides))
        return

    # Innermost run kept: contiguous in both input and output. Accumulate a tile of it.
    inner = runs[-1].extent
    outer = kept[:-1]
    static = isinstance(inner, ll.Constant)
    tile = min(TILE, int(inner.constant)) if static else TILE
    tiles = [entry_alloca(b, t, tile, name="tile") for t in reducer.acc_types]

    def elem(arr: ll.Value, ty: ll.Type, k: ll.Value) -> ll.Value:
        return b.gep(arr, [k], inbounds=True, source_etype=ty)

    with loop_nest(b, [runs[i].extent for i in outer], name="k") as kivs:
        with for_range(b, 0, inner, step=tile, name="t") as t0:
            # A constant trip count when the kept run fits one tile helps the vectorizer.
            width = i64(tile) if static and tile == int(inner.constant) else \
                call_intrinsic(b, "smin", i64(tile), b.sub(inner, t0))
            with for_range(b, 0, width, name="z") as k:
                for arr, t, v in zip(tiles, reducer.acc_types, reducer.init()):
                    b.store(v, elem(arr, t, k))
            base = add(b, offset(b, kivs, [in_strides[i] for i in outer]), t0)
            with loop_nest(b, [runs[i].extent for i in red], name="r") as rivs:
                row = add(b, base, offset(b, rivs, [in_strides[i] for i in red]))
                with for_range(b, 0, width, name="j") as k:
                    acc = tuple(b.load(elem(arr, t, k), typ=t) for arr, t in zip(tiles, reducer.acc_types))
                    for arr, v in zip(tiles, fold(acc, rivs, b.add(row, k))):
                        b.store(v, elem(arr, v.type, k))
            obase = add(b, offset(b, kivs, [out_strides[kept.index(i)] for i in outer]), t0)
            with for_range(b, 0, width, name="w") as k:
                acc = tuple(b.load(elem(arr, t, k), typ=t) for arr, t in zip(tiles, reducer.acc_types))
                ctx.store(reducer.finish(b, acc, count), dst, out.dtype, b.add(obase, k))


@lowering(Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_MEAN)
def emit_reduce(ctx: KernelContext) -> None:
    """sum / max / min / mean over ``attrs.axes`` (keepdims does not change the bytes)."""
    attrs: ReduceAttrs = ctx.node.attrs
    emit_reduction(ctx, _reducer(ctx.node.op, ctx.node.inputs[0].dtype), attrs.axes)


@lowering(Op.ARGMAX, Op.ARGMIN)
def emit_arg_reduce(ctx: KernelContext) -> None:
    """argmax / argmin along ``attrs.axis`` as int32, the first index winning ties."""
    attrs: ArgReduceAttrs = ctx.node.attrs
    emit_reduction(ctx, _reducer(ctx.node.op, ctx.node.inputs[0].dtype), (attrs.axis,))

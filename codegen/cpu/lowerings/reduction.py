"""CPU lowering of reductions (sum, max, min, mean over any axes) and arg-reductions.

The input's axes are first simplified: static size-1 axes are dropped and
adjacent axes of the same kind (both reduced or both kept) are merged, which
is exact for a contiguous row-major buffer. What remains alternates kept and
reduced runs, and the loop order follows the innermost run so that the inner
loop always walks contiguous memory:

* innermost run reduced (e.g. the last axis): per output element, ``UNROLL``
  vector accumulators run down the contiguous run (several, so the adds'
  latency overlaps), then one vector, then a scalar tail; the vectors are
  combined and reduced across lanes at the end;
* innermost run kept (e.g. the batch axis of a gradient (N, C) -> (C,), or
  the spatial axes of global average pooling (N, H*W, C) -> (N, C)): a strip
  of ``UNROLL`` vectors of adjacent outputs is held in registers while the
  reduced axes are walked, each step adding a contiguous slice of an input
  row; then single vectors, then scalar columns.

sum / mean / max / min use these explicit vector loops (``emit_reduce``) and
split their outermost kept loop across threads; argmax / argmin keep the
scalar loops of ``emit_reduction`` (first index of ties, NaN rules).

Accuracy: float32 (and float16) sums are accumulated in float64 and rounded
once. numpy's pairwise float32 summation is then matched to well within
rtol 1e-5 at any size, and the order of the adds (lanes, several
accumulators) does not matter at double precision. Widening costs one
conversion per element, which is free in a loop bound by memory. float64 sums
accumulate in float64, reassociated the same way; integer sums wrap in the
element type, which equals numpy's wider sum cast back.

max/min propagate NaN like numpy (llvm.maximum/minimum); argmax/argmin return
the first index of the extreme value, a NaN counting as the extreme.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import llvmlite.ir as ll

from codegen.cpu.host import cpu_info
from codegen.cpu.kernel import (F32, F64, I32, I64, KernelContext, add, for_range, i64, lltype,
                                loop_nest, lowering, mul)
from codegen.cpu.lowerings._support import (call_intrinsic, compute_dtype, declare, entry_alloca, f64_to_f16,
                                            is_one, like, masked_load, masked_store, narrow, offset,
                                            product, splat, tail_mask, type_suffix, widen)
from codegen.cpu.parallel import parallel_for
from ir.attrs import ArgReduceAttrs, ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op

TILE = 256        # output elements accumulated at once when the innermost axis is kept (arg ops)
UNROLL = 4        # independent vector accumulators: hides the latency of the adds
THREADS_FROM = 1 << 14   # static input elements (batch counted as 1) from which threads are used


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


@dataclass(frozen=True)
class _Fold:
    """sum / max / min on scalars or vectors: the accumulator's element type and the steps."""

    dtype: DType                  # the input's (and output's) dtype
    kind: str                     # "sum", "mean", "max" or "min"

    @property
    def acc(self) -> ll.Type:
        if self.kind in ("sum", "mean") and self.dtype.is_floating:
            return F64
        return lltype(compute_dtype(self.dtype))

    def init(self, count: int | None) -> ll.Constant:
        if self.kind in ("sum", "mean"):
            v = ll.Constant(self.acc, 0.0 if self.dtype.is_floating else 0)
        else:
            v = _extreme(self.dtype, high=self.kind == "min")
        return v if count is None else ll.Constant(ll.VectorType(self.acc, count), v.constant)

    def stored_identity(self, count: int) -> ll.Constant:
        """The identity as ``count`` stored elements (what masked-off lanes load as)."""
        ty = ll.VectorType(lltype(self.dtype), count)
        if self.kind in ("sum", "mean"):
            return ll.Constant(ty, 0.0 if self.dtype.is_floating else 0)
        return ll.Constant(ty, _extreme(self.dtype, high=self.kind == "min").constant)

    def load(self, b: ll.IRBuilder, x: ll.Value) -> ll.Value:
        x = widen(b, x, self.dtype)
        target = like(x.type, self.acc)
        return b.fpext(x, target) if x.type != target else x

    def _name(self) -> str:
        if self.kind in ("sum", "mean"):
            return "add"
        if self.dtype.is_floating:
            return "maximum" if self.kind == "max" else "minimum"     # NaN-propagating
        return ("s" if self.dtype.is_signed else "u") + self.kind

    def step(self, b: ll.IRBuilder, a: ll.Value, x: ll.Value) -> ll.Value:
        name = self._name()
        if name == "add":
            return b.fadd(a, x) if self.dtype.is_floating else b.add(a, x)
        if self.dtype.is_floating:
            # (x beyond a) or x is NaN ? x : a. NaN sticks once taken, as with llvm.maximum,
            # in 4 AVX-512 instructions instead of its 6 (no ordering of +-0 needed: they
            # compare equal, and numpy's max leaves either). The lanes are combined with
            # llvm.vector.reduce.fmaximum / fminimum at the end.
            beyond = b.fcmp_ordered(">" if self.kind == "max" else "<", x, a)
            return b.select(b.or_(beyond, b.fcmp_unordered("uno", x, x)), x, a)
        return call_intrinsic(b, name, a, x)

    def across(self, b: ll.IRBuilder, v: ll.Value) -> ll.Value:
        """The lanes of ``v`` folded into one scalar (in any order: see the module docstring)."""
        name = self._name()
        if name == "add" and self.dtype.is_floating:
            fn = _declare_reduce(b, "vector.reduce.fadd", v.type, start=True)
            return b.call(fn, [ll.Constant(self.acc, 0.0), v], fastmath=("reassoc",))
        if self.dtype.is_floating:
            # A NaN in any lane makes the result NaN; otherwise the plain max/min of the
            # lanes (nnan, nsz: ~half the instructions of vector.reduce.fmaximum).
            nan = call_intrinsic(b, "vector.reduce.or", b.fcmp_unordered("uno", v, v), ret=ll.IntType(1))
            red = "fmax" if self.kind == "max" else "fmin"
            m = b.call(_declare_reduce(b, f"vector.reduce.{red}", v.type, start=False), [v],
                       fastmath=("nnan", "nsz"))
            return b.select(nan, ll.Constant(self.acc, float("nan")), m)
        return b.call(_declare_reduce(b, f"vector.reduce.{name}", v.type, start=False), [v])

    def finish(self, b: ll.IRBuilder, acc: ll.Value, count: ll.Value) -> ll.Value:
        """The stored output value (scalar or vector, as ``acc``)."""
        if self.kind not in ("sum", "mean"):
            return narrow(b, acc, self.dtype)
        if not self.dtype.is_floating:
            return acc
        if self.kind == "mean":
            acc = b.fdiv(acc, splat(b, b.sitofp(count, F64), acc.type.count
                                    if isinstance(acc.type, ll.VectorType) else None))
        if self.dtype is DType.float16:
            return f64_to_f16(b, acc)         # one rounding, not two through float32
        return b.fptrunc(acc, like(acc.type, F32)) if self.dtype is DType.float32 else acc


def _declare_reduce(b: ll.IRBuilder, name: str, vty: ll.VectorType, start: bool) -> ll.Function:
    """``llvm.vector.reduce.<name>`` for ``vty`` (fadd takes a start value first)."""
    args = [vty.element, vty] if start else [vty]
    return declare(b.module, f"llvm.{name}.{type_suffix(vty)}", vty.element, args)


_KINDS = {Op.REDUCE_SUM: "sum", Op.REDUCE_MEAN: "mean", Op.REDUCE_MAX: "max", Op.REDUCE_MIN: "min"}


def _vload(ctx: KernelContext, fold: _Fold, at: ll.Value, lanes: int, mask: ll.Value | None = None
           ) -> ll.Value:
    """``lanes`` input elements from ``at``; with a mask, the fold's identity in the lanes off it."""
    dtype = fold.dtype
    vty = ll.VectorType(lltype(dtype), lanes)
    ptr = ctx.element_ptr(ctx.inputs[0], dtype, at)
    if mask is None:
        return ctx.builder.load(ptr, typ=vty, align=dtype.itemsize)
    return masked_load(ctx.builder, ptr, vty, mask, fold.stored_identity(lanes), dtype.itemsize)


def _vstore(ctx: KernelContext, v: ll.Value, dtype: DType, at: ll.Value, mask: ll.Value | None = None) -> None:
    ptr = ctx.element_ptr(ctx.outputs[0], dtype, at)
    if mask is None:
        ctx.builder.store(v, ptr, align=dtype.itemsize)
    else:
        masked_store(ctx.builder, v, ptr, mask, dtype.itemsize)


def _plan(ctx: KernelContext, axes: tuple[int, ...]):
    """Runs, their strides, and which are kept / reduced (recomputed inside thread workers)."""
    runs = _runs(ctx, axes)
    in_strides = ctx.strides([r.extent for r in runs])
    kept = [i for i, r in enumerate(runs) if not r.reduced]
    red = [i for i, r in enumerate(runs) if r.reduced]
    out_strides = ctx.strides([runs[i].extent for i in kept])
    return runs, in_strides, kept, red, out_strides


def _emit_last_reduced(ctx: KernelContext, fold: _Fold, axes: tuple[int, ...], lanes: int,
                       lo: ll.Value | None, hi: ll.Value | None) -> None:
    """Innermost run reduced: outputs [lo, hi) of the first kept run (every output when lo is None)."""
    b = ctx.builder
    out = ctx.node.output
    runs, in_strides, kept, red, out_strides = _plan(ctx, axes)
    count = product(b, [runs[i].extent for i in red])
    inner = runs[-1].extent
    outer_red = red[:-1]
    vty = ll.VectorType(fold.acc, lanes)
    slots = [entry_alloca(b, vty, name="acc") for _ in range(UNROLL)]
    # Runs of known length up to 4 * UNROLL vectors are unrolled completely.
    static = int(inner.constant) if isinstance(inner, ll.Constant) and \
        int(inner.constant) <= 4 * UNROLL * lanes else None
    used = slots if static is None else slots[:max(1, min(UNROLL, -(-static // lanes)))]

    def add_vector(sl: ll.Value, at: ll.Value, mask: ll.Value | None = None) -> None:
        v = fold.load(b, _vload(ctx, fold, at, lanes, mask))
        b.store(fold.step(b, b.load(sl, typ=vty), v), sl)

    def run(base: ll.Value) -> None:
        """Folds the contiguous run at ``base`` into the accumulators."""
        if static is not None:
            # A short run of known length (softmax over 10 classes, 32 channels):
            # straight-line vectors into as many accumulators, no loops.
            for k in range(static // lanes):
                add_vector(used[k % len(used)], add(b, base, i64(k * lanes)))
            if static % lanes:
                add_vector(used[(static // lanes) % len(used)], add(b, base, i64(static // lanes * lanes)),
                           tail_mask(b, i64(static % lanes), lanes))
            return
        big = b.and_(inner, i64(-(UNROLL * lanes)))
        with for_range(b, 0, big, step=UNROLL * lanes, name="u") as j:
            for u, sl in enumerate(slots):
                add_vector(sl, add(b, base, b.add(j, i64(u * lanes))))
        vec = b.and_(inner, i64(-lanes))
        with for_range(b, big, vec, step=lanes, name="v") as j:
            add_vector(slots[0], add(b, base, j))
        with b.if_then(b.icmp_signed("<", vec, inner)):
            # The tail: one masked vector, the identity in the lanes past the end.
            add_vector(slots[1], add(b, base, vec), tail_mask(b, b.sub(inner, vec), lanes))

    def per_output(kivs: list[ll.Value]) -> None:
        for sl in used:
            b.store(fold.init(lanes), sl)
        kbase = offset(b, kivs, [in_strides[i] for i in kept])
        with loop_nest(b, [runs[i].extent for i in outer_red], name="r") as rivs:
            run(add(b, kbase, offset(b, rivs, [in_strides[i] for i in outer_red])))
        accs = [b.load(sl, typ=vty) for sl in used]
        while len(accs) > 1:
            accs = [fold.step(b, accs[k], accs[k + 1]) if k + 1 < len(accs) else accs[k]
                    for k in range(0, len(accs), 2)]
        total = fold.across(b, accs[0])
        ctx.store(fold.finish(b, total, count), ctx.outputs[0], out.dtype, offset(b, kivs, out_strides))

    if not kept:
        per_output([])
        return
    if lo is None:
        with loop_nest(b, [runs[i].extent for i in kept], name="k") as kivs:
            per_output(kivs)
        return
    with for_range(b, lo, hi, name="k0") as k0:
        with loop_nest(b, [runs[i].extent for i in kept[1:]], name="k") as kivs:
            per_output([k0, *kivs])


# Columns per work item when a kept-innermost reduction has no outer kept run to split.
# (Register strips beat accumulating whole rows into an L1 column block here, 0.24 vs
# 0.35 ms for (128, 21632) -> (21632,): one load per element instead of three.)
COLUMNS = 1024


def _kept_items(ctx: KernelContext, axes: tuple[int, ...]) -> ll.Value:
    """Work items of a kept-innermost reduction: rows of the first outer kept run, else column chunks."""
    runs = _runs(ctx, axes)
    outer = [r for r in runs[:-1] if not r.reduced]
    if outer:
        return outer[0].extent
    inner = runs[-1].extent
    if isinstance(inner, ll.Constant):
        return i64(-(-int(inner.constant) // COLUMNS))
    return ctx.builder.sdiv(ctx.builder.add(inner, i64(COLUMNS - 1)), i64(COLUMNS))


def _emit_last_kept(ctx: KernelContext, fold: _Fold, axes: tuple[int, ...], lanes: int,
                    lo: ll.Value | None, hi: ll.Value | None) -> None:
    """Innermost run kept: items [lo, hi) of ``_kept_items`` (everything when lo is None)."""
    b = ctx.builder
    out = ctx.node.output
    runs, in_strides, kept, red, out_strides = _plan(ctx, axes)
    count = product(b, [runs[i].extent for i in red])
    inner = runs[-1].extent
    outer = kept[:-1]
    vty = ll.VectorType(fold.acc, lanes)

    def strip(kivs: list[ll.Value], c: ll.Value, n_vec: int, mask: ll.Value | None = None) -> None:
        """Outputs [c, c + n_vec * lanes) of one inner run (``mask``: the lanes that exist),
        accumulated in registers while the reduced rows go by."""
        slots = [entry_alloca(b, vty, name="col") for _ in range(n_vec)]
        for sl in slots:
            b.store(fold.init(lanes), sl)
        ibase = add(b, offset(b, kivs, [in_strides[i] for i in outer]), c)
        obase = add(b, offset(b, kivs, [out_strides[kept.index(i)] for i in outer]), c)
        with loop_nest(b, [runs[i].extent for i in red], name="r") as rivs:
            row = add(b, ibase, offset(b, rivs, [in_strides[i] for i in red]))
            for u, sl in enumerate(slots):
                v = fold.load(b, _vload(ctx, fold, add(b, row, i64(u * lanes)), lanes, mask))
                b.store(fold.step(b, b.load(sl, typ=vty), v), sl)
        for u, sl in enumerate(slots):
            _vstore(ctx, fold.finish(b, b.load(sl, typ=vty), count), out.dtype,
                    add(b, obase, i64(u * lanes)), mask)

    def strips(kivs: list[ll.Value], c0: ll.Value, c1: ll.Value) -> None:
        """Columns [c0, c1): strips of UNROLL vectors, then single vectors, then a masked one."""
        if isinstance(c0, ll.Constant) and isinstance(c1, ll.Constant):
            # Known width: what is left after the full strips goes in one more row pass
            # (e.g. 32 channels = 2 vectors, two independent accumulators).
            n = int(c1.constant) - int(c0.constant)
            big = int(c0.constant) + n // (UNROLL * lanes) * UNROLL * lanes
            with for_range(b, c0, i64(big), step=UNROLL * lanes, name="c") as c:
                strip(kivs, c, UNROLL)
            rest = int(c1.constant) - big
            if rest // lanes:
                strip(kivs, i64(big), rest // lanes)
            if rest % lanes:
                strip(kivs, i64(big + rest // lanes * lanes), 1, tail_mask(b, i64(rest % lanes), lanes))
            return
        big = b.add(c0, b.and_(b.sub(c1, c0), i64(-(UNROLL * lanes))))
        with for_range(b, c0, big, step=UNROLL * lanes, name="c") as c:
            strip(kivs, c, UNROLL)
        vec = b.add(big, b.and_(b.sub(c1, big), i64(-lanes)))
        with for_range(b, big, vec, step=lanes, name="cv") as c:
            strip(kivs, c, 1)
        with b.if_then(b.icmp_signed("<", vec, c1)):
            strip(kivs, vec, 1, tail_mask(b, b.sub(c1, vec), lanes))

    if lo is None:
        with loop_nest(b, [runs[i].extent for i in outer], name="k") as kivs:
            strips(kivs, i64(0), inner)
        return
    if not outer:
        with for_range(b, lo, hi, name="chunk") as k:
            c0 = b.mul(k, i64(COLUMNS))
            strips([], c0, call_intrinsic(b, "smin", b.add(c0, i64(COLUMNS)), inner))
        return
    with for_range(b, lo, hi, name="k0") as k0:
        with loop_nest(b, [runs[i].extent for i in outer[1:]], name="k") as kivs:
            strips([k0, *kivs], i64(0), inner)


@lowering(Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_MEAN)
def emit_reduce(ctx: KernelContext) -> None:
    """sum / max / min / mean over ``attrs.axes`` (keepdims does not change the bytes)."""
    attrs: ReduceAttrs = ctx.node.attrs
    x = ctx.node.inputs[0]
    fold = _Fold(x.dtype, _KINDS[ctx.node.op])
    runs = _runs(ctx, attrs.axes)
    if not runs:
        emit_reduction(ctx, _reducer(ctx.node.op, x.dtype), attrs.axes)
        return
    # Lanes of the loaded type, at least 4; float32 sums widen each vector to float64.
    lanes = max(4, cpu_info().lanes(compute_dtype(x.dtype)))
    b = ctx.builder
    static = 1
    for d in x.shape:
        static *= d if isinstance(d, int) else 1
    if static < THREADS_FROM:
        # Small: no outlined worker (it would about triple the kernel's compile time).
        emit = _emit_last_reduced if runs[-1].reduced else _emit_last_kept
        emit(ctx, fold, attrs.axes, lanes, None, None)
        return
    if runs[-1].reduced:
        emit = _emit_last_reduced
        outer = [r for r in runs[:-1] if not r.reduced]
        if not outer:
            emit(ctx, fold, attrs.axes, lanes, None, None)      # one output: no worker
            return
        items = outer[0].extent
    else:
        emit = _emit_last_kept
        items = _kept_items(ctx, attrs.axes)
        if isinstance(items, ll.Constant) and items.constant == 1:
            emit(ctx, fold, attrs.axes, lanes, None, None)      # one item: no worker
            return
    per_item = b.sdiv(product(b, [r.extent for r in runs]), items)    # elements per item, about

    def body(wctx: KernelContext, lo: ll.Value, hi: ll.Value, _: list) -> None:
        emit(wctx, fold, attrs.axes, lanes, lo, hi)

    parallel_for(ctx, items, body, cost_per_item=per_item)


@lowering(Op.ARGMAX, Op.ARGMIN)
def emit_arg_reduce(ctx: KernelContext) -> None:
    """argmax / argmin along ``attrs.axis`` as int32, the first index winning ties."""
    attrs: ArgReduceAttrs = ctx.node.attrs
    emit_reduction(ctx, _reducer(ctx.node.op, ctx.node.inputs[0].dtype), (attrs.axis,))

"""CPU lowerings of the sliding-window ops over channels-last tensors: CONV, POOL and
POOL_GRAD (pooling's adjoint, for autodiff).

All three are direct: no im2col buffer and no padded or dilated copy of the input.
For each batch element and output position the kernel visits the window
offsets whose input position exists, and updates the output's channel row,
which is contiguous in NHWC, so the innermost loop is unit-stride and LLVM
vectorizes it. Along one spatial axis, window offset ``k`` of output position
``o`` reads the position ``p = o*stride + k*dilation - pad_lo`` of the
zero-dilated input; ``p`` names a real element iff ``0 <= p < (size-1)*lhs + 1``
and ``p % lhs == 0`` (then the element is ``p // lhs``). Padding and the holes
``lhs_dilation`` inserts contribute nothing to a convolution, never win a
max and are not counted by an average, so skipping them by index arithmetic
is exactly the reference's meaning.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import (I64, KernelContext, LoweringError, for_range, i64, linear_index,
                                lltype, loop_nest, lowering, mul)
from codegen.cpu.lowerings._support import entry_alloca
from codegen.cpu.lowerings.linalg import Arith
from ir.attrs import ConvAttrs, PoolAttrs, PoolKind
from ir.dtypes import DType
from ir.opcodes import Op

# float16 convolution is left out for the reason linalg.MATMUL_DTYPES gives: numpy's
# reference accumulates half products in float32.
CONV_DTYPES = frozenset({DType.float32, DType.float64})


def _row_strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of a static shape."""
    out, acc = [1] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        out[i] = acc
        acc *= shape[i]
    return out


@contextlib.contextmanager
def _window_taps(b: ll.IRBuilder, out_pos: Sequence[ll.Value], window: Sequence[int],
                 sizes: Sequence[int], strides: Sequence[int], pads: Sequence[tuple[int, int]],
                 dilation: Sequence[int], lhs: Sequence[int]
                 ) -> Iterator[tuple[list[ll.Value], list[ll.Value]]]:
    """Loops over the window offsets of one output position that land on a real input element.

    Yields ``(offsets, input_positions)``, one i64 per spatial axis; the body runs only for taps
    inside the input and off the ``lhs`` holes. Each axis is tested as soon as its offset is
    known, so a tap that misses on an outer axis skips the whole inner sub-window.
    """
    with contextlib.ExitStack() as stack:
        offs: list[ll.Value] = []
        pos: list[ll.Value] = []
        for d, k in enumerate(window):
            kk = stack.enter_context(for_range(b, 0, k, name=f"w{d}"))
            offs.append(kk)
            # p = o*stride + k*dilation - pad_lo, on the zero-dilated input.
            p = b.sub(b.add(mul(b, out_pos[d], i64(strides[d])), mul(b, kk, i64(dilation[d]))),
                      i64(pads[d][0]))
            extent = (sizes[d] - 1) * lhs[d] + 1 if sizes[d] > 0 else 0
            # With no padding and no holes every tap is in range (window_output_size guarantees
            # it), so no test is emitted and the loops stay branch-free.
            conds: list[ll.Value] = []
            if pads[d][0] > 0 or extent == 0:
                conds.append(b.icmp_signed(">=", p, i64(0)))
            if pads[d][1] > 0 or extent == 0:
                conds.append(b.icmp_signed("<", p, i64(extent)))
            if lhs[d] > 1:
                # p < 0 only happens with pad_lo > 0, where the p >= 0 test above is and-ed in,
                # so the unsigned remainder of a negative p never decides anything.
                conds.append(b.icmp_unsigned("==", b.urem(p, i64(lhs[d])), i64(0)))
                p = b.udiv(p, i64(lhs[d]))
            pos.append(p)
            if conds:
                ok: ll.Value = conds[0]
                for c in conds[1:]:
                    ok = b.and_(ok, c)
                stack.enter_context(b.if_then(ok))
        yield offs, pos


@lowering(Op.CONV)
def emit_conv(ctx: KernelContext) -> None:
    """Direct NHWC convolution; the innermost loop runs over a group's output channels."""
    node = ctx.node
    a: ConvAttrs = node.attrs
    x, w = node.inputs
    out = node.output
    dt = out.dtype
    if dt not in CONV_DTYPES:
        raise LoweringError(f"{node.name}: no CPU convolution for {dt.name} "
                            f"(supported: float32, float64); cast to float32 first")
    arith = Arith(dt)
    b = ctx.builder
    nsp = w.type.rank - 2
    in_sp = [int(s) for s in x.shape[1:-1]]
    out_sp = [int(s) for s in out.shape[1:-1]]
    window = [int(s) for s in w.shape[:nsp]]
    cin, cin_g, cout = int(x.shape[-1]), int(w.shape[-2]), int(w.shape[-1])
    groups = a.groups
    cout_g = cout // groups

    x_str = _row_strides([*in_sp, cin])            # per spatial axis, then channels
    o_str = _row_strides([*out_sp, cout])
    w_str = _row_strides([*window, cin_g, cout])
    x_img, o_img = _numel([*in_sp, cin]), _numel([*out_sp, cout])
    x_ptr, w_ptr, o_ptr = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]

    with for_range(b, 0, ctx.dim(x.shape[0]), name="n") as n:
        x_n = ctx.element_ptr(x_ptr, dt, mul(b, n, i64(x_img)))
        o_n = ctx.element_ptr(o_ptr, dt, mul(b, n, i64(o_img)))
        with loop_nest(b, [i64(s) for s in out_sp], name="o") as opos:
            o_row = ctx.element_ptr(o_n, dt, linear_index(b, opos, [i64(s) for s in o_str[:-1]]))
            with for_range(b, 0, cout, name="zero") as co:
                ctx.store(arith.zero, o_row, dt, co)
            with _window_taps(b, opos, window, in_sp, a.strides, a.padding, a.dilation,
                              a.lhs_dilation) as (offs, pos):
                x_pix = ctx.element_ptr(x_n, dt, linear_index(b, pos, [i64(s) for s in x_str[:-1]]))
                w_tap = ctx.element_ptr(w_ptr, dt, linear_index(b, offs, [i64(s) for s in w_str[:-2]]))
                # With groups == 1 (or cout_g == 1, depthwise) one of these loops has a
                # constant trip count of 1 and LLVM deletes it, leaving a unit-stride innermost loop.
                with for_range(b, 0, groups, name="g") as g:
                    x_g = ctx.element_ptr(x_pix, dt, mul(b, g, i64(cin_g)))
                    o_g = ctx.element_ptr(o_row, dt, mul(b, g, i64(cout_g)))
                    w_g = ctx.element_ptr(w_tap, dt, mul(b, g, i64(cout_g)))
                    with for_range(b, 0, cin_g, name="ci") as ci:
                        xv = ctx.load(x_g, dt, ci)
                        w_row = ctx.element_ptr(w_g, dt, mul(b, ci, i64(cout)))
                        with for_range(b, 0, cout_g, name="co") as co:
                            acc = ctx.load(o_g, dt, co)
                            ctx.store(arith.multiply_add(b, acc, xv, ctx.load(w_row, dt, co)),
                                      o_g, dt, co)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _smax(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def _smin(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _maximum(module: ll.Module, ty: ll.Type) -> ll.Function:
    """``llvm.maximum``: NaN-propagating like ``np.maximum``, and it vectorizes."""
    name = f"llvm.maximum.{ {'half': 'f16', 'float': 'f32', 'double': 'f64'}[str(ty)] }"
    if name in module.globals:
        return module.globals[name]
    return ll.Function(module, ll.FunctionType(ty, [ty, ty]), name)


def _pool_window(b: ll.IRBuilder, a: PoolAttrs, opos: Sequence[ll.Value], in_sp: Sequence[int]
                 ) -> tuple[list[ll.Value], list[tuple[ll.Value, ll.Value]], ll.Value]:
    """The real taps of the pooling window at output position ``opos``.

    Along each axis the taps k with ``0 <= o*s + k - pad_lo < size`` form one interval
    ``[lo, hi)``: returns per axis the window's first input position ``start`` and that
    interval, and the number of real taps (an average's divisor). Everything is computed
    here, before any tap loop, so the count dominates its uses.
    """
    count: ll.Value = i64(1)
    starts, bounds = [], []
    for d in range(len(a.window)):
        start = b.sub(mul(b, opos[d], i64(a.strides[d])), i64(a.padding[d][0]))
        lo = _smax(b, i64(0), b.sub(i64(0), start))
        hi = _smin(b, i64(a.window[d]), b.sub(i64(in_sp[d]), start))
        count = mul(b, count, _smax(b, i64(0), b.sub(hi, lo)))
        starts.append(start)
        bounds.append((lo, hi))
    return starts, bounds, count


@contextlib.contextmanager
def _pool_taps(b: ll.IRBuilder, starts: Sequence[ll.Value], bounds: Sequence[tuple[ll.Value, ll.Value]]
               ) -> Iterator[list[ll.Value]]:
    """Loops over the real taps in row-major window order; yields the input position per axis."""
    with contextlib.ExitStack() as stack:
        pos: list[ll.Value] = []
        for d, (start, (lo, hi)) in enumerate(zip(starts, bounds)):
            k = stack.enter_context(for_range(b, lo, hi, name=f"w{d}"))
            pos.append(b.add(start, k))
        yield pos


@lowering(Op.POOL)
def emit_pool(ctx: KernelContext) -> None:
    """Max / average pooling; window bounds are clamped per axis so no tap needs a test."""
    node = ctx.node
    a: PoolAttrs = node.attrs
    x, out = node.inputs[0], node.output
    dt = out.dtype
    if not dt.is_floating:
        raise LoweringError(f"{node.name}: pooling needs a floating dtype, received {dt.name}")
    ty = lltype(dt)
    b = ctx.builder
    in_sp = [int(s) for s in x.shape[1:-1]]
    out_sp = [int(s) for s in out.shape[1:-1]]
    ch = int(x.shape[-1])
    x_str = _row_strides([*in_sp, ch])
    o_str = _row_strides([*out_sp, ch])
    is_max = a.kind is PoolKind.MAX
    init = ll.Constant(ty, float("-inf") if is_max else 0.0)
    maximum = _maximum(ctx.module, ty) if is_max else None
    x_ptr, o_ptr = ctx.inputs[0], ctx.outputs[0]

    with for_range(b, 0, ctx.dim(x.shape[0]), name="n") as n:
        x_n = ctx.element_ptr(x_ptr, dt, mul(b, n, i64(_numel([*in_sp, ch]))))
        o_n = ctx.element_ptr(o_ptr, dt, mul(b, n, i64(_numel([*out_sp, ch]))))
        with loop_nest(b, [i64(s) for s in out_sp], name="o") as opos:
            o_row = ctx.element_ptr(o_n, dt, linear_index(b, opos, [i64(s) for s in o_str[:-1]]))
            with for_range(b, 0, ch, name="init") as c:
                ctx.store(init, o_row, dt, c)
            starts, bounds, count = _pool_window(b, a, opos, in_sp)
            with _pool_taps(b, starts, bounds) as pos:
                x_pix = ctx.element_ptr(x_n, dt, linear_index(b, pos, [i64(s) for s in x_str[:-1]]))
                with for_range(b, 0, ch, name="c") as c:
                    acc = ctx.load(o_row, dt, c)
                    v = ctx.load(x_pix, dt, c)
                    ctx.store(b.call(maximum, [acc, v]) if is_max else b.fadd(acc, v), o_row, dt, c)
            if not is_max:
                # Divide (not multiply by a reciprocal) so the result rounds like the reference's.
                # A window with no real element (only possible on an empty input) gives 0/0 = NaN,
                # as the reference does.
                denom = b.sitofp(count, ty)
                with for_range(b, 0, ch, name="avg") as c:
                    ctx.store(b.fdiv(ctx.load(o_row, dt, c), denom), o_row, dt, c)


# float16 is left out: the reference accumulates overlapping windows in float16 one add
# at a time, which only a float16 add per step reproduces; gradients are float32/float64.
POOL_GRAD_DTYPES = frozenset({DType.float32, DType.float64})


@lowering(Op.POOL_GRAD)
def emit_pool_grad(ctx: KernelContext) -> None:
    """dx of pooling: zero dx, then each window sends its dy to its taps (the reference's rule).

    max: a scan over the window's real taps in row-major order keeps, per channel, the
    best value and the position of the first tap holding it (a NaN beats any number,
    the first NaN stays), then adds dy there. avg: adds ``dy / count`` to every real tap.
    The per-channel scan state lives in two stack arrays, so the channel loop stays
    innermost and unit-stride as in ``emit_pool``.
    """
    node = ctx.node
    a: PoolAttrs = node.attrs
    x, dy = node.inputs
    out = node.output
    dt = out.dtype
    if dt not in POOL_GRAD_DTYPES:
        raise LoweringError(f"{node.name}: no CPU pool_grad for {dt.name} "
                            f"(supported: float32, float64); cast to float32 first")
    ty = lltype(dt)
    b = ctx.builder
    in_sp = [int(s) for s in x.shape[1:-1]]
    out_sp = [int(s) for s in dy.shape[1:-1]]
    ch = int(x.shape[-1])
    x_str = _row_strides([*in_sp, ch])
    o_str = _row_strides([*out_sp, ch])
    x_ptr, dy_ptr, dx_ptr = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    is_max = a.kind is PoolKind.MAX

    with for_range(b, 0, ctx.numel(out), name="z") as i:
        ctx.store(ll.Constant(ty, 0.0), dx_ptr, dt, i)
    if is_max:
        best = entry_alloca(b, ty, max(ch, 1), name="best")
        where = entry_alloca(b, I64, max(ch, 1), name="where")
    with for_range(b, 0, ctx.dim(x.shape[0]), name="n") as n:
        x_n = ctx.element_ptr(x_ptr, dt, mul(b, n, i64(_numel([*in_sp, ch]))))
        dx_n = ctx.element_ptr(dx_ptr, dt, mul(b, n, i64(_numel([*in_sp, ch]))))
        dy_n = ctx.element_ptr(dy_ptr, dt, mul(b, n, i64(_numel([*out_sp, ch]))))
        with loop_nest(b, [i64(s) for s in out_sp], name="o") as opos:
            dy_row = ctx.element_ptr(dy_n, dt, linear_index(b, opos, [i64(s) for s in o_str[:-1]]))
            starts, bounds, count = _pool_window(b, a, opos, in_sp)
            if not is_max:
                denom = b.sitofp(count, ty)
                with _pool_taps(b, starts, bounds) as pos:
                    dx_pix = ctx.element_ptr(dx_n, dt, linear_index(b, pos, [i64(s) for s in x_str[:-1]]))
                    with for_range(b, 0, ch, name="c") as c:
                        # dy / count per tap, not once per window: the same correctly rounded
                        # quotient the reference adds, and LLVM hoists it anyway.
                        share = b.fdiv(ctx.load(dy_row, dt, c), denom)
                        ctx.store(b.fadd(ctx.load(dx_pix, dt, c), share), dx_pix, dt, c)
            else:
                with for_range(b, 0, ch, name="init") as c:
                    ctx.store(ll.Constant(ty, float("-inf")), best, dt, c)
                    b.store(i64(-1), b.gep(where, [c], inbounds=True, source_etype=I64))
                with _pool_taps(b, starts, bounds) as pos:
                    pix = linear_index(b, pos, [i64(s) for s in x_str[:-1]])
                    x_pix = ctx.element_ptr(x_n, dt, pix)
                    with for_range(b, 0, ch, name="c") as c:
                        v = ctx.load(x_pix, dt, c)
                        old = ctx.load(best, dt, c)
                        at_ptr = b.gep(where, [c], inbounds=True, source_etype=I64)
                        at = b.load(at_ptr, typ=I64)
                        take = b.or_(b.or_(b.icmp_signed("<", at, i64(0)), b.fcmp_ordered(">", v, old)),
                                     b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", old, old)))
                        ctx.store(b.select(take, v, old), best, dt, c)
                        b.store(b.select(take, pix, at), at_ptr)
                with for_range(b, 0, ch, name="c") as c:
                    at = b.load(b.gep(where, [c], inbounds=True, source_etype=I64), typ=I64)
                    # Only an empty input leaves a window with no real tap (at = -1).
                    with b.if_then(b.icmp_signed(">=", at, i64(0))):
                        dst = ctx.element_ptr(dx_n, dt, b.add(at, c))
                        b.store(b.fadd(b.load(dst, typ=ty), ctx.load(dy_row, dt, c)), dst)

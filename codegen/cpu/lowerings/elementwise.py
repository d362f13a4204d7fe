"""CPU lowering of the elementwise ops: unary, binary, compare, select and cast.

One generic emitter loops over the output in row-major order, the innermost
loop walking unit-stride output memory, and loads every operand through its
own strides: stride 0 on the axes it is broadcast along (numpy rules, the
symbolic batch included). What happens to one element comes from a table,
op -> scalar rule, one table per dtype class (float, int, bool).

The numpy references in ir/ops/elementwise.py define every rule, edge cases
included: NaN-propagating maximum/minimum that pick numpy's operand on ties,
floor modulo, sign(0) = 0, half-to-even rounding, saturating float -> int
casts. float16 is computed in float32 and rounded once per op. float32
exp, expm1, log, log1p, tanh, sigmoid, erf, sin and cos are the polynomial
versions of codegen/cpu/vecmath.py, which vectorize (LLVM would scalarize libm
calls); other math goes through LLVM intrinsics, and libm (erf, expm1, log1p)
for float64.

Every rule works on scalars and on LLVM vectors alike (``<w x float>``, masks
as ``<w x i1>``), so ``emit_scalar`` is public for fused kernels (GEMM and
convolution epilogues, fusion groups) to apply the same rules to values they
already hold in registers. The map loop itself is explicit vector code: an
inner loop of ``w`` lanes along the contiguous output axis (operands walking
with unit stride load vectors, broadcast operands are splatted), one masked
vector for the tail, and for large maps the outer extent split across
threads (codegen/cpu/parallel.py).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import llvmlite.ir as ll

from codegen.cpu import vecmath
from codegen.cpu.host import cpu_info
from codegen.cpu.kernel import (F32, I1, I32, KernelContext, LoweringError, add, for_range, i64,
                                lltype, loop_nest, lowering, mul)
from codegen.cpu.lowerings._support import (call_intrinsic, compute_dtype, declare, element_type,
                                            f64_to_f16, is_one, lanes, like, masked_load, masked_store, narrow,
                                            offset, product, splat, tail_mask, widen)
from codegen.cpu.parallel import parallel_for
from ir.dtypes import DType
from ir.opcodes import BINARY_OPS, COMPARE_OPS, UNARY_OPS, Op
from ir.shapes import Shape


class Scalar:
    """What a scalar rule sees: the builder and the dtype it computes in (never float16).

    ``count`` is the lane count when the rule works on ``<count x ty>`` vectors
    (None for scalars); ``ty`` and ``const`` follow it, so rules are written once.
    """

    def __init__(self, b: ll.IRBuilder, dtype: DType, count: int | None = None):
        self.b = b
        self.dtype = dtype
        self.count = count
        self.ty = lltype(dtype) if count is None else ll.VectorType(lltype(dtype), count)

    @property
    def signed(self) -> bool:
        return self.dtype.is_signed

    def const(self, v: float | int) -> ll.Constant:
        return ll.Constant(self.ty, v)

    def intrinsic(self, name: str, *args: ll.Value) -> ll.Value:
        return call_intrinsic(self.b, name, *args)

    def libm(self, name: str, x: ll.Value) -> ll.Value:
        """The C library's ``namef`` (float32) or ``name`` (float64); MCJIT resolves them in-process.

        On vectors, one call per lane (what LLVM does with a vector intrinsic it has no
        vector library for).
        """
        el = element_type(self.ty)
        fn = declare(self.b.module, name + "f" if el == F32 else name, el, [el])
        if self.count is None:
            return self.b.call(fn, [x])
        out: ll.Value = ll.Constant(self.ty, ll.Undefined)
        for k in range(self.count):
            lane = ll.Constant(I32, k)
            out = self.b.insert_element(out, self.b.call(fn, [self.b.extract_element(x, lane)]), lane)
        return out

    def icmp(self, op: str, x: ll.Value, y: ll.Value) -> ll.Value:
        """Integer compare with the signedness of the dtype (bool and uint8 are unsigned)."""
        return (self.b.icmp_signed if self.signed else self.b.icmp_unsigned)(op, x, y)


Rule = Callable[..., ll.Value]   # (Scalar, *operands in the compute type) -> compute type or i1


# ---------------------------------------------------------------------------------------------
# float rules

def _f_sign(s: Scalar, x: ll.Value) -> ll.Value:
    b, zero = s.b, s.const(0.0)
    # numpy: 1 if x > 0, -1 if x < 0, 0 if x == 0 (either zero), else x (NaN stays NaN).
    rest = b.select(b.fcmp_ordered("==", x, zero), zero, x)
    rest = b.select(b.fcmp_ordered("<", x, zero), s.const(-1.0), rest)
    return b.select(b.fcmp_ordered(">", x, zero), s.const(1.0), rest)


def _f_sigmoid(s: Scalar, x: ll.Value) -> ll.Value:
    # The reference's stable form: exp only ever sees -|x|, so it cannot overflow.
    if s.dtype is DType.float32:
        return vecmath.sigmoid(s.b, x)
    b = s.b
    e = s.intrinsic("exp", b.fneg(s.intrinsic("fabs", x)))
    d = b.fadd(s.const(1.0), e)
    return b.select(b.fcmp_ordered(">=", x, s.const(0.0)), b.fdiv(s.const(1.0), d), b.fdiv(e, d))


def _f_mod(s: Scalar, x: ll.Value, y: ll.Value) -> ll.Value:
    # numpy's npy_divmod: fmod, then move a nonzero remainder to the divisor's side; an exact
    # zero takes the divisor's sign. fmod(x, 0) and fmod(inf, y) are NaN and stay NaN.
    b, zero = s.b, s.const(0.0)
    m = b.frem(x, y)
    wrong_side = b.xor(b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", m, zero))
    m = b.select(b.and_(b.fcmp_unordered("!=", m, zero), wrong_side), b.fadd(m, y), m)
    return b.select(b.fcmp_ordered("==", m, zero), s.intrinsic("copysign", zero, y), m)


def _f_maximum(s: Scalar, x: ll.Value, y: ll.Value) -> ll.Value:
    # numpy's loop is (x > y || isnan(x)) ? x : y: NaN in either operand wins, and on a tie
    # (0.0 vs -0.0) the second operand is returned. llvm.maximum differs on the tie.
    b = s.b
    return b.select(b.or_(b.fcmp_ordered(">", x, y), b.fcmp_unordered("uno", x, x)), x, y)


def _f_minimum(s: Scalar, x: ll.Value, y: ll.Value) -> ll.Value:
    b = s.b
    return b.select(b.or_(b.fcmp_ordered("<", x, y), b.fcmp_unordered("uno", x, x)), x, y)


def _intrinsic(name: str) -> Rule:
    return lambda s, *xs: s.intrinsic(name, *xs)


def _libm(name: str) -> Rule:
    return lambda s, x: s.libm(name, x)


def _math(vector: Callable[[ll.IRBuilder, ll.Value], ll.Value], other: Rule) -> Rule:
    """float32 through the vectorizable polynomial of vecmath, float64 through ``other``."""
    return lambda s, x: vector(s.b, x) if s.dtype is DType.float32 else other(s, x)


_FLOAT: dict[Op, Rule] = {
    Op.NEG: lambda s, x: s.b.fneg(x),
    Op.ABS: _intrinsic("fabs"),
    Op.EXP: _math(vecmath.exp, _intrinsic("exp")),
    Op.EXPM1: _math(vecmath.expm1, _libm("expm1")),
    Op.LOG: _math(vecmath.log, _intrinsic("log")),
    Op.LOG1P: _math(vecmath.log1p, _libm("log1p")),
    Op.SQRT: _intrinsic("sqrt"),
    # Two roundings, as the reference's 1 / sqrt(x); no approximate rsqrt.
    Op.RSQRT: lambda s, x: s.b.fdiv(s.const(1.0), s.intrinsic("sqrt", x)),
    Op.TANH: _math(vecmath.tanh, _intrinsic("tanh")),
    Op.SIGMOID: _f_sigmoid,
    Op.ERF: _math(vecmath.erf, _libm("erf")),
    Op.SIN: _math(vecmath.sin, _intrinsic("sin")),
    Op.COS: _math(vecmath.cos, _intrinsic("cos")),
    Op.FLOOR: _intrinsic("floor"),
    Op.CEIL: _intrinsic("ceil"),
    Op.ROUND: _intrinsic("roundeven"),
    Op.SIGN: _f_sign,
    Op.RECIPROCAL: lambda s, x: s.b.fdiv(s.const(1.0), x),
    Op.ADD: lambda s, x, y: s.b.fadd(x, y),
    Op.SUB: lambda s, x, y: s.b.fsub(x, y),
    Op.MUL: lambda s, x, y: s.b.fmul(x, y),
    Op.DIV: lambda s, x, y: s.b.fdiv(x, y),
    Op.POW: _intrinsic("pow"),
    Op.MOD: _f_mod,
    Op.MAXIMUM: _f_maximum,
    Op.MINIMUM: _f_minimum,
}
# NaN compares unequal to everything: only != is unordered.
_FLOAT.update({op: (lambda cmp: lambda s, x, y: s.b.fcmp_ordered(cmp, x, y))(cmp) for op, cmp in {
    Op.EQUAL: "==", Op.LESS: "<", Op.LESS_EQUAL: "<=", Op.GREATER: ">", Op.GREATER_EQUAL: ">=",
}.items()})
_FLOAT[Op.NOT_EQUAL] = lambda s, x, y: s.b.fcmp_unordered("!=", x, y)


# ---------------------------------------------------------------------------------------------
# integer rules (wrap-around arithmetic, as numpy's fixed-width integers)

def _i_abs(s: Scalar, x: ll.Value) -> ll.Value:
    if not s.signed:
        return x
    b = s.b
    return b.select(b.icmp_signed("<", x, s.const(0)), b.neg(x), x)   # abs(INT_MIN) wraps to INT_MIN


def _i_sign(s: Scalar, x: ll.Value) -> ll.Value:
    b = s.b
    if not s.signed:
        return b.zext(b.icmp_unsigned("!=", x, s.const(0)), s.ty)
    rest = b.select(b.icmp_signed("<", x, s.const(0)), s.const(-1), s.const(0))
    return b.select(b.icmp_signed(">", x, s.const(0)), s.const(1), rest)


def _i_mod(s: Scalar, x: ll.Value, y: ll.Value) -> ll.Value:
    # numpy gives 0 for x % 0. srem/urem by 0 (and INT_MIN srem -1) is undefined in LLVM, so
    # those divisors are replaced by 1, whose remainder is the right answer (0) anyway.
    b, zero, one = s.b, s.const(0), s.const(1)
    if not s.signed:
        return b.urem(x, b.select(b.icmp_unsigned("==", y, zero), one, y))
    bad = b.or_(b.icmp_signed("==", y, zero), b.icmp_signed("==", y, s.const(-1)))
    r = b.srem(x, b.select(bad, one, y))
    # srem takes the dividend's sign; floor modulo takes the divisor's.
    fix = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, y), zero))
    return b.select(fix, b.add(r, y), r)


def _i_pow(s: Scalar, x: ll.Value, e: ll.Value) -> ll.Value:
    """x ** e by repeated squaring, wrapping like numpy's integer power.

    numpy refuses negative integer exponents. Here x ** e for e < 0 is the real
    result truncated toward zero: 1 for x == 1, +-1 for x == -1, and 0 otherwise,
    0 ** e included (no trap, no error: kernels cannot raise).
    """
    b, zero, one = s.b, s.const(0), s.const(1)
    negative = b.icmp_signed("<", e, zero) if s.signed else None
    n = b.select(negative, zero, e) if negative is not None else e
    pre = b.block
    head = b.append_basic_block("pow.head")
    body = b.append_basic_block("pow.body")
    done = b.append_basic_block("pow.done")
    b.branch(head)
    b.position_at_end(head)
    r, base, k = b.phi(s.ty, "pow.r"), b.phi(s.ty, "pow.base"), b.phi(s.ty, "pow.k")
    r.add_incoming(one, pre)
    base.add_incoming(x, pre)
    k.add_incoming(n, pre)
    more = b.icmp_unsigned("!=", k, zero)
    if s.count is not None:     # vectors: loop while any lane has exponent bits left
        more = call_intrinsic(b, "vector.reduce.or", more, ret=I1)
    b.cbranch(more, body, done)
    b.position_at_end(body)
    r.add_incoming(b.select(b.trunc(k, like(s.ty, I1)), b.mul(r, base), r), body)
    base.add_incoming(b.mul(base, base), body)
    k.add_incoming(b.lshr(k, one), body)
    b.branch(head)
    b.position_at_end(done)
    if negative is None:
        return r
    minus_one_pow = b.select(b.trunc(e, like(s.ty, I1)), s.const(-1), one)
    small = b.select(b.icmp_signed("==", x, s.const(-1)), minus_one_pow, zero)
    small = b.select(b.icmp_signed("==", x, one), one, small)
    return b.select(negative, small, r)


_INT: dict[Op, Rule] = {
    Op.NEG: lambda s, x: s.b.neg(x),
    Op.ABS: _i_abs,
    Op.SIGN: _i_sign,
    Op.ADD: lambda s, x, y: s.b.add(x, y),
    Op.SUB: lambda s, x, y: s.b.sub(x, y),
    Op.MUL: lambda s, x, y: s.b.mul(x, y),
    Op.POW: _i_pow,
    Op.MOD: _i_mod,
    Op.MAXIMUM: lambda s, x, y: s.b.select(s.icmp(">", x, y), x, y),
    Op.MINIMUM: lambda s, x, y: s.b.select(s.icmp("<", x, y), x, y),
}
_COMPARES = {Op.EQUAL: "==", Op.NOT_EQUAL: "!=", Op.LESS: "<", Op.LESS_EQUAL: "<=",
             Op.GREATER: ">", Op.GREATER_EQUAL: ">="}
_INT.update({op: (lambda cmp: lambda s, x, y: s.icmp(cmp, x, y))(cmp) for op, cmp in _COMPARES.items()})

# bool is an i8 holding 0 or 1, so bitwise ops are the logical ones and compares are unsigned.
_BOOL: dict[Op, Rule] = {
    Op.LOGICAL_NOT: lambda s, x: s.b.xor(x, s.const(1)),
    Op.LOGICAL_AND: lambda s, x, y: s.b.and_(x, y),
    Op.LOGICAL_OR: lambda s, x, y: s.b.or_(x, y),
}
_BOOL.update({op: _INT[op] for op in _COMPARES})


def _select(s: Scalar, cond: ll.Value, x: ll.Value, y: ll.Value) -> ll.Value:
    return s.b.select(s.b.icmp_unsigned("!=", cond, ll.Constant(cond.type, 0)), x, y)


def _table(dtype: DType) -> dict[Op, Rule]:
    if dtype.is_floating:
        return _FLOAT
    return _BOOL if dtype is DType.bool else _INT


def scalar_rule(op: Op, dtype: DType) -> Rule:
    """The rule computing ``op`` on operands of ``dtype`` (for select: of its value operands)."""
    if op is Op.SELECT:
        return _select
    rule = _table(dtype).get(op)
    if rule is None:
        raise LoweringError(f"no CPU lowering for {op} on {dtype.name} operands")
    return rule


# ---------------------------------------------------------------------------------------------
# cast

def cast_value(b: ll.IRBuilder, x: ll.Value, src: DType, dst: DType) -> ll.Value:
    """A stored ``src`` value converted to a stored ``dst`` value, with the reference's semantics.

    float -> int saturates and maps NaN to 0 (llvm.fpto[su]i.sat); int -> int wraps
    (truncates or extends by the source's signedness); anything -> bool is ``!= 0``,
    so NaN is true and -0.0 false.
    """
    if src is dst:
        return x
    dty = like(x.type, lltype(dst))          # scalar or vector, as x
    if dst is DType.bool:
        if src.is_floating:
            return b.zext(b.fcmp_unordered("!=", x, ll.Constant(x.type, 0.0)), dty)
        return b.zext(b.icmp_unsigned("!=", x, ll.Constant(x.type, 0)), dty)
    if src.is_floating:
        x = widen(b, x, src)    # no half-precision conversions below: f32 handles every f16 value
        if dst.is_floating:
            if dst.itemsize > src.itemsize:
                return b.fpext(x, dty) if x.type != dty else x
            if src is DType.float64 and dst is DType.float16:
                return f64_to_f16(b, x)
            return b.fptrunc(x, dty)
        name = "fptosi.sat" if dst.is_signed else "fptoui.sat"
        return call_intrinsic(b, name, x, ret=dty, overloads=[dty, x.type])
    signed = src.is_signed           # bool holds 0/1 and converts as unsigned
    if dst.is_floating:
        # Every int that fits in float16 is exact in float32, so going through f32 rounds once.
        ty = like(x.type, F32) if dst is DType.float16 else dty
        v = b.sitofp(x, ty) if signed else b.uitofp(x, ty)
        return narrow(b, v, dst)
    sw, dw = element_type(x.type).width, element_type(dty).width
    if dw < sw:
        return b.trunc(x, dty)
    if dw > sw:
        return b.sext(x, dty) if signed else b.zext(x, dty)
    return x                          # int8 <-> uint8: same bits


# ---------------------------------------------------------------------------------------------
# the emitter

def emit_scalar(b: ll.IRBuilder, op: Op, attrs: Any, in_dtypes: Sequence[DType], out_dtype: DType,
                values: Sequence[ll.Value]) -> ll.Value:
    """One element of an elementwise op: stored operand values in, the stored result out.

    The values may also be LLVM vectors of one lane count (``<w x float>``, bool as
    ``<w x i8>``; scalars among them are splatted); the result is then a vector of the
    output's storage type, lane k being what the scalar rule gives for lane k.
    """
    if op is Op.CAST:
        return cast_value(b, values[0], in_dtypes[0], attrs.dtype)
    data = in_dtypes[1] if op is Op.SELECT else in_dtypes[0]
    rule = scalar_rule(op, data)
    counts = {lanes(v.type) for v in values} - {None}
    if len(counts) > 1:
        raise LoweringError(f"{op}: operands are vectors of different widths "
                            f"({', '.join(str(v.type) for v in values)})")
    count = counts.pop() if counts else None
    if count is not None:       # a scalar among vectors (a bias, a constant) is splatted
        values = [splat(b, v, count) if lanes(v.type) is None else v for v in values]
    args = [widen(b, v, d) for v, d in zip(values, in_dtypes)]
    return narrow(b, rule(Scalar(b, compute_dtype(data), count), *args), out_dtype)


def _walks(shape: Shape, rank: int, axis: int) -> bool:
    """Whether an operand of ``shape`` moves along output ``axis`` (numpy's right alignment)."""
    j = axis - (rank - len(shape))
    return j >= 0 and not is_one(shape[j])


def broadcast_plan(ctx: KernelContext, out_shape: Shape,
                   operand_shapes: Sequence[Shape]) -> tuple[list[ll.Value], list[list[ll.Value]]]:
    """Loop extents over ``out_shape`` and each operand's element strides along them.

    Output axes of static size 1 are dropped, and adjacent axes along which
    every operand either walks or is broadcast are merged, so same-shape
    operands become one flat loop the vectorizer likes, whatever their rank.
    Each operand's stride is 0 on the axes it is broadcast along (numpy rules).
    The output's own strides are ``ctx.strides(extents)``. Fused kernels use
    this too, with every tensor the group reads as an operand.
    """
    b = ctx.builder
    rank = len(out_shape)
    extents: list[ll.Value] = []
    walks: list[tuple[bool, ...]] = []
    for axis, d in enumerate(out_shape):
        if is_one(d):
            continue
        flags = tuple(_walks(shape, rank, axis) for shape in operand_shapes)
        if walks and walks[-1] == flags:
            extents[-1] = mul(b, extents[-1], ctx.dim(d))
        else:
            extents.append(ctx.dim(d))
            walks.append(flags)
    strides: list[list[ll.Value]] = []
    for k in range(len(operand_shapes)):
        st, acc = [i64(0)] * len(extents), i64(1)
        for a in range(len(extents) - 1, -1, -1):
            if walks[a][k]:
                st[a] = acc
                acc = mul(b, acc, extents[a])
        strides.append(st)
    return extents, strides


def emit_broadcast_map(ctx: KernelContext, fn: Callable[[list[ll.Value]], ll.Value], *,
                       vector: bool = False, cost: int = 1) -> None:
    """out[i] = fn(operand values at i) over the output, with numpy broadcasting (see broadcast_plan).

    With ``vector=True`` the caller promises that ``fn`` works on LLVM vectors as on
    scalars (as ``emit_scalar`` does) and emits only through ``ctx.builder``: the map is
    then written as explicit vector code along the contiguous output axis, with a masked
    vector tail, and the outer extent of large maps is split across threads. ``cost`` is
    the work of one element in simple operations (it decides when threads pay off).
    """
    node = ctx.node
    if not vector:
        _map_rows(ctx, fn, 1, None, None, scalar_only=True)
        return
    out_dtypes = [compute_dtype(v.dtype) for v in (*node.inputs, node.output)]
    width = cpu_info().lanes(max(out_dtypes, key=lambda d: d.itemsize))
    b = ctx.builder
    extents, _ = broadcast_plan(ctx, node.output.shape, [v.shape for v in node.inputs])
    if not extents:
        _map_rows(ctx, fn, 1, None, None, scalar_only=True)
        return
    inner = extents[-1]
    if isinstance(inner, ll.Constant):
        # An inner run shorter than the vector: narrower vectors, or none below 4 lanes.
        n = int(inner.constant)
        while width > n:
            width //= 2
        if width < 4:
            width = 1
    if _static_elements(node.output.shape) * cost < _THREADS_FROM:
        _map_rows(ctx, fn, width, None, None)
        return
    if len(extents) == 1:
        count = b.sdiv(b.add(inner, i64(_BLOCK - 1)), i64(_BLOCK)) if not isinstance(inner, ll.Constant) \
            else i64(-(-int(inner.constant) // _BLOCK))
        per_item: ll.Value = i64(_BLOCK * cost)
    else:
        count = extents[0]
        per_item = mul(b, product(b, extents[1:]), i64(cost))

    def body(wctx: KernelContext, lo: ll.Value, hi: ll.Value, _: list) -> None:
        # fn writes through ctx.builder (emit_scalar closures capture it), so the worker's
        # body is written with that builder, moved into the worker and back afterwards.
        home = b.block
        b.position_at_end(wctx.builder.block)
        wctx.builder = b
        _map_rows(wctx, fn, width, lo, hi)
        wb = ll.IRBuilder(b.block)
        wctx.builder = wb
        b.position_at_end(home)

    parallel_for(ctx, count, body, cost_per_item=per_item)


_BLOCK = 4096     # elements per work item when the whole map is one flat loop
# Threads only for maps whose static part (the batch counted as 1) holds this much work:
# the outlined worker and its OpenMP trampoline about triple a small kernel's compile
# time (~40 -> ~130 ms), which small maps would pay for nothing.
_THREADS_FROM = 1 << 14


def _static_elements(shape: Shape) -> int:
    n = 1
    for d in shape:
        if isinstance(d, int):
            n *= d
    return n


def _map_rows(ctx: KernelContext, fn: Callable[[list[ll.Value]], ll.Value], width: int,
              lo: ll.Value | None, hi: ll.Value | None, *, scalar_only: bool = False) -> None:
    """The map over items [lo, hi) of the outer extent (the whole map when lo is None).

    Items are the rows of the outermost loop, or blocks of ``_BLOCK`` elements when the
    map is one flat loop. Each row's contiguous run is ``_map_run``. ``scalar_only``:
    one plain loop nest, the vectorizer left to LLVM (``fn`` may not take vectors).
    """
    b, node = ctx.builder, ctx.node
    out = node.output
    extents, strides = broadcast_plan(ctx, out.shape, [v.shape for v in node.inputs])
    out_strides = ctx.strides(extents)
    if scalar_only:
        with loop_nest(b, extents, name="e") as ivs:
            vals = [ctx.load(ptr, v.dtype, offset(b, ivs, st))
                    for ptr, v, st in zip(ctx.inputs, node.inputs, strides)]
            ctx.store(fn(vals), ctx.outputs[0], out.dtype, offset(b, ivs, out_strides))
        return
    steps = [st[-1] for st in strides]          # 1 where an operand walks the inner run, else 0
    zeros = [i64(0)] * len(strides)
    if len(extents) == 1:
        if lo is None:
            _map_run(ctx, fn, width, zeros, i64(0), steps, i64(0), extents[0])
            return
        with for_range(b, lo, hi, name="blk") as blk:
            start = b.mul(blk, i64(_BLOCK))
            stop = call_intrinsic(b, "smin", b.add(start, i64(_BLOCK)), extents[0])
            _map_run(ctx, fn, width, zeros, i64(0), steps, start, stop)
        return
    with contextlib.ExitStack() as stack:
        if lo is None:
            ivs = stack.enter_context(loop_nest(b, extents[:-1], name="e"))
        else:
            i0 = stack.enter_context(for_range(b, lo, hi, name="e0"))
            ivs = [i0, *stack.enter_context(loop_nest(b, extents[1:-1], name="e"))]
        bases = [offset(b, ivs, st[:-1]) for st in strides]
        _map_run(ctx, fn, width, bases, offset(b, ivs, out_strides[:-1]), steps, i64(0), extents[-1])


def _map_run(ctx: KernelContext, fn: Callable[[list[ll.Value]], ll.Value], width: int,
             bases: list[ll.Value], obase: ll.Value, steps: list[ll.Value],
             start: ll.Value, stop: ll.Value) -> None:
    """out[obase + j] = fn(...) for j in [start, stop): vectors of ``width``, then one masked vector.

    Operand k is read at ``bases[k] + j * steps[k]``; a step is the constant 0 (broadcast:
    loaded once, splatted) or 1 (contiguous: vector loads). The tail is a masked vector
    step rather than a scalar loop, so the rule is emitted once and LLVM has no scalar
    loop to re-vectorize (that doubled compile time); lanes past the end compute on
    zeros and are never loaded or stored.
    """
    b, node = ctx.builder, ctx.node
    out = node.output
    walking = [not (isinstance(st, ll.Constant) and st.constant == 0) for st in steps]
    fixed = [None if w else ctx.load(ptr, v.dtype, base)
             for w, ptr, v, base in zip(walking, ctx.inputs, node.inputs, bases)]
    if width == 1:
        with for_range(b, start, stop, name="t") as j:
            vals = [ctx.load(ptr, v.dtype, add(b, base, j)) if w else fx
                    for w, fx, ptr, v, base in zip(walking, fixed, ctx.inputs, node.inputs, bases)]
            ctx.store(fn(vals), ctx.outputs[0], out.dtype, add(b, obase, j))
        return
    splats = [None if w else splat(b, fx, width) for w, fx in zip(walking, fixed)]

    def step(j: ll.Value, mask: ll.Value | None) -> None:
        vals = []
        for w, sp, ptr, v, base in zip(walking, splats, ctx.inputs, node.inputs, bases):
            if not w:
                vals.append(sp)
                continue
            vty = ll.VectorType(lltype(v.dtype), width)
            p = ctx.element_ptr(ptr, v.dtype, add(b, base, j))
            vals.append(b.load(p, typ=vty, align=v.dtype.itemsize) if mask is None else
                        masked_load(b, p, vty, mask, ll.Constant(vty, None), v.dtype.itemsize))
        res = fn(vals)
        p = ctx.element_ptr(ctx.outputs[0], out.dtype, add(b, obase, j))
        if mask is None:
            b.store(res, p, align=out.dtype.itemsize)
        else:
            masked_store(b, res, p, mask, out.dtype.itemsize)

    # [start, vend) in whole vectors (width is a power of two), then the rest masked.
    vend = b.add(start, b.and_(b.sub(stop, start), i64(-width)))
    with for_range(b, start, vend, step=width, name="v") as j:
        step(j, None)
    with b.if_then(b.icmp_signed("<", vend, stop)):
        step(vend, tail_mask(b, b.sub(stop, vend), width))


@lowering(*UNARY_OPS, *BINARY_OPS, *COMPARE_OPS, Op.SELECT, Op.CAST)
def emit_elementwise(ctx: KernelContext) -> None:
    """Every elementwise op: the broadcast loop nest around the op's scalar rule."""
    node = ctx.node
    in_dtypes = [v.dtype for v in node.inputs]
    out_dtype = node.output.dtype
    if node.op is not Op.CAST:     # fail before emitting anything when no rule exists
        scalar_rule(node.op, in_dtypes[1] if node.op is Op.SELECT else in_dtypes[0])
    emit_broadcast_map(ctx, lambda vals: emit_scalar(ctx.builder, node.op, node.attrs, in_dtypes,
                                                     out_dtype, vals),
                       vector=True, cost=_COST.get(node.op, 1))


# Work of one element in simple operations, for the threading threshold.
_COST = {Op.EXP: 12, Op.EXPM1: 16, Op.LOG: 16, Op.LOG1P: 20, Op.TANH: 20, Op.SIGMOID: 16,
         Op.ERF: 24, Op.SIN: 20, Op.COS: 20, Op.POW: 60, Op.MOD: 20, Op.DIV: 4, Op.SQRT: 4,
         Op.RSQRT: 6, Op.RECIPROCAL: 4}

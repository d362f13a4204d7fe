"""CPU lowering of the elementwise ops: unary, binary, compare, select and cast.

One generic emitter loops over the output in row-major order, the innermost
loop walking unit-stride output memory, and loads every operand through its
own strides: stride 0 on the axes it is broadcast along (numpy rules, the
symbolic batch included). What happens to one element comes from a table,
op -> scalar rule, one table per dtype class (float, int, bool).

The numpy references in ir/ops/elementwise.py define every rule, edge cases
included: NaN-propagating maximum/minimum that pick numpy's operand on ties,
floor modulo, sign(0) = 0, half-to-even rounding, saturating float -> int
casts. float16 is computed in float32 and rounded once per op. Math goes
through LLVM intrinsics where one exists, so the vectorizer can see it, and
through libm (erf, expm1, log1p) where none does.

``emit_scalar`` is public so fused kernels (GEMM epilogues, fusion groups)
can apply the same rules to values they already hold in registers.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import (F32, I1, I8, KernelContext, LoweringError, i64, lltype, loop_nest,
                                lowering, mul)
from codegen.cpu.lowerings._support import (call_intrinsic, compute_dtype, declare, f64_to_f16, is_one,
                                            narrow, offset, widen)
from ir.dtypes import DType
from ir.opcodes import BINARY_OPS, COMPARE_OPS, UNARY_OPS, Op
from ir.shapes import Shape


class Scalar:
    """What a scalar rule sees: the builder and the dtype it computes in (never float16)."""

    def __init__(self, b: ll.IRBuilder, dtype: DType):
        self.b = b
        self.dtype = dtype
        self.ty = lltype(dtype)

    @property
    def signed(self) -> bool:
        return self.dtype.is_signed

    def const(self, v: float | int) -> ll.Constant:
        return ll.Constant(self.ty, v)

    def intrinsic(self, name: str, *args: ll.Value) -> ll.Value:
        return call_intrinsic(self.b, name, *args)

    def libm(self, name: str, x: ll.Value) -> ll.Value:
        """The C library's ``namef`` (float32) or ``name`` (float64); MCJIT resolves them in-process."""
        fname = name + "f" if self.ty == F32 else name
        return self.b.call(declare(self.b.module, fname, self.ty, [self.ty]), [x])

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


_FLOAT: dict[Op, Rule] = {
    Op.NEG: lambda s, x: s.b.fneg(x),
    Op.ABS: _intrinsic("fabs"),
    Op.EXP: _intrinsic("exp"),
    Op.EXPM1: _libm("expm1"),
    Op.LOG: _intrinsic("log"),
    Op.LOG1P: _libm("log1p"),
    Op.SQRT: _intrinsic("sqrt"),
    # Two roundings, as the reference's 1 / sqrt(x); no approximate rsqrt.
    Op.RSQRT: lambda s, x: s.b.fdiv(s.const(1.0), s.intrinsic("sqrt", x)),
    Op.TANH: _intrinsic("tanh"),
    Op.SIGMOID: _f_sigmoid,
    Op.ERF: _libm("erf"),
    Op.SIN: _intrinsic("sin"),
    Op.COS: _intrinsic("cos"),
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
    b.cbranch(b.icmp_unsigned("!=", k, zero), body, done)
    b.position_at_end(body)
    r.add_incoming(b.select(b.trunc(k, I1), b.mul(r, base), r), body)
    base.add_incoming(b.mul(base, base), body)
    k.add_incoming(b.lshr(k, one), body)
    b.branch(head)
    b.position_at_end(done)
    if negative is None:
        return r
    minus_one_pow = b.select(b.trunc(e, I1), s.const(-1), one)
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
    return s.b.select(s.b.icmp_unsigned("!=", cond, ll.Constant(I8, 0)), x, y)


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
    dty = lltype(dst)
    if dst is DType.bool:
        if src.is_floating:
            return b.zext(b.fcmp_unordered("!=", x, ll.Constant(x.type, 0.0)), I8)
        return b.zext(b.icmp_unsigned("!=", x, ll.Constant(x.type, 0)), I8)
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
        ty = F32 if dst is DType.float16 else dty
        v = b.sitofp(x, ty) if signed else b.uitofp(x, ty)
        return narrow(b, v, dst)
    sw, dw = x.type.width, dty.width
    if dw < sw:
        return b.trunc(x, dty)
    if dw > sw:
        return b.sext(x, dty) if signed else b.zext(x, dty)
    return x                          # int8 <-> uint8: same bits


# ---------------------------------------------------------------------------------------------
# the emitter

def emit_scalar(b: ll.IRBuilder, op: Op, attrs: Any, in_dtypes: Sequence[DType], out_dtype: DType,
                values: Sequence[ll.Value]) -> ll.Value:
    """One element of an elementwise op: stored operand values in, the stored result out."""
    if op is Op.CAST:
        return cast_value(b, values[0], in_dtypes[0], attrs.dtype)
    data = in_dtypes[1] if op is Op.SELECT else in_dtypes[0]
    rule = scalar_rule(op, data)
    args = [widen(b, v, d) for v, d in zip(values, in_dtypes)]
    return narrow(b, rule(Scalar(b, compute_dtype(data)), *args), out_dtype)


def _walks(shape: Shape, rank: int, axis: int) -> bool:
    """Whether an operand of ``shape`` moves along output ``axis`` (numpy's right alignment)."""
    j = axis - (rank - len(shape))
    return j >= 0 and not is_one(shape[j])


def emit_broadcast_map(ctx: KernelContext, fn: Callable[[list[ll.Value]], ll.Value]) -> None:
    """out[i] = fn(operand values at i) over the output, with numpy broadcasting.

    Output axes of static size 1 are dropped, and adjacent axes along which
    every operand either walks or is broadcast are merged, so same-shape
    operands become one flat loop the vectorizer likes, whatever their rank.
    Each operand's stride is 0 on the axes it is broadcast along.
    """
    b, node = ctx.builder, ctx.node
    out = node.output
    rank = len(out.shape)
    extents: list[ll.Value] = []
    walks: list[tuple[bool, ...]] = []
    for axis, d in enumerate(out.shape):
        if is_one(d):
            continue
        flags = tuple(_walks(v.shape, rank, axis) for v in node.inputs)
        if walks and walks[-1] == flags:
            extents[-1] = mul(b, extents[-1], ctx.dim(d))
        else:
            extents.append(ctx.dim(d))
            walks.append(flags)
    strides: list[list[ll.Value]] = []
    for k in range(len(node.inputs)):
        st, acc = [i64(0)] * len(extents), i64(1)
        for a in range(len(extents) - 1, -1, -1):
            if walks[a][k]:
                st[a] = acc
                acc = mul(b, acc, extents[a])
        strides.append(st)
    out_strides = ctx.strides(extents)
    with loop_nest(b, extents, name="e") as ivs:
        vals = [ctx.load(ptr, v.dtype, offset(b, ivs, st))
                for ptr, v, st in zip(ctx.inputs, node.inputs, strides)]
        ctx.store(fn(vals), ctx.outputs[0], out.dtype, offset(b, ivs, out_strides))


@lowering(*UNARY_OPS, *BINARY_OPS, *COMPARE_OPS, Op.SELECT, Op.CAST)
def emit_elementwise(ctx: KernelContext) -> None:
    """Every elementwise op: the broadcast loop nest around the op's scalar rule."""
    node = ctx.node
    in_dtypes = [v.dtype for v in node.inputs]
    out_dtype = node.output.dtype
    if node.op is not Op.CAST:     # fail before emitting anything when no rule exists
        scalar_rule(node.op, in_dtypes[1] if node.op is Op.SELECT else in_dtypes[0])
    emit_broadcast_map(ctx, lambda vals: emit_scalar(ctx.builder, node.op, node.attrs, in_dtypes,
                                                     out_dtype, vals))

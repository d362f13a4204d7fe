"""ONNX for elementwise ops: unary, binary, comparisons, select, cast.

ONNX's binary operators broadcast as numpy does, so operands go in as they
are. Most ops are one ONNX operator; the exceptions carry the reason:
``expm1``/``log1p`` (no ONNX operator: accurate compositions), ``mod`` on
floats (ONNX ``Mod`` with ``fmod=0`` is integer-only before opset 28),
``cast`` from float to int (ONNX leaves out-of-range values undefined; the IR
saturates), and dtypes that ONNX Runtime has no kernel for
(:meth:`OnnxBuilder.native`).
"""
from __future__ import annotations

import numpy as np

from codegen.onnx.emitter import ALL, FLOATS, INTS, NUMERIC, SIGNED_INTS, OnnxBuilder, onnx_mapping
from ir.attrs import CastAttrs
from ir.dtypes import DType
from ir.graph import Node
from ir.opcodes import Op

# op -> (ONNX operator, the operand dtypes ONNX Runtime's CPU provider implements it for).
# Float-only IR ops list floats only: the shape rule refuses other dtypes before export.
_SIMPLE = {
    Op.NEG: ("Neg", FLOATS | SIGNED_INTS),
    Op.ABS: ("Abs", NUMERIC),
    Op.EXP: ("Exp", FLOATS),
    Op.LOG: ("Log", FLOATS),
    Op.SQRT: ("Sqrt", FLOATS),
    Op.TANH: ("Tanh", FLOATS),
    Op.SIGMOID: ("Sigmoid", FLOATS),
    # ONNX Runtime has Erf for float16/float32 only; a float64 Erf stays float64 (valid ONNX,
    # exact in runtimes that implement it) rather than silently losing precision.
    Op.ERF: ("Erf", FLOATS),
    Op.SIN: ("Sin", FLOATS),
    Op.COS: ("Cos", FLOATS),
    Op.FLOOR: ("Floor", FLOATS),
    Op.CEIL: ("Ceil", FLOATS),
    Op.ROUND: ("Round", FLOATS),          # half to even, as numpy
    Op.SIGN: ("Sign", NUMERIC),
    Op.RECIPROCAL: ("Reciprocal", FLOATS),
    Op.LOGICAL_NOT: ("Not", frozenset({DType.bool})),
    Op.ADD: ("Add", NUMERIC),
    Op.SUB: ("Sub", NUMERIC),
    Op.MUL: ("Mul", NUMERIC),
    Op.DIV: ("Div", FLOATS),
    Op.POW: ("Pow", FLOATS | {DType.int32, DType.int64}),
    Op.MAXIMUM: ("Max", NUMERIC),
    Op.MINIMUM: ("Min", NUMERIC),
    Op.LOGICAL_AND: ("And", frozenset({DType.bool})),
    Op.LOGICAL_OR: ("Or", frozenset({DType.bool})),
    Op.EQUAL: ("Equal", ALL),
    Op.LESS: ("Less", NUMERIC),
    Op.LESS_EQUAL: ("LessOrEqual", NUMERIC),
    Op.GREATER: ("Greater", NUMERIC),
    Op.GREATER_EQUAL: ("GreaterOrEqual", NUMERIC),
}


@onnx_mapping(*_SIMPLE)
def _simple(b: OnnxBuilder, node: Node) -> None:
    op_type, supported = _SIMPLE[node.op]
    b.native(node, op_type, supported)


@onnx_mapping(Op.NOT_EQUAL)
def _not_equal(b: OnnxBuilder, node: Node) -> None:
    b.add("Not", [b.native(node, "Equal", ALL, out=b.fresh(f"{node.name}/equal"))], b.output(node))


@onnx_mapping(Op.RSQRT)
def _rsqrt(b: OnnxBuilder, node: Node) -> None:
    # Two roundings, as the reference's 1 / sqrt(x).
    b.add("Reciprocal", [b.add("Sqrt", [b.input(node, 0)])], b.output(node))


def _scalar(b: OnnxBuilder, value: float, dtype: DType) -> str:
    return b.const(np.asarray(value, dtype.numpy), hint="scalar")


@onnx_mapping(Op.EXPM1)
def _expm1(b: OnnxBuilder, node: Node) -> None:
    """``exp(x) - 1`` cancels for small ``|x|``; Kahan's ``(u - 1) * x / log(u)`` with
    ``u = exp(x)`` does not, and is exact where ``u`` rounds to 1. For ``|x| >= 1``
    ``u - 1`` loses nothing, and that branch also keeps the infinities right."""
    x, dt = b.input(node, 0), node.inputs[0].dtype
    one = _scalar(b, 1.0, dt)
    u = b.add("Exp", [x])
    um1 = b.add("Sub", [u, one])
    kahan = b.add("Div", [b.add("Mul", [um1, x]), b.add("Log", [u])])
    small_branch = b.add("Where", [b.add("Equal", [u, one]), x, kahan])
    small = b.add("Less", [b.add("Abs", [x]), one])
    b.add("Where", [small, small_branch, um1], b.output(node))


@onnx_mapping(Op.LOG1P)
def _log1p(b: OnnxBuilder, node: Node) -> None:
    """``log(1 + x)`` loses the low bits of small ``x``; Goldberg's ``log(u) * x / (u - 1)``
    with ``u = 1 + x`` recovers them (and is ``x`` itself where ``u`` rounds to 1)."""
    x, dt = b.input(node, 0), node.inputs[0].dtype
    one = _scalar(b, 1.0, dt)
    u = b.add("Add", [x, one])
    log_u = b.add("Log", [u])
    goldberg = b.add("Div", [b.add("Mul", [log_u, x]), b.add("Sub", [u, one])])
    small_branch = b.add("Where", [b.add("Equal", [u, one]), x, goldberg])
    small = b.add("Less", [b.add("Abs", [x]), one])
    b.add("Where", [small, small_branch, log_u], b.output(node))


@onnx_mapping(Op.MOD)
def _mod(b: OnnxBuilder, node: Node) -> None:
    """Floor modulo (the result takes the divisor's sign), numpy's ``mod``.

    Integers: ONNX ``Mod`` with ``fmod=0`` is exactly that. Floats: ``fmod=0`` is
    integer-only before opset 28, so take C's ``fmod`` (the dividend's sign) and
    add the divisor where a non-zero remainder has the other sign, as numpy's
    ``npy_divmod`` does.
    """
    dt = node.inputs[0].dtype
    if dt in INTS:
        b.native(node, "Mod", INTS, fmod=0)
        return
    a, d = b.input(node, 0), b.input(node, 1)
    zero = _scalar(b, 0.0, dt)
    r = b.add("Mod", [a, d], fmod=1)
    signs_differ = b.add("Xor", [b.add("Less", [r, zero]), b.add("Less", [d, zero])])
    fix = b.add("And", [b.add("Not", [b.add("Equal", [r, zero])]), signs_differ])
    b.add("Where", [fix, b.add("Add", [r, d]), r], b.output(node))


@onnx_mapping(Op.SELECT)
def _select(b: OnnxBuilder, node: Node) -> None:
    cond, x, y = (b.input(node, i) for i in range(3))
    dtype = node.outputs[0].dtype
    if dtype is DType.bool:
        # ONNX Runtime's Where has no bool kernel: pick among uint8 0/1 and cast back.
        x, y = b.cast(x, DType.uint8), b.cast(y, DType.uint8)
        b.cast(b.add("Where", [cond, x, y]), DType.bool, b.output(node))
        return
    b.add("Where", [cond, x, y], b.output(node))


@onnx_mapping(Op.CAST)
def _cast(b: OnnxBuilder, node: Node) -> None:
    """Cast, saturating from float to int as the IR reference does.

    ONNX ``Cast`` from float to an integer is undefined out of range (ONNX Runtime
    gives INT_MIN on x86). The reference truncates, clips to the target's range
    and sends NaN to 0, in float64 where the int8..int32 bounds are exact; so
    does this, and pins values at or above 2**63 to int64's max, which float64
    cannot hold (2**63 - 1 rounds up).
    """
    x, src, dst = b.input(node, 0), node.inputs[0].dtype, node.attrs.dtype
    assert isinstance(node.attrs, CastAttrs)
    if not (src in FLOATS and dst in INTS):
        b.cast(x, dst, b.output(node))
        return
    info = np.iinfo(dst.numpy)
    xd = x if src is DType.float64 else b.cast(x, DType.float64)
    lo, hi = _scalar(b, float(info.min), DType.float64), _scalar(b, float(info.max), DType.float64)
    clipped = b.add("Clip", [xd, lo, hi])
    finite = b.add("Where", [b.add("IsNaN", [xd]), _scalar(b, 0.0, DType.float64), clipped])
    if dst is not DType.int64:
        b.cast(finite, dst, b.output(node))
        return
    top = b.add("GreaterOrEqual", [finite, hi])
    b.add("Where", [top, b.const(np.asarray(info.max, np.int64), hint="int64_max"), b.cast(finite, dst)],
          b.output(node))

"""Arithmetic and math functions: the unary table, binary arithmetic with ONNX's
integer semantics, variadic Max/Min/Sum/Mean, and Clip.

ONNX broadcasting is numpy's, as is the IR's, so operands go in unchanged.
Where ONNX means something else than the core op, the importer composes:
integer ``Div`` truncates toward zero (the IR's DIV is floating only), and
``Pow`` may mix dtypes (the result takes the base's).
"""
from __future__ import annotations

import numpy as np

from frontend.onnx_import.context import NodeContext
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import (add, binary, cast, const, div, dtype, maximum, minimum, mul,
                                         sub, unary, where)
from ir.dtypes import DType
from ir.opcodes import Op

_UNARY = {
    "Neg": Op.NEG, "Abs": Op.ABS, "Exp": Op.EXP, "Log": Op.LOG, "Sqrt": Op.SQRT,
    "Reciprocal": Op.RECIPROCAL, "Tanh": Op.TANH, "Sigmoid": Op.SIGMOID, "Erf": Op.ERF,
    "Sin": Op.SIN, "Cos": Op.COS, "Floor": Op.FLOOR, "Ceil": Op.CEIL,
    "Round": Op.ROUND,   # half to even in ONNX, numpy and the IR
    "Sign": Op.SIGN,
}


@importer(*_UNARY)
def _unary(n: NodeContext):
    return unary(_UNARY[n.op_type], n.input(0))


@importer("Add", "Sub", "Mul")
def _arith(n: NodeContext):
    op = {"Add": Op.ADD, "Sub": Op.SUB, "Mul": Op.MUL}[n.op_type]
    return binary(op, n.input(0), n.input(1))


def int_div_trunc(a, b):
    """ONNX integer division: the quotient rounded toward zero.

    ``a - mod(a, b)`` is an exact multiple of ``b`` (MOD is floor modulo), so
    dividing it in float64 gives the floor quotient exactly for |values| < 2**53;
    where the remainder is nonzero and the signs differ, truncation is one more.
    """
    d = dtype(a)
    r = binary(Op.MOD, a, b)
    q = cast(div(cast(sub(a, r), DType.float64), cast(b, DType.float64)), d)
    if not d.is_signed:
        return q
    zero = const(0, d)
    fix = binary(Op.LOGICAL_AND, binary(Op.NOT_EQUAL, r, zero),
                 binary(Op.NOT_EQUAL, binary(Op.LESS, a, zero), binary(Op.LESS, b, zero)))
    return add(q, cast(fix, d))


@importer("Div")
def _div(n: NodeContext):
    a, b = n.input(0), n.input(1)
    return div(a, b) if dtype(a).is_floating else int_div_trunc(a, b)


@importer("Mod")
def _mod(n: NodeContext):
    a, b = n.input(0), n.input(1)
    if not n.attr("fmod", 0):
        return binary(Op.MOD, a, b)     # floor modulo (Python's %): the divisor's sign
    if not dtype(a).is_floating:
        # C's fmod on integers: the remainder takes the dividend's sign.
        return sub(a, mul(int_div_trunc(a, b), b))
    # np.fmod(a, b) = a - b * trunc(a / b), computed from the floor modulo so it stays exact.
    r = binary(Op.MOD, a, b)
    zero = const(0, a)
    differ = binary(Op.LOGICAL_AND, binary(Op.NOT_EQUAL, r, zero),
                    binary(Op.NOT_EQUAL, binary(Op.LESS, a, zero), binary(Op.LESS, b, zero)))
    return where(differ, sub(r, b), r)


@importer("Pow")
def _pow(n: NodeContext):
    base, exponent = n.input(0), n.input(1)
    bd, ed = dtype(base), dtype(exponent)
    if bd == ed:
        return binary(Op.POW, base, exponent)
    if bd.is_floating:
        return binary(Op.POW, base, cast(exponent, bd))
    # Integer base, floating exponent: compute in float64, truncate back to the base's dtype.
    return cast(binary(Op.POW, cast(base, DType.float64), cast(exponent, DType.float64)), bd)


def _fold(op: Op, values: list):
    out = values[0]
    for v in values[1:]:
        out = binary(op, out, v)
    return out


@importer("Max", "Min", "Sum")
def _variadic(n: NodeContext):
    op = {"Max": Op.MAXIMUM, "Min": Op.MINIMUM, "Sum": Op.ADD}[n.op_type]
    return _fold(op, n.variadic())


@importer("Mean")
def _mean(n: NodeContext):
    values = n.variadic()
    total = _fold(Op.ADD, values)
    return div(total, const(len(values), total))


@importer("Clip")
def _clip(n: NodeContext):
    x = n.input(0)
    if n.opset < 11:       # bounds were attributes before opset 11
        lo, hi = n.attr("min", None), n.attr("max", None)
        lo = None if lo is None else const(lo, x)
        hi = None if hi is None else const(hi, x)
    else:
        lo, hi = n.input(1), n.input(2)
    # max then min: when min > max every element becomes max, as ONNX specifies.
    if lo is not None:
        x = maximum(x, lo)
    if hi is not None:
        x = minimum(x, hi)
    return x


@importer("IsNaN")
def _isnan(n: NodeContext):
    x = n.input(0)
    return binary(Op.NOT_EQUAL, x, x)


@importer("IsInf")
def _isinf(n: NodeContext):
    x = n.input(0)
    pos = binary(Op.EQUAL, x, const(np.inf, x))
    neg = binary(Op.EQUAL, x, const(-np.inf, x))
    detect_pos, detect_neg = n.attr("detect_positive", 1), n.attr("detect_negative", 1)
    if detect_pos and detect_neg:
        return binary(Op.LOGICAL_OR, pos, neg)
    if detect_pos:
        return pos
    if detect_neg:
        return neg
    return binary(Op.LOGICAL_AND, pos, neg)   # neither: all false, shaped like x

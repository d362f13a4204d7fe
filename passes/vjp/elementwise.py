"""VJP rules of the elementwise ops: unary, binary (with broadcasting), compare, select, cast.

A unary rule is ``d(x, y, ct) -> ct * f'(x)`` written with the forward
result ``y`` where that is cheaper (exp, tanh, sigmoid). A binary rule
gives the cotangents at the broadcast shape; :func:`_binary` then sums each
back to its operand's shape.

Ties of maximum/minimum follow JAX (``jnp.maximum``): where both operands
equal the result, each receives half of the cotangent.
"""
from __future__ import annotations

import math
from typing import Callable

from ir.graph import Graph, Node, Value
from ir.opcodes import COMPARE_OPS, Op
from passes.vjp.emit import Emit, VjpRule, no_gradient

UnaryGrad = Callable[[Emit, Value, Value, Value], Value]          # (e, x, y, ct) -> dx
BinaryGrad = Callable[[Emit, Value, Value, Value, Value], tuple[Value | None, Value | None]]


def _unary(grad: UnaryGrad) -> VjpRule:
    def rule(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
        (ct,) = cts
        (x,) = node.inputs
        return [grad(Emit(graph, node), x, node.output, ct)]
    return rule


def _binary(grad: BinaryGrad) -> VjpRule:
    def rule(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
        (ct,) = cts
        a, b = node.inputs
        e = Emit(graph, node)
        da, db = grad(e, a, b, node.output, ct)
        return [None if da is None else e.unbroadcast(da, a.shape),
                None if db is None else e.unbroadcast(db, b.shape)]
    return rule


def _sqrt(e: Emit, x: Value, y: Value, ct: Value) -> Value:
    return e.div(e.scale(ct, 0.5), y)                                  # 1 / (2 sqrt x)


def _rsqrt(e: Emit, x: Value, y: Value, ct: Value) -> Value:
    return e.mul(ct, e.scale(e.div(y, x), -0.5))                       # -x^(-3/2) / 2


def _erf(e: Emit, x: Value, y: Value, ct: Value) -> Value:
    gauss = e.op(Op.EXP, [e.neg(e.mul(x, x))])
    return e.mul(ct, e.scale(gauss, 2.0 / math.sqrt(math.pi)))


def _one_minus(e: Emit, v: Value) -> Value:
    return e.sub(e.const(1, v.dtype), v)


UNARY_GRADS: dict[Op, UnaryGrad] = {
    Op.NEG: lambda e, x, y, ct: e.neg(ct),
    Op.ABS: lambda e, x, y, ct: e.mul(ct, e.op(Op.SIGN, [x])),         # 0 at 0, as JAX
    Op.EXP: lambda e, x, y, ct: e.mul(ct, y),
    Op.EXPM1: lambda e, x, y, ct: e.mul(ct, e.add(y, e.const(1, y.dtype))),
    Op.LOG: lambda e, x, y, ct: e.div(ct, x),
    Op.LOG1P: lambda e, x, y, ct: e.div(ct, e.add(x, e.const(1, x.dtype))),
    Op.SQRT: _sqrt,
    Op.RSQRT: _rsqrt,
    Op.TANH: lambda e, x, y, ct: e.mul(ct, _one_minus(e, e.mul(y, y))),
    Op.SIGMOID: lambda e, x, y, ct: e.mul(ct, e.mul(y, _one_minus(e, y))),
    Op.ERF: _erf,
    Op.SIN: lambda e, x, y, ct: e.mul(ct, e.op(Op.COS, [x])),
    Op.COS: lambda e, x, y, ct: e.neg(e.mul(ct, e.op(Op.SIN, [x]))),
    Op.RECIPROCAL: lambda e, x, y, ct: e.neg(e.mul(ct, e.mul(y, y))),
}
# Piecewise constant (or boolean): the derivative is zero wherever it exists.
UNARY_NO_GRADIENT = frozenset({Op.FLOOR, Op.CEIL, Op.ROUND, Op.SIGN, Op.LOGICAL_NOT})


def _div(e: Emit, a: Value, b: Value, y: Value, ct: Value):
    # d(a/b)/db = -a/b^2 = -y/b: no b*b, which would overflow before a/b does.
    return e.div(ct, b), e.neg(e.div(e.mul(ct, y), b))


def _pow(e: Emit, a: Value, b: Value, y: Value, ct: Value):
    """JAX's guards: d/da is 0 where b == 0 (not 0 * a^-1 = NaN at a = 0), and
    d/db uses log(1) = 0 where a == 0 (the limit of a^b log a for b > 0)."""
    dt = a.dtype
    zero, one = e.const(0, dt), e.const(1, dt)
    pow_b1 = e.op(Op.POW, [a, e.sub(b, one)])
    da = e.select(e.op(Op.EQUAL, [b, zero]), zero, e.mul(b, pow_b1))
    safe_a = e.select(e.op(Op.EQUAL, [a, zero]), one, a)
    db = e.mul(e.op(Op.LOG, [safe_a]), y)
    return e.mul(ct, da), e.mul(ct, db)


def _mod(e: Emit, a: Value, b: Value, y: Value, ct: Value):
    # mod(a, b) = a - floor(a / b) * b (floor modulo), so d/db = -floor(a / b).
    return ct, e.neg(e.mul(ct, e.op(Op.FLOOR, [e.div(a, b)])))


def _chooser(e: Emit, a: Value, b: Value, y: Value, ct: Value):
    """maximum / minimum: the cotangent goes to the operand equal to the result, halved on a tie."""
    a_won = e.op(Op.EQUAL, [a, y])
    b_won = e.op(Op.EQUAL, [b, y])
    tie = e.op(Op.LOGICAL_AND, [a_won, b_won])
    share = e.select(tie, e.scale(ct, 0.5), ct)
    zero = e.const(0, ct.dtype)
    return e.select(a_won, share, zero), e.select(b_won, share, zero)


BINARY_GRADS: dict[Op, BinaryGrad] = {
    Op.ADD: lambda e, a, b, y, ct: (ct, ct),
    Op.SUB: lambda e, a, b, y, ct: (ct, e.neg(ct)),
    Op.MUL: lambda e, a, b, y, ct: (e.mul(ct, b), e.mul(ct, a)),
    Op.DIV: _div,
    Op.POW: _pow,
    Op.MOD: _mod,
    Op.MAXIMUM: _chooser,
    Op.MINIMUM: _chooser,
}
BINARY_NO_GRADIENT = frozenset({Op.LOGICAL_AND, Op.LOGICAL_OR})


def _select(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,) = cts
    cond, a, b = node.inputs
    e = Emit(graph, node)
    zero = e.const(0, ct.dtype)
    return [None, e.unbroadcast(e.select(cond, ct, zero), a.shape),
            e.unbroadcast(e.select(cond, zero, ct), b.shape)]


def _cast(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """float -> float: the cotangent cast back. To or from an integer or bool: none."""
    (ct,) = cts
    (x,) = node.inputs
    if not (x.dtype.is_floating and node.output.dtype.is_floating):
        return [None]
    return [Emit(graph, node).cast(ct, x.dtype)]


RULES: dict[Op, VjpRule] = {
    **{op: _unary(g) for op, g in UNARY_GRADS.items()},
    **{op: no_gradient for op in UNARY_NO_GRADIENT},
    **{op: _binary(g) for op, g in BINARY_GRADS.items()},
    **{op: no_gradient for op in BINARY_NO_GRADIENT | COMPARE_OPS},
    Op.SELECT: _select,
    Op.CAST: _cast,
}

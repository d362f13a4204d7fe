"""Canonicalization: algebraic identities and no-op data movement removed.

Every rewrite here is exact in IEEE-754 terms, bit for bit, including the
sign of zero and NaNs: ``x * 1``, ``x / 1``, ``x + (-0.0)`` and ``x - (+0.0)``
are ``x`` for every float ``x``; ``x + (+0.0)`` is not (``-0.0 + 0.0`` is
``+0.0``), so it is rewritten only for integers, or when the caller passes
``signed_zeros=False``. ``x * 0`` is never ``0`` (``inf * 0`` is NaN).

Data movement: a transpose by the identity permutation, a reshape or
broadcast to the operand's own shape, a cast to its own dtype, a slice that
takes everything, a pad by nothing and a one-operand concat are the operand;
two transposes become one, two reshapes become one; ``neg(neg(x))`` and
``logical_not(logical_not(x))`` are ``x``; a select whose condition is a
constant that is all true (false) is its second (third) operand, and a select
of one value on both sides is that value.

A rewrite only happens when the replacement has exactly the node's type, so
no broadcast is ever dropped. Rewritten-away nodes are left for DCE.
"""
from __future__ import annotations

import numpy as np

from ir.attrs import ReshapeAttrs, TransposeAttrs
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from passes.pass_manager import PassResult


def canonicalize(graph: Graph, *, signed_zeros: bool = True) -> PassResult:
    """Rewrites, in place, each node that an identity makes redundant; returns whether any changed.

    Nodes are visited in topological order, so operands are already canonical
    when their users are looked at (``reshape(reshape(reshape(x)))`` collapses
    in one run). ``signed_zeros=False`` also treats ``x + 0.0`` and
    ``x - (-0.0)`` as ``x`` (exact up to the sign of a zero result).
    """
    changed = False
    for node in graph.nodes:
        if len(node.outputs) != 1 or not graph.is_live(node.output):
            continue
        new = _simplify(graph, node, signed_zeros)
        if new is not None and new is not node.output:
            graph.replace_all_uses(node.output, new)
            changed = True
    return PassResult(graph, changed)


def _simplify(graph: Graph, node: Node, signed_zeros: bool) -> Value | None:
    """The value ``node``'s output equals, or None; may add one node before ``node``."""
    out = node.output
    ins = node.inputs
    op = node.op

    def same_type(v: Value) -> Value | None:
        return v if v.type == out.type else None

    if op is Op.ADD:
        for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
            if _is_additive_identity(b, plus=True, signed_zeros=signed_zeros) and same_type(a):
                return a
    elif op is Op.SUB:
        if _is_additive_identity(ins[1], plus=False, signed_zeros=signed_zeros):
            return same_type(ins[0])
    elif op is Op.MUL:
        for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
            if _is_all(b, 1) and same_type(a):
                return a
    elif op is Op.DIV:
        if _is_all(ins[1], 1):
            return same_type(ins[0])
    elif op in (Op.NEG, Op.LOGICAL_NOT):
        inner = ins[0].producer if ins[0].kind is ValueKind.NODE else None
        if inner is not None and inner.op is op:
            return same_type(inner.inputs[0])
    elif op is Op.CAST:
        return same_type(ins[0])
    elif op in (Op.BROADCAST_TO, Op.RESHAPE):
        if ins[0].shape == out.shape:
            return same_type(ins[0])
        inner = ins[0].producer if ins[0].kind is ValueKind.NODE else None
        if op is Op.RESHAPE and inner is not None and inner.op is Op.RESHAPE:
            if inner.inputs[0].type == out.type:
                return inner.inputs[0]
            return graph.add_node(Op.RESHAPE, [inner.inputs[0]], ReshapeAttrs(out.shape),
                                  node.name, before=node).output
    elif op is Op.TRANSPOSE:
        perm = node.attrs.perm
        if perm == tuple(range(len(perm))):
            return same_type(ins[0])
        inner = ins[0].producer if ins[0].kind is ValueKind.NODE else None
        if inner is not None and inner.op is Op.TRANSPOSE:
            # out[i] = mid[perm[i]] = x[inner_perm[perm[i]]]
            composed = tuple(inner.attrs.perm[p] for p in perm)
            if composed == tuple(range(len(composed))):
                return same_type(inner.inputs[0])
            return graph.add_node(Op.TRANSPOSE, [inner.inputs[0]], TransposeAttrs(composed),
                                  node.name, before=node).output
    elif op is Op.SLICE:
        a = node.attrs
        if all(start == 0 and step == 1 and (stop is None or stop == d)
               for start, stop, step, d in zip(a.starts, a.stops, a.steps, ins[0].shape)):
            return same_type(ins[0])
    elif op is Op.PAD:
        if all(lo == 0 and hi == 0 for lo, hi in node.attrs.pads):
            return same_type(ins[0])
    elif op is Op.CONCAT:
        if len(ins) == 1:
            return same_type(ins[0])
    elif op is Op.SELECT:
        cond, a, b = ins
        if a is b:
            return same_type(a)
        value = _constant_value(cond)
        if value is not None and value.size:
            if bool(np.all(value)):
                return same_type(a)
            if not bool(np.any(value)):
                return same_type(b)
    return None


def _constant_value(v: Value) -> np.ndarray | None:
    if v.kind is ValueKind.NODE and v.producer.op is Op.CONSTANT:
        return v.producer.attrs.value
    return None


def _is_all(v: Value, scalar: float) -> bool:
    """``v`` is a constant whose every element equals ``scalar`` (and it has at least one)."""
    value = _constant_value(v)
    return value is not None and value.size > 0 and bool(np.all(value == scalar))


def _is_additive_identity(v: Value, *, plus: bool, signed_zeros: bool) -> bool:
    """``x + v == x`` (``plus``) or ``x - v == x`` bit for bit, for every ``x``.

    For floats only one zero works: ``-0.0`` for addition, ``+0.0`` for
    subtraction (``-0.0 + 0.0`` and ``-0.0 - (-0.0)`` are ``+0.0``).
    """
    value = _constant_value(v)
    if value is None or value.size == 0 or not bool(np.all(value == 0)):
        return False
    if not np.issubdtype(value.dtype, np.floating) or not signed_zeros:
        return True
    negative = np.signbit(value)
    return bool(np.all(negative)) if plus else not bool(np.any(negative))

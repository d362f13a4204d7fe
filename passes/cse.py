"""Common subexpression elimination: one node per (op, attributes, operands).

Every core op is a pure function of its operands and attributes, so two
nodes that agree on all three compute the same values and the later one can
read the earlier one's outputs. That includes constants (equal dtype, shape
and bytes: ``ConstantAttrs`` hashes its digest) and ``RANDOM_UNIFORM``, which
is counter-based: the same key operand, shape, dtype and stream give the same
bits, while a different stream (two Dropout layers) is a different attribute
and is never merged.

Operands of commutative ops are compared as a multiset (``a + b`` and
``b + a``), which is exact: IEEE addition, multiplication and equality are
commutative. ``maximum``/``minimum`` are left out: which zero they return
for ``max(-0.0, +0.0)`` depends on the operand order in some implementations.
"""
from __future__ import annotations

from typing import Hashable

from ir.graph import Graph, Node
from ir.opcodes import Op
from passes.pass_manager import PassResult

COMMUTATIVE_OPS = frozenset({Op.ADD, Op.MUL, Op.EQUAL, Op.NOT_EQUAL, Op.LOGICAL_AND, Op.LOGICAL_OR})


def cse(graph: Graph) -> PassResult:
    """Replaces, in place, the outputs of every node that repeats an earlier node.

    One forward sweep suffices: operands are merged before their users are
    keyed, so chains of duplicates (``exp(x + y)`` twice) collapse together.
    The repeats are left without uses for DCE.
    """
    seen: dict[Hashable, Node] = {}
    changed = False
    for node in graph.nodes:
        key = _key(node)
        if key is None:
            continue
        first = seen.setdefault(key, node)
        if first is node:
            continue
        for old, new in zip(node.outputs, first.outputs):
            if graph.is_live(old):
                graph.replace_all_uses(old, new)
                changed = True
    return PassResult(graph, changed)


def _key(node: Node) -> Hashable | None:
    """What identifies the node's results; None when the attributes are not hashable."""
    operands = tuple(id(v) for v in node.inputs)
    if node.op in COMMUTATIVE_OPS:
        # Broadcasting is symmetric, so the reordered pair also has the same result type.
        operands = tuple(sorted(operands))
    try:
        hash(node.attrs)
    except TypeError:
        return None
    return node.op, type(node.attrs), node.attrs, operands, tuple(v.type for v in node.outputs)

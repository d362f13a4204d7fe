"""Reverse-mode automatic differentiation over the core op set.

``gradients(graph, y, xs)`` appends to ``graph`` the nodes that compute
``d y / d x`` for each ``x``: the forward values stay where they are and the
gradient nodes read them, so a training step is one graph (forward, loss,
gradients, optimizer update) compiled once.

Every op has an entry in :data:`VJP_RULES` (the "vjp" facet of
``ir/facets.py``). A rule gets the graph, the forward node and the
cotangents of its outputs and returns one cotangent per operand, or None
where the operand gets none: integer and boolean operands, and ops whose
derivative is zero wherever it exists (compare, logical, argmax/argmin,
floor/ceil/round/sign, casts to int/bool, constant, random_uniform) are
listed with :func:`~passes.vjp.emit.no_gradient`, so the table has no hole.

Where a function is not differentiable, the rules pick the convention of
JAX (the backend Keras' training parity is measured against):

- ``maximum``/``minimum`` ties: each operand gets half (``jnp.maximum``).
  Note: the frontend's ``relu`` is ``maximum(x, 0)``, so relu'(0) = 0.5
  here where ``jax.nn.relu`` (a custom JVP) says 0.
- ``reduce_max``/``reduce_min`` ties: the cotangent is split equally among
  all maximal positions (JAX's and TensorFlow's rule).
- max pooling ties: the whole cotangent goes to the first maximal position
  of the window in row-major order (TensorFlow, PyTorch; XLA's
  select-and-scatter also routes to a single position).
- ``abs``, ``sign``, ``floor``...: the one-sided value JAX uses (abs'(0) = 0).

Symbolic dims (the batch ``N``) are kept symbolic: a mean over the batch
divides by a count computed in the graph, and zeros are scalars broadcast to
the symbolic shape, so one gradient graph serves every batch size.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ir.attrs import BroadcastAttrs
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from passes.vjp import elementwise, fused, loop, movement, reduction, window
from passes.vjp.emit import VjpRule, no_gradient

__all__ = ["VJP_RULES", "VjpRule", "gradients", "no_gradient"]

VJP_RULES: dict[Op, VjpRule] = {
    **elementwise.RULES,
    **reduction.RULES,
    **movement.RULES,
    **window.RULES,
    **loop.RULES,
    **fused.RULES,
}


class AutodiffError(ValueError):
    """``gradients`` was asked for something it cannot differentiate."""


def gradients(graph: Graph, y: Value, xs: Sequence[Value]) -> list[Value]:
    """``d y / d x`` for each ``x`` in ``xs``, as new nodes appended to ``graph``.

    ``y`` must be a floating scalar (rank 0) of ``graph``; each ``x`` a
    floating input, parameter or node output of it. The result for an ``x``
    has ``x``'s type; for an ``x`` that ``y`` does not depend on it is a zero
    scalar broadcast to that type. Cotangents of a value used several times
    are summed with ADD. Nodes a rule emitted that no requested gradient
    needs (the cotangent of an operand that leads to no ``x``) are removed
    again, so the graph only grows by what the results use.
    """
    _check_request(graph, y, xs)
    forward = graph.nodes
    # By identity, not position: a rule may insert nodes among the forward ones (scan's
    # rule puts a carry-saving forward scan in place of the original).
    start = {id(n) for n in forward}

    # The part of the graph between xs and y: values that depend on some x ...
    depends = {id(x) for x in xs}
    for node in forward:
        if any(id(v) in depends for v in node.inputs):
            depends.update(id(o) for o in node.outputs)
    # ... and, among them, the nodes y depends on, last first.
    wanted = {id(y)}
    path: list[Node] = []
    for node in reversed(forward):
        if any(id(o) in wanted for o in node.outputs) and any(id(o) in depends for o in node.outputs):
            path.append(node)
            wanted.update(id(v) for v in node.inputs if id(v) in depends and v.dtype.is_floating)

    cts: dict[int, Value] = {}
    if id(y) in depends:
        cts[id(y)] = graph.add_constant(np.ones((), y.dtype.numpy), name="grad/seed")
    for node in path:
        outs = tuple(cts.get(id(o)) for o in node.outputs)
        if all(c is None for c in outs):
            continue
        rule = VJP_RULES.get(node.op)
        if rule is None:
            raise AutodiffError(f"no VJP rule for {node.op} (node {node.name})")
        in_cts = list(rule(graph, node, outs))
        if len(in_cts) != len(node.inputs):
            raise AssertionError(f"VJP rule of {node.op} returned {len(in_cts)} cotangents "
                                 f"for {len(node.inputs)} operands (node {node.name})")
        for i, (v, ct) in enumerate(zip(node.inputs, in_cts)):
            if ct is None or id(v) not in wanted:
                continue
            if ct.type != v.type:
                raise AssertionError(f"VJP rule of {node.op} at {node.name}: cotangent of operand {i} "
                                     f"has type {ct.type}, the operand {v.type}")
            prev = cts.get(id(v))
            cts[id(v)] = ct if prev is None else graph.add_node(
                Op.ADD, [prev, ct], name=f"grad/{v.name}/accumulate").output

    results = []
    for x in xs:
        g = cts.get(id(x))
        if g is None:
            zero = graph.add_constant(np.zeros((), x.dtype.numpy), name=f"grad/{x.name}/zero")
            g = zero if x.type.rank == 0 else graph.add_node(
                Op.BROADCAST_TO, [zero], BroadcastAttrs(x.shape), name=f"grad/{x.name}/zeros").output
        results.append(g)
    _remove_unneeded(graph, start, results)
    return results


def _check_request(graph: Graph, y: Value, xs: Sequence[Value]) -> None:
    owned = {id(v) for v in graph.inputs} | {id(v) for v in graph.params}
    owned |= {id(o) for n in graph.nodes for o in n.outputs}
    if id(y) not in owned:
        raise AutodiffError(f"gradients: %{y.name} is not a value of graph @{graph.name}")
    if y.type.rank != 0 or not y.dtype.is_floating:
        raise AutodiffError(f"gradients: y must be a floating scalar (a loss), received %{y.name}: "
                            f"{y.type}; reduce it first (e.g. reduce_sum or reduce_mean)")
    for x in xs:
        if id(x) not in owned:
            raise AutodiffError(f"gradients: %{x.name} is not a value of graph @{graph.name}")
        if not x.dtype.is_floating:
            raise AutodiffError(f"gradients: cannot differentiate with respect to %{x.name}: {x.type} "
                                f"(only floating values have gradients)")


def _remove_unneeded(graph: Graph, start: set[int], results: Sequence[Value]) -> None:
    """Drops the nodes added since the forward nodes ``start`` that no result reads."""
    new = [n for n in graph.nodes if id(n) not in start]
    new_ids = {id(n) for n in new}
    keep: set[int] = set()
    stack = [r.producer for r in results if r.kind is ValueKind.NODE and id(r.producer) in new_ids]
    while stack:
        n = stack.pop()
        if id(n) in keep:
            continue
        keep.add(id(n))
        stack.extend(v.producer for v in n.inputs
                     if v.kind is ValueKind.NODE and id(v.producer) in new_ids)
    for n in reversed(new):
        # A new node forward values now read (scan's carry-saving forward) stays.
        if id(n) not in keep and not any(graph.is_live(o) for o in n.outputs):
            graph.remove_node(n)

"""VJP rules of data movement (reshape, transpose, broadcast_to, slice, concat, pad,
gather, scatter_add) and of the leaves (constant, random_uniform).

Each is the adjoint copy: the cotangent moves back to where the element came
from, and elements that went nowhere get zero. Gather's adjoint is
``SCATTER_ADD`` (ids used twice add up), an op of its own because no
combination of the others does it in time linear in the number of ids.
"""
from __future__ import annotations

from ir.attrs import GatherAttrs, PadAttrs, ScatterAddAttrs, SliceAttrs
from ir.graph import Graph, Node, Value
from ir.opcodes import Op
from ir.shapes import SymDim
from passes.vjp.emit import Emit, VjpRule, no_gradient, whole


def _reshape(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    return [Emit(graph, node).reshape(cts[0], node.inputs[0].shape)]


def _transpose(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    perm = node.attrs.perm
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return [Emit(graph, node).transpose(cts[0], inverse)]


def _broadcast_to(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    return [Emit(graph, node).unbroadcast(cts[0], node.inputs[0].shape)]


def _slice(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """The cotangent put back where the slice took it from, zeros elsewhere.

    Per axis of step ``s`` and ``L`` taken elements: a negative step is first
    turned into a positive one by reversing the cotangent along that axis (the
    elements then sit at ``start - (L-1)|s|`` onwards); ``|s| > 1`` spreads the
    elements ``|s|`` apart (:meth:`Emit.dilate`); one PAD finally places
    every axis at its start inside the operand's shape.
    """
    (ct,), (x,) = cts, node.inputs
    a: SliceAttrs = node.attrs
    e = Emit(graph, node)
    if any(d == 0 for d in ct.shape):
        return [e.zeros(x.type)]
    reverse = [whole(d) for d in ct.shape]
    starts = list(a.starts)
    for i, (start, step) in enumerate(zip(a.starts, a.steps)):
        if step < 0 and isinstance(ct.shape[i], SymDim):
            reverse[i] = (-1, None, -1)   # a symbolic axis reversed whole: reversed back whole
        elif step < 0:
            reverse[i] = (ct.shape[i] - 1, None, -1)
            starts[i] = start - (ct.shape[i] - 1) * -step
    g = e.slice(ct, reverse)
    for i, step in enumerate(a.steps):
        g = e.dilate(g, i, abs(step))
    pads = []
    for i, (d, start) in enumerate(zip(x.shape, starts)):
        if isinstance(d, SymDim):
            pads.append((0, 0))       # a symbolic axis is only ever taken whole (maybe reversed)
        else:
            pads.append((start, d - start - g.shape[i]))
    return [e.pad(g, pads)]


def _concat(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,) = cts
    axis = node.attrs.axis
    e = Emit(graph, node)
    out, at = [], 0
    for v in node.inputs:
        size = v.shape[axis]
        out.append(e.slice_axis(ct, axis, at, at + size))
        at += size
    return out


def _pad(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """The interior of the cotangent: padding values are constants, with no operand behind them."""
    (ct,), (x,) = cts, node.inputs
    a: PadAttrs = node.attrs
    bounds = [whole(d) if isinstance(d, SymDim) else (lo, lo + d, 1)
              for d, (lo, _) in zip(x.shape, a.pads)]
    return [Emit(graph, node).slice(ct, bounds)]


def _gather(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """Rows of the cotangent added back into a table of data's shape; indices have none.

    Out-of-range ids were clamped by gather, and scatter_add clamps the same way,
    so the clamped row receives the gradient it actually contributed.
    """
    (ct,) = cts
    data, idx = node.inputs
    a: GatherAttrs = node.attrs
    attrs = ScatterAddAttrs(a.axis, data.shape[a.axis])
    return [Emit(graph, node).op(Op.SCATTER_ADD, [ct, idx], attrs), None]


def _scatter_add(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,) = cts
    _, idx = node.inputs
    return [Emit(graph, node).op(Op.GATHER, [ct, idx], GatherAttrs(node.attrs.axis)), None]


RULES: dict[Op, VjpRule] = {
    Op.RESHAPE: _reshape,
    Op.TRANSPOSE: _transpose,
    Op.BROADCAST_TO: _broadcast_to,
    Op.SLICE: _slice,
    Op.CONCAT: _concat,
    Op.PAD: _pad,
    Op.GATHER: _gather,
    Op.SCATTER_ADD: _scatter_add,
    Op.RANDOM_UNIFORM: no_gradient,   # its operand is the integer key
    Op.CONSTANT: no_gradient,         # no operands
}

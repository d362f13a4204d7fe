"""The VJP of FUSED: the body's own rules, run on a copy of the body inlined in the graph.

Fusion runs after autodiff, so train steps never need this; it keeps the vjp
facet complete (a fused inference graph can still be differentiated). The
copies recompute the body's forward values the rules read; what no cotangent
needs is removed again by ``passes.autodiff``.
"""
from __future__ import annotations

from ir.graph import Graph, Node, Value
from ir.opcodes import Op


def _fused_vjp(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    from passes.autodiff import VJP_RULES   # the table this module is part of

    body: Graph = node.attrs.body
    vmap: dict[Value, Value] = dict(zip(body.inputs, node.inputs))
    copies = []
    for b in body.nodes:
        m = graph.add_node(b.op, [vmap[v] for v in b.inputs], b.attrs, f"grad/{node.name}/{b.name}")
        vmap.update(zip(b.outputs, m.outputs))
        copies.append(m)
    acc: dict[int, Value] = {}

    def accumulate(v: Value, ct: Value) -> None:
        prev = acc.get(id(v))
        acc[id(v)] = ct if prev is None else graph.add_node(
            Op.ADD, [prev, ct], name=f"grad/{v.name}/accumulate").output

    for v, ct in zip(body.outputs, cts):
        if ct is not None:
            accumulate(vmap[v], ct)
    for m in reversed(copies):
        outs = tuple(acc.get(id(o)) for o in m.outputs)
        if all(c is None for c in outs):
            continue
        for v, ct in zip(m.inputs, VJP_RULES[m.op](graph, m, outs)):
            if ct is not None and v.dtype.is_floating:
                accumulate(v, ct)
    return [acc.get(id(v)) for v in node.inputs]


RULES = {Op.FUSED: _fused_vjp}

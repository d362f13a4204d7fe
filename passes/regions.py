"""Running a pass inside region bodies (Graph-valued attributes: scan, fused groups).

A body is its own graph: a pass runs on it as on any graph, with its inputs
and outputs (the op's contract with its body) kept as they are. Bodies are
copied before the pass runs, because attributes are shared by value (Graph.copy
and CSE share them); the node then gets attributes holding the new body. Its
output types do not change, since the pass keeps the body's signature.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Collection

from ir.graph import Graph, Node
from ir.opcodes import Op
from ir.printer import regions
from passes.pass_manager import PassResult


def run_in_regions(graph: Graph, fn: Callable[[Graph], PassResult], *,
                   ops: Collection[Op] | None = None) -> bool:
    """Applies ``fn`` to a copy of every body of every node of ``graph``; True if any changed.

    ``fn`` is the pass itself, so nested bodies are reached by its own recursion.
    ``ops`` limits it to the bodies of those ops (fusion must not re-fuse the bodies
    of the FUSED groups it made, but does want a scan's step fused).
    """
    changed = False
    for node in graph.nodes:
        if ops is None or node.op in ops:
            changed |= _rewrite(node, fn)
    return changed


def _rewrite(node: Node, fn: Callable[[Graph], PassResult]) -> bool:
    updates = {}
    for field, body in regions(node.attrs):
        copy, _ = body.copy()
        result = fn(copy)
        if result.changed:
            if [v.type for v in result.graph.inputs] != [v.type for v in body.inputs] or \
                    [v.type for v in result.graph.outputs] != [v.type for v in body.outputs]:
                raise AssertionError(f"a pass changed the signature of body @{body.name} of "
                                     f"{node.name} ({node.op})")
            updates[field] = result.graph
    if updates:
        # The only sanctioned in-place attribute change: same op contract, same types.
        node.attrs = dataclasses.replace(node.attrs, **updates)
    return bool(updates)

"""Dead code elimination: drop nodes and parameters that no output depends on."""
from __future__ import annotations

from ir.graph import Graph
from passes.pass_manager import PassResult


def dce(graph: Graph) -> PassResult:
    """Removes, in place, every node none of whose outputs is live, and unused params.

    Every core op is pure, so a node matters only through its outputs. A
    single reverse sweep suffices: by the time a producer is reached, all its
    (later) users have already been removed if dead. Graph inputs are kept
    even when unused, since they are the function's signature.
    """
    removed = 0
    for node in reversed(graph.nodes):
        if not any(graph.is_live(v) for v in node.outputs):
            graph.remove_node(node)
            removed += 1
    n_params = len(graph.params)
    graph.remove_unused_params()
    return PassResult(graph, removed > 0 or len(graph.params) != n_params)

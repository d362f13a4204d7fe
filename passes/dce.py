"""Dead code elimination: drop nodes and parameters that no output depends on."""
from __future__ import annotations

from ir.graph import Graph
from ir.opcodes import Op
from passes.pass_manager import PassResult
from passes.regions import run_in_regions


def dce(graph: Graph) -> PassResult:
    """Removes, in place, every node none of whose outputs is live, and unused params.

    Every core op is pure, so a node matters only through its outputs. Region
    bodies are cleaned as graphs of their own (their inputs and outputs are the
    op's contract and stay), and a scan whose stacked per-step outputs are unused
    is rebuilt without them (the VJP's forward scan stacks its carries for the
    backward pass; inference never needs them). A
    reverse sweep removes dead nodes: by the time a producer is reached, all its
    (later) users have already been removed if dead; it runs again after scans
    were pruned. Graph inputs are kept
    even when unused, since they are the function's signature.
    """
    removed = int(run_in_regions(graph, dce))   # bodies first: a body may stop reading an invariant
    while True:
        for node in reversed(graph.nodes):
            if not any(graph.is_live(v) for v in node.outputs):
                graph.remove_node(node)
                removed += 1
        # A pruned scan leaves the old one (and maybe an invariant's producer) dead: sweep again.
        pruned = _prune_scans(graph)
        if not pruned:
            break
        removed += pruned
    n_params = len(graph.params)
    graph.remove_unused_params()
    return PassResult(graph, removed > 0 or len(graph.params) != n_params)


def _prune_scans(graph: Graph) -> int:
    """Rebuilds each scan that has unused stacked outputs, self-feeding carries nobody reads
    (weight-cotangent accumulators of a backward scan) or invariants its body ignores."""
    from passes.vjp.loop import rebuild_scan, removable_carries, unused_invariants

    count = 0
    for node in graph.nodes:
        if node.op is not Op.SCAN:
            continue
        c = node.attrs.num_carry
        keep = [i for i, v in enumerate(node.outputs[c:]) if graph.is_live(v)]
        drop = removable_carries(graph, node)
        if len(keep) == len(node.outputs) - c and not drop and not unused_invariants(node):
            continue
        new = rebuild_scan(graph, node, keep_steps=keep, drop_carries=drop)
        kept_c = [i for i in range(c) if i not in drop]
        for i, fresh in zip(kept_c, new.outputs):
            graph.replace_all_uses(node.outputs[i], fresh)
        for i, fresh in zip(keep, new.outputs[len(kept_c):]):
            graph.replace_all_uses(node.outputs[c + i], fresh)
        count += 1
    return count

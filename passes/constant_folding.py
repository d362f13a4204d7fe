"""Constant folding: evaluate nodes whose operands are all constants at compile time."""
from __future__ import annotations

import numpy as np

from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from ir.registry import evaluate
from ir.shapes import is_static
from passes.pass_manager import PassResult
from passes.regions import run_in_regions


def constant_folding(graph: Graph, *, max_elements: int = 1 << 20) -> PassResult:
    """Replaces, in place, each node whose operands are all CONSTANT nodes by a constant.

    The op's numpy reference computes the value, so folding means exactly
    what the interpreter would have computed. Nodes are visited in
    topological order, so a folded result makes its users foldable in the
    same run. Parameters are not constants: they are live weights that
    training updates. Results with more than ``max_elements`` elements (all
    outputs together) stay computed at run time, so the binary does not swell
    with, say, a broadcast constant. The folded-away operands are left for
    DCE.
    """
    if max_elements < 0:
        raise ValueError(f"max_elements must be non-negative. Received: max_elements={max_elements}")
    # Bodies fold as graphs of their own; a body input is never a constant, so nothing
    # that varies per step or per call folds.
    changed = run_in_regions(graph, lambda body: constant_folding(body, max_elements=max_elements))
    for node in graph.nodes:
        if _foldable(node, max_elements):
            _fold(graph, node)
            changed = True
    return PassResult(graph, changed)


def _is_constant(v: Value) -> bool:
    return v.kind is ValueKind.NODE and v.producer is not None and v.producer.op is Op.CONSTANT


def _foldable(node: Node, max_elements: int) -> bool:
    if node.op is Op.CONSTANT or not node.inputs or not all(_is_constant(v) for v in node.inputs):
        return False
    # A symbolic dim in the result (broadcast to N) is a run-time size: nothing to fold.
    if not all(is_static(v.shape) for v in node.outputs):
        return False
    return sum(v.type.size.coef for v in node.outputs) <= max_elements


def _fold(graph: Graph, node: Node) -> None:
    arrays = tuple(v.producer.attrs.value for v in node.inputs)  # type: ignore[union-attr]
    # Folding log(0) gives -inf just as run time would; the warning is noise at compile time.
    with np.errstate(all="ignore"):
        results = evaluate(node.op, arrays, node.attrs)
    for v, r in zip(node.outputs, results):
        r = np.asarray(r)
        if r.dtype != v.dtype.numpy or r.shape != v.shape:
            raise AssertionError(f"reference of {node.op} at {node.name} returned "
                                 f"{r.dtype}{list(r.shape)}, its type says {v.type}")
        graph.replace_all_uses(v, graph.add_constant(r, v.dtype, before=node))
    graph.remove_node(node)

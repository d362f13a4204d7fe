"""Hoisting weight-only computations out of the per-call graph into a prologue.

In an inference graph, whatever depends only on parameters and constants
(BatchNorm's ``gamma / sqrt(var + eps)``, a weight transposed or repacked
for the kernels) gives the same result on every call until the weights
change. :func:`split_weight_only` cuts the graph in two: a *prologue* graph
without inputs that computes those values, and a *main* graph that reads
them as parameters bound to arrays the runtime owns
(:class:`HoistedBinding`). ``runtime.executable.Executable`` compiles both
and reruns the prologue only when a weight it reads has a new version
(``frontend.variables.Variable`` counts its writes; see ``runtime.versions``).

Only parameters whose bindings count their versions are hoistable, and
never a parameter the graph itself updates: otherwise a change could go
unseen.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from ir.shapes import is_static

ALIAS_OPS = frozenset({Op.RESHAPE})


class HoistedBinding:
    """The array a hoisted value lives in: the prologue's latest output."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array


@dataclass
class Split:
    """``prologue`` computes ``hoisted[i]``, which ``main`` reads as ``bindings[i]``."""

    prologue: Graph
    main: Graph
    bindings: list[HoistedBinding]
    sources: list[Value]              # params of the prologue: their bindings' versions gate reruns


def split_weight_only(graph: Graph) -> Split | None:
    """The prologue/main split of ``graph``, or None when nothing worth hoisting is there.

    A node is hoisted when every operand is a versioned, not-updated
    parameter, a constant, or a hoisted value, and its results have static
    shapes; at least one hoisted node must be a real kernel (not a reshape).
    """
    updated = {id(p) for p, _ in graph.updates}
    fixed: set[int] = {id(p) for p in graph.params
                       if id(p) not in updated and hasattr(p.binding, "_version")}
    hoisted: list[Node] = []
    # Reshapes of parameters (and constants) cost nothing: both graphs make their own, so a
    # weight that main also reads stays a plain parameter there rather than a hoisted copy.
    shared: set[int] = set()
    for node in graph.nodes:
        if node.op is Op.CONSTANT:
            fixed.add(id(node.output))
            continue
        if (node.inputs and all(id(v) in fixed for v in node.inputs)
                and all(is_static(v.shape) for v in node.outputs)):
            hoisted.append(node)
            fixed.update(id(v) for v in node.outputs)
            if node.op in ALIAS_OPS and (node.inputs[0].kind is not ValueKind.NODE
                                         or id(node.inputs[0].producer) in shared
                                         or node.inputs[0].producer.op is Op.CONSTANT):
                shared.add(id(node))
    if not any(id(n) not in shared for n in hoisted):
        return None
    in_prologue = {id(n) for n in hoisted}
    produced = {id(v) for n in hoisted if id(n) not in shared for v in n.outputs}
    # Values the rest of the graph reads from the prologue: operands of main nodes, outputs, updates.
    boundary: list[Value] = []
    seen: set[int] = set()

    def need(v: Value) -> None:
        if id(v) in produced and id(v) not in seen:
            seen.add(id(v))
            boundary.append(v)

    for node in graph.nodes:
        if (id(node) not in in_prologue or id(node) in shared) and node.op is not Op.CONSTANT:
            for v in node.inputs:
                need(v)
    for v in graph.outputs:
        need(v)
    for _, v in graph.updates:
        need(v)
    if not boundary:
        return None

    # The prologue: hoisted nodes and the constants and parameters they read.
    pro = Graph(f"{graph.name}_prologue")
    pmap: dict[int, Value] = {}
    for p in graph.params:
        if any(id(n) in in_prologue for n, _ in p.uses):
            pmap[id(p)] = pro.add_param(p.type, p.name, p.binding)
    for node in graph.nodes:
        if id(node) in in_prologue or (node.op is Op.CONSTANT and any(
                id(u) in in_prologue for u, _ in node.output.uses)):
            new = pro.add_node(node.op, [pmap[id(v)] for v in node.inputs], node.attrs, node.name)
            for a, b in zip(node.outputs, new.outputs):
                pmap[id(a)] = b
    pro.set_outputs(pmap[id(v)] for v in boundary)
    _sweep(pro)

    # The main graph: everything else, the boundary values as parameters.
    main = Graph(graph.name)
    mmap: dict[int, Value] = {}
    for v in graph.inputs:
        mmap[id(v)] = main.add_input(v.type, v.name)
    for p in graph.params:
        mmap[id(p)] = main.add_param(p.type, p.name, p.binding)
    bindings = []
    for v in boundary:
        b = HoistedBinding(np.zeros(tuple(v.shape), v.dtype.numpy))
        bindings.append(b)
        mmap[id(v)] = main.add_param(v.type, f"{v.name}.hoisted", b)
    for node in graph.nodes:
        if id(node) in in_prologue and id(node) not in shared:
            continue
        new = main.add_node(node.op, [mmap[id(v)] for v in node.inputs], node.attrs, node.name)
        for a, b in zip(node.outputs, new.outputs):
            mmap[id(a)] = b
    main.set_outputs(mmap[id(v)] for v in graph.outputs)
    for p, v in graph.updates:
        main.add_update(mmap[id(p)], mmap[id(v)])
    _sweep(main)
    return Split(pro, main, bindings, [p for p in pro.params])


def _sweep(graph: Graph) -> None:
    """Drops what only the other half reads (constants, free reshapes) and the params left unused:
    DCE's sweep, inlined to keep the runtime independent of the pass pipeline."""
    for node in reversed(graph.nodes):
        if not any(graph.is_live(v) for v in node.outputs):
            graph.remove_node(node)
    graph.remove_unused_params()

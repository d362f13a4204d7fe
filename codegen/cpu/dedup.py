"""Structural keys of kernels: nodes with equal keys get one LLVM function.

Many kernels of a graph are the same code: the optimizer update of parameters of
one shape, metric updates, elementwise ops and their gradients on one shape. LLVM
time grows with the code it is given, so ``codegen.cpu.compiler`` emits one
function per distinct :func:`kernel_key` and calls it from every node that has it.

What the key holds is what an emitter may read (``codegen.cpu.kernel``'s
contract, audited over ``codegen/cpu/lowerings``): the op, the attributes (a
FUSED or SCAN body compared by structure: its ops, attributes, types and wiring,
never its value names), the operand and result types, which operands are the
same value (``x * x``), and the in-place operand. Symbolic dimensions appear by
name; one ``compile_graph`` call maps each name to one ``%sym`` slot, so the key
is only compared within one call. Names never enter the key: they only name
LLVM values. Anything the key cannot describe structurally (a parameter inside
a region body) is keyed by identity, which only ever gives up sharing.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import Hashable

import numpy as np

from ir.graph import Graph, Node, Value, ValueKind


def kernel_key(node: Node, shared: int | None) -> Hashable:
    """The structural identity of the kernel ``node`` becomes (with ``shared``, the operand
    its one output is written over, or None)."""
    return (node.op, _key(node.attrs), _operands(node.inputs), tuple(v.type for v in node.outputs), shared)


def _operands(values) -> tuple:
    """Types of the operands and, per operand, the position of its first occurrence."""
    first: dict[int, int] = {}
    return tuple((v.type, first.setdefault(id(v), i)) for i, v in enumerate(values))


def _key(x) -> Hashable:
    if isinstance(x, Graph):
        return _graph_key(x)
    if isinstance(x, np.ndarray):
        return ("array", x.dtype.str, x.shape, hashlib.sha1(np.ascontiguousarray(x).tobytes()).digest())
    if isinstance(x, (enum.Enum, str, int, float, bool, type(None))):
        return (type(x).__name__, x)
    if isinstance(x, (tuple, list)):
        return (type(x).__name__, *(_key(i) for i in x))
    if isinstance(x, dict):
        return ("dict", *sorted((repr(k), _key(v)) for k, v in x.items()))
    if isinstance(x, Value):
        return ("value", id(x))                 # not expected in attributes; never shared
    if dataclasses.is_dataclass(x):
        return (type(x).__qualname__,
                *(_key(getattr(x, f.name)) for f in dataclasses.fields(x) if not f.name.startswith("_")))
    try:
        hash(x)
    except TypeError:
        return ("object", id(x))
    return (type(x).__qualname__, x)


def _graph_key(g: Graph) -> tuple:
    """A region body by structure: inputs' types, each node's op, attributes, operand wiring
    and result types, the outputs and updates, in order; value names left out."""
    index: dict[int, int] = {}

    def ref(v: Value) -> Hashable:
        if id(v) not in index:
            # A value from outside this body (it should not happen) or a parameter: by identity.
            return ("outer", id(v) if v.kind is not ValueKind.PARAM else id(v.binding or v))
        return index[id(v)]

    for v in g.inputs:
        index[id(v)] = len(index)
    params = []
    for v in g.params:
        index[id(v)] = len(index)
        params.append((v.type, id(v.binding) if v.binding is not None else id(v)))
    nodes = []
    for n in g.nodes:
        nodes.append((n.op, _key(n.attrs), tuple(ref(v) for v in n.inputs), tuple(v.type for v in n.outputs)))
        for v in n.outputs:
            index[id(v)] = len(index)
    return ("graph", tuple(v.type for v in g.inputs), tuple(params), tuple(nodes),
            tuple(ref(v) for v in g.outputs), tuple((ref(p), ref(v)) for p, v in g.updates))

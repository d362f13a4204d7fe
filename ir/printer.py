"""Deterministic text form of a graph, for tests, dumps and bug reports."""
from __future__ import annotations

import dataclasses
import enum

import numpy as np

from ir.attrs import ConstantAttrs, NoAttrs
from ir.graph import Graph, Node
from ir.shapes import SymDim

_INLINE_CONSTANT_LIMIT = 16


def format_attr(value: object) -> str:
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, SymDim):
        return value.name
    if isinstance(value, tuple):
        return "[" + ",".join(format_attr(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_attrs(node: Node) -> str:
    a = node.attrs
    if isinstance(a, NoAttrs):
        return ""
    if isinstance(a, ConstantAttrs):
        v = a.value
        if v.size <= _INLINE_CONSTANT_LIMIT:
            return " {value=" + np.array2string(v.ravel(), separator=",", threshold=99,
                                                 floatmode="unique").replace("\n", "") + "}"
        return " {value=<" + a._digest[:12] + ">}"
    parts = [f"{f.name}={format_attr(getattr(a, f.name))}"
             for f in dataclasses.fields(a) if not f.name.startswith("_")]
    return " {" + ", ".join(parts) + "}"


def print_graph(graph: Graph) -> str:
    args = ", ".join(f"%{v.name}: {v.type}" for v in graph.inputs)
    lines = [f"graph @{graph.name}({args}) {{"]
    for p in graph.params:
        lines.append(f"  param %{p.name}: {p.type}")
    for n in graph.nodes:
        outs = ", ".join(f"%{v.name}" for v in n.outputs)
        ins = ", ".join(f"%{v.name}" for v in n.inputs)
        types = ", ".join(str(v.type) for v in n.outputs)
        lines.append(f"  {outs} = {n.op}({ins}){format_attrs(n)} : {types}")
    lines.append("  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append("}")
    return "\n".join(lines)

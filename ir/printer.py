"""Deterministic text form of a graph, for tests, dumps and bug reports.

The form, one item a line (``ir/parser.py`` reads it back)::

    graph @main(%x: f32[N,4]) {
      param %w: f32[4]
      %add = add(%x, %w) : f32[N,4]
      %pad = pad(%add) {pads=[[0,0],[1,2]], value=0.5} : f32[N,7]
      return %pad
    }

Attributes print as ``name=value`` in field order: tuples as ``[a,b]``,
booleans ``true``/``false``, ``None`` as ``none``, floats by ``repr`` (exact),
enums and symbolic dims by name. Names that are not plain words are quoted
(``%"a b"``, JSON escapes).

Constants with at most ``_INLINE_CONSTANT_LIMIT`` elements print their values
inline, flattened in row-major order (``{value=[1.5,2.]}``), with the shortest
decimal that reads back to the same number. Larger ones print a digest
(``{value=<4b163bba909a>}``) that keeps dumps short but cannot be parsed
back; ``print_graph(g, full_constants=True)`` prints them instead as
``{value=hex:...}``: the raw bytes of the row-major array, little-endian,
bools as one byte 0/1, two lowercase hex digits a byte. dtype and shape are
those of the node's result type, so the text stays exact and the parser needs
nothing else. (Inline values are exact too, except that every NaN reads back
as numpy's canonical NaN.)

Regions: an attribute holding a Graph (a loop or fusion body) prints as
``body=@name``, and the body follows the node's line as a nested, indented
``graph @name(...) { ... }`` block (one block per Graph-valued field, in field
order; bodies may nest)::

      %scan.0, %scan.1 = scan(%h0, %x) {body=@step, num_carry=1, ...} : f32[N,4], f32[N,T,4]
        graph @step(%h: f32[N,4], %x_t: f32[N,4]) {
          %add = add(%h, %x_t) : f32[N,4]
          return %add, %add
        }
"""
from __future__ import annotations

import dataclasses
import enum
import json
import re

import numpy as np

from ir.attrs import ConstantAttrs, NoAttrs
from ir.graph import Graph, Node
from ir.shapes import SymDim

_INLINE_CONSTANT_LIMIT = 16
HEX_PREFIX = "hex:"

# Names that print bare; anything else is quoted so the text stays unambiguous.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.$/\-]+")

# array2string reads numpy's global print options; pin the ones that change the
# text (a user's np.set_printoptions must not change dumps or break parsing).
_PRINT_OPTIONS = dict(precision=8, threshold=99, edgeitems=3, linewidth=75, suppress=False,
                      nanstr="nan", infstr="inf", sign="-", formatter=None, floatmode="unique",
                      legacy=False)


def format_name(name: str) -> str:
    """A value or graph name as printed after ``%`` or ``@``."""
    return name if PLAIN_NAME.fullmatch(name) else json.dumps(name)


def format_attr(value: object) -> str:
    if isinstance(value, Graph):
        # A region: the reference; the body itself prints as a block below the node's line.
        return "@" + format_name(value.name)
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, SymDim):
        return value.name
    if isinstance(value, tuple):
        return "[" + ",".join(format_attr(v) for v in value) + "]"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        # float() so numpy scalars print as numbers, not as "np.float64(0.5)".
        return repr(float(value))
    return str(value)


def format_constant(a: ConstantAttrs, full: bool = False) -> str:
    """The printed value of a constant: inline values, hex bytes (``full``) or a digest."""
    v = a.value
    if v.size <= _INLINE_CONSTANT_LIMIT:
        with np.printoptions(**_PRINT_OPTIONS):
            text = np.array2string(v.ravel(), separator=",", threshold=99, floatmode="unique")
        return text.replace("\n", "")
    if full:
        little = v.astype(v.dtype.newbyteorder("<"), copy=False)
        return HEX_PREFIX + little.tobytes().hex()
    return "<" + a._digest[:12] + ">"


def format_attrs(node: Node, full_constants: bool = False) -> str:
    a = node.attrs
    if isinstance(a, NoAttrs):
        return ""
    if isinstance(a, ConstantAttrs):
        return " {value=" + format_constant(a, full_constants) + "}"
    parts = [f"{f.name}={format_attr(getattr(a, f.name))}"
             for f in dataclasses.fields(a) if not f.name.startswith("_")]
    return " {" + ", ".join(parts) + "}"


def regions(attrs: object) -> list[tuple[str, Graph]]:
    """``(field name, body)`` for every Graph-valued field of ``attrs``, in field order.

    Generic over attribute classes: any op whose attributes hold a Graph (scan's
    body, a fused group's body) prints, parses and verifies its bodies the same way.
    """
    if not dataclasses.is_dataclass(attrs):
        return []
    return [(f.name, getattr(attrs, f.name)) for f in dataclasses.fields(attrs)
            if isinstance(getattr(attrs, f.name), Graph)]


def print_graph(graph: Graph, *, full_constants: bool = False) -> str:
    """The text form of ``graph``; ``full_constants`` prints large constants as hex so it parses back.

    A node whose attributes hold graphs (regions) prints ``name=@body`` among its
    attributes, then each body, in field order, as a nested block indented under it.
    """
    return "\n".join(_graph_lines(graph, "", full_constants))


def _graph_lines(graph: Graph, indent: str, full_constants: bool) -> list[str]:
    def ref(v) -> str:
        return "%" + format_name(v.name)

    args = ", ".join(f"{ref(v)}: {v.type}" for v in graph.inputs)
    lines = [f"{indent}graph @{format_name(graph.name)}({args}) {{"]
    for p in graph.params:
        lines.append(f"{indent}  param {ref(p)}: {p.type}")
    for n in graph.nodes:
        outs = ", ".join(ref(v) for v in n.outputs)
        ins = ", ".join(ref(v) for v in n.inputs)
        types = ", ".join(str(v.type) for v in n.outputs)
        lines.append(f"{indent}  {outs} = {n.op}({ins}){format_attrs(n, full_constants)} : {types}")
        for _, body in regions(n.attrs):
            lines.extend(_graph_lines(body, indent + "    ", full_constants))
    for p, v in graph.updates:
        lines.append(f"{indent}  update {ref(p)} <- {ref(v)}")
    lines.append(f"{indent}  return " + ", ".join(ref(v) for v in graph.outputs))
    lines.append(f"{indent}}}")
    return lines

"""Graph verifier: every message names the node, what was expected and what was found."""
from __future__ import annotations

from ir.graph import Graph, Value, ValueKind
from ir.registry import IRTypeError, infer_types
from ir.printer import regions


class VerificationError(ValueError):
    pass


def verify(graph: Graph) -> Graph:
    """Checks SSA order, types against the op registry, use-lists and outputs.

    Region bodies (Graph-valued attributes) are verified recursively; their
    errors are reported under the outer node (``node scan (scan): body graph
    @step failed verification: ...``). A body is closed: its nodes may read only
    its own inputs, parameters and node outputs, never the outer graph's.

    Returns the graph so passes can end with ``return verify(g)``.
    """
    errors: list[str] = []
    defined: set[int] = set()
    names: dict[str, Value] = {}
    reads: dict[int, list] = {}

    def define(v: Value) -> None:
        if v.name in names and names[v.name] is not v:
            errors.append(f"value name %{v.name} is used twice")
        names[v.name] = v
        defined.add(id(v))

    for v in graph.inputs:
        if v.kind is not ValueKind.INPUT:
            errors.append(f"graph input %{v.name}: expected kind input, received {v.kind.value}")
        define(v)
    for v in graph.params:
        if v.kind is not ValueKind.PARAM:
            errors.append(f"graph param %{v.name}: expected kind param, received {v.kind.value}")
        define(v)

    for node in graph.nodes:
        for i, v in enumerate(node.inputs):
            if id(v) not in defined:
                errors.append(f"node {node.name} ({node.op}): operand {i} %{v.name} is not defined "
                              f"before it (not in this graph, or out of order)")
            reads.setdefault(id(v), []).append((node, i))
        try:
            expected = infer_types(node.op, tuple(v.type for v in node.inputs), node.attrs)
        except IRTypeError as exc:
            errors.append(f"node {node.name}: {exc}")
            expected = None
        actual = tuple(v.type for v in node.outputs)
        if expected is not None and expected != actual:
            errors.append(f"node {node.name} ({node.op}): expected output types "
                          f"{', '.join(map(str, expected))}, received {', '.join(map(str, actual))}")
        for field, body in regions(node.attrs):
            # A body is its own graph: verified whole, its messages indented under this node.
            try:
                verify(body)
            except VerificationError as exc:
                inner = str(exc).replace("\n", "\n  ")
                errors.append(f"node {node.name} ({node.op}): {field} {inner}")
        for i, v in enumerate(node.outputs):
            if v.producer is not node or v.index != i or v.kind is not ValueKind.NODE:
                errors.append(f"node {node.name}: output {i} %{v.name} does not point back to it")
            define(v)

    for v in graph.values():
        want = sorted((id(n), i) for n, i in reads.get(id(v), []))
        have = sorted((id(n), i) for n, i in v.uses)
        if want != have:
            errors.append(f"value %{v.name}: use-list has {len(have)} entries, "
                          f"expected {len(want)} (the operands that read it)")
    for i, v in enumerate(graph.outputs):
        if id(v) not in defined:
            errors.append(f"graph output {i} %{v.name} is not defined in the graph")
    for p, v in graph.updates:
        if all(p is not q for q in graph.params):
            errors.append(f"update target %{p.name} is not a parameter of the graph")
        if id(v) not in defined:
            errors.append(f"update of %{p.name}: value %{v.name} is not defined in the graph")
        if p.type != v.type:
            errors.append(f"update of %{p.name}: expected type {p.type}, received {v.type}")

    if errors:
        raise VerificationError(f"graph @{graph.name} failed verification:\n  " + "\n  ".join(errors))
    return graph

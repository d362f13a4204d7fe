"""Shape inference: re-derive every value's type from the graph inputs down.

A node's output type is computed once, when the node is created, so a change
to an input's type (specializing the symbolic batch ``N`` to a deployment
size, or generalizing a traced size back to ``N``) leaves every downstream
type stale. Rather than patching types in place, the passes here rebuild the
graph in topological order: each type comes fresh from the op registry and
the use-lists are right by construction.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ir.attrs import ScanAttrs
from ir.graph import Graph, Value
from ir.opcodes import Op
from ir.registry import IRTypeError
from ir.shapes import SymDim, TensorType
from passes.pass_manager import PassResult


def shape_inference(graph: Graph) -> PassResult:
    """Recomputes every node's output types from the inputs' current types.

    Returns the input graph unchanged (``changed=False``) when every type was
    already right, else a rebuilt graph with the same names.
    """
    return _rebuild(graph, {v.name: v.type for v in graph.inputs}, {})


def specialize_inputs(graph: Graph, *, input_types: Mapping[str, TensorType]) -> PassResult:
    """Gives the named inputs new types and re-derives everything downstream.

    Where a symbolic dim of an input becomes a concrete size (``N`` -> 7),
    the symbol is bound graph-wide: inputs not named in ``input_types`` and
    shape attributes (reshape and broadcast targets) get 7 for ``N`` too. The
    other direction rewrites no attributes, since a static 7 in an attribute
    cannot be told apart from an unrelated 7; a node that then no longer
    type-checks raises IRTypeError naming it.
    """
    names = [v.name for v in graph.inputs]
    unknown = sorted(set(input_types) - set(names))
    if unknown:
        raise ValueError(f"specialize_inputs: graph @{graph.name} has no input named "
                         f"{', '.join(unknown)}; its inputs are {', '.join(names) or '(none)'}")
    bindings: dict[str, int] = {}
    for v in graph.inputs:
        new = input_types.get(v.name)
        if new is None or new.rank != v.type.rank:
            continue
        for old_dim, new_dim in zip(v.shape, new.shape):
            if isinstance(old_dim, SymDim) and isinstance(new_dim, int):
                prev = bindings.setdefault(old_dim.name, new_dim)
                if prev != new_dim:
                    raise ValueError(f"specialize_inputs: dimension {old_dim.name} is {prev} in one "
                                     f"input and {new_dim} in %{v.name}; one symbol has one size")
    types = {v.name: input_types[v.name] if v.name in input_types else _bind_type(v.type, bindings)
             for v in graph.inputs}
    return _rebuild(graph, types, bindings)


def _rebuild(graph: Graph, input_types: Mapping[str, TensorType],
             bindings: Mapping[str, int]) -> PassResult:
    """A copy of ``graph`` (as Graph.copy) with new input types and SymDims bound in attributes."""
    g = Graph(graph.name)
    vmap: dict[Value, Value] = {}
    changed = False
    for v in graph.inputs:
        vmap[v] = g.add_input(input_types[v.name], v.name)
        changed |= vmap[v].type != v.type
    for p in graph.params:
        vmap[p] = g.add_param(p.type, p.name, p.binding)
    for n in graph.nodes:
        attrs = _bind_attrs(n.attrs, bindings)
        if n.op is Op.SCAN:
            attrs = _retype_scan_body(attrs, [vmap[i].type for i in n.inputs], bindings)
        try:
            new = g.add_node(n.op, [vmap[i] for i in n.inputs], attrs, n.name)
        except IRTypeError as exc:
            raise IRTypeError(f"shape inference: node {n.name}: {exc}") from None
        changed |= attrs is not n.attrs
        for old, fresh in zip(n.outputs, new.outputs):
            changed |= old.type != fresh.type
            vmap[old] = fresh
    g.set_outputs(vmap[o] for o in graph.outputs)
    for param, value in graph.updates:
        g.add_update(vmap[param], vmap[value])
    # Keep the caller's graph (and its object identities) when there was nothing to do.
    return PassResult(g, True) if changed else PassResult(graph, False)


def _retype_scan_body(attrs: ScanAttrs, operand_types: list[TensorType],
                      bindings: Mapping[str, int]) -> ScanAttrs:
    """The scan's attributes with a body whose inputs take the (new) operand types.

    A body is its own graph, typed from its inputs: when the operands' types change
    (a batch specialized, a traced length made symbolic), the body is re-derived the
    same way the outer graph is.
    """
    from ir.ops.loop import body_input_types

    body = attrs.body
    want = body_input_types(operand_types, attrs)
    if [v.type for v in body.inputs] == want and not bindings:
        return attrs
    result = _rebuild(body, {v.name: t for v, t in zip(body.inputs, want)}, bindings)
    return dataclasses.replace(attrs, body=result.graph) if result.changed else attrs


def _bind_dims(dims: tuple, bindings: Mapping[str, int]) -> tuple:
    return tuple(bindings.get(d.name, d) if isinstance(d, SymDim) else d for d in dims)


def _bind_type(t: TensorType, bindings: Mapping[str, int]) -> TensorType:
    return TensorType(t.dtype, _bind_dims(t.shape, bindings)) if bindings else t


def _bind_attrs(attrs: Any, bindings: Mapping[str, int]) -> Any:
    """``attrs`` with bound SymDims replaced in every shape-like (flat tuple) field.

    Generic over attribute classes, so a new op whose attributes carry a shape
    is specialized without a change here. Returns ``attrs`` itself when
    nothing is replaced.
    """
    if not bindings or not dataclasses.is_dataclass(attrs):
        return attrs
    updates = {}
    for f in dataclasses.fields(attrs):
        value = getattr(attrs, f.name)
        if isinstance(value, Graph):
            # A region body sees the same symbols: bind them in it as in the outer graph.
            body = _rebuild(value, {v.name: _bind_type(v.type, bindings) for v in value.inputs},
                            bindings)
            if body.changed:
                updates[f.name] = body.graph
        elif isinstance(value, tuple) and any(isinstance(d, SymDim) and d.name in bindings
                                            for d in value):
            updates[f.name] = _bind_dims(value, bindings)
    return dataclasses.replace(attrs, **updates) if updates else attrs

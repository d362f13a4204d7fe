"""SSA graph: Values, Nodes and the Graph that owns them.

Use-lists cannot go stale because nothing but :class:`Graph` methods touch
them: ``Node.inputs`` is a read-only tuple, and rewiring goes through
:meth:`Graph.set_input` / :meth:`Graph.replace_all_uses`. Output types are
computed by the op registry when a node is created; rewiring must keep them
(the verifier re-derives every type), and passes that change input types
rebuild the graph (``passes.shape_inference``), so no derived fact goes stale.
"""
from __future__ import annotations

import enum
from typing import Any, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ir.attrs import ConstantAttrs, NoAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.shapes import TensorType


class ParamBinding(Protocol):
    """What a parameter is bound to: the frontend's Variable satisfies this.

    ``numpy()`` returns the live array (not a copy), so compiled code reads
    the weights where the layer keeps them.
    """

    def numpy(self) -> np.ndarray: ...


class ValueKind(enum.Enum):
    INPUT = "input"
    PARAM = "param"
    NODE = "node"


class Value:
    """An SSA value: a graph input, a parameter, or the output of a node."""

    __slots__ = ("name", "type", "kind", "producer", "index", "binding", "_uses")

    def __init__(self, name: str, type: TensorType, kind: ValueKind,
                 producer: "Node | None" = None, index: int = 0, binding: Any = None):
        self.name = name
        self.type = type
        self.kind = kind
        self.producer = producer
        self.index = index
        self.binding = binding
        self._uses: list[tuple[Node, int]] = []

    @property
    def uses(self) -> tuple[tuple["Node", int], ...]:
        """(node, operand index) for every operand slot that reads this value."""
        return tuple(self._uses)

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Node:
    """One op application. Create through :meth:`Graph.add_node`."""

    __slots__ = ("op", "attrs", "name", "_inputs", "outputs")

    def __init__(self, op: Op, inputs: tuple[Value, ...], attrs: Any, name: str):
        self.op = op
        self.attrs = attrs
        self.name = name
        self._inputs = inputs
        self.outputs: tuple[Value, ...] = ()

    @property
    def inputs(self) -> tuple[Value, ...]:
        return self._inputs

    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise ValueError(f"node {self.name} ({self.op}) has {len(self.outputs)} outputs")
        return self.outputs[0]

    def __repr__(self) -> str:
        ins = ", ".join(f"%{v.name}" for v in self._inputs)
        return f"<Node {self.name} = {self.op}({ins})>"


class Graph:
    """A function: inputs and parameters in, outputs out, nodes in topological order."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.params: list[Value] = []
        self._nodes: list[Node] = []
        self._outputs: list[Value] = []
        self._updates: list[tuple[Value, Value]] = []   # (param, new value), applied after the step
        self._names: set[str] = set()

    # -- naming -----------------------------------------------------------
    def _unique(self, hint: str) -> str:
        hint = hint or "v"
        if hint not in self._names:
            self._names.add(hint)
            return hint
        i = 1
        while f"{hint}_{i}" in self._names:
            i += 1
        name = f"{hint}_{i}"
        self._names.add(name)
        return name

    # -- construction -----------------------------------------------------
    def add_input(self, type: TensorType, name: str = "input") -> Value:
        v = Value(self._unique(name), type, ValueKind.INPUT)
        self.inputs.append(v)
        return v

    def add_param(self, type: TensorType, name: str, binding: Any = None) -> Value:
        """A parameter bound to ``binding`` (anything with ``numpy()``)."""
        v = Value(self._unique(name), type, ValueKind.PARAM, binding=binding)
        self.params.append(v)
        return v

    def add_node(self, op: Op, inputs: Sequence[Value], attrs: Any = None, name: str | None = None,
                 before: Node | None = None) -> Node:
        """Creates a node, infers its output types, and inserts it (at the end, or before ``before``)."""
        from ir.registry import infer_types  # registry imports graph types; avoid a cycle

        attrs = NoAttrs() if attrs is None else attrs
        inputs = tuple(inputs)
        for i, v in enumerate(inputs):
            if not isinstance(v, Value):
                raise TypeError(f"{op} operand {i} must be an ir Value, received {type(v).__name__}")
        out_types = infer_types(op, tuple(v.type for v in inputs), attrs)
        node = Node(op, inputs, attrs, self._unique(name or op.value))
        node.outputs = tuple(
            Value(node.name if len(out_types) == 1 else self._unique(f"{node.name}.{i}"), t,
                  ValueKind.NODE, node, i)
            for i, t in enumerate(out_types))
        for i, v in enumerate(inputs):
            v._uses.append((node, i))
        if before is None:
            self._nodes.append(node)
        else:
            self._nodes.insert(self._nodes.index(before), node)
        return node

    def add_constant(self, value: Any, dtype: DType | None = None, name: str = "const",
                     before: Node | None = None) -> Value:
        arr = np.asarray(value, dtype=None if dtype is None else dtype.numpy)
        return self.add_node(Op.CONSTANT, (), ConstantAttrs(arr), name, before=before).output

    def set_outputs(self, values: Iterable[Value]) -> None:
        self._outputs = list(values)

    def add_update(self, param: Value, value: Value) -> None:
        """State written back when the graph has run: ``param`` takes ``value``.

        This is how training state (weights, optimizer slots, BatchNorm's moving
        statistics, metric accumulators) changes: every read of ``param`` in the
        graph sees the old value, and the new one lands after all of them, so
        the order of reads and writes never matters. A param updated twice keeps
        the last value given.
        """
        if param.kind is not ValueKind.PARAM or all(p is not param for p in self.params):
            raise ValueError(f"update target %{param.name} is not a parameter of graph @{self.name}")
        if param.type != value.type:
            raise TypeError(f"update of %{param.name}: {param.type} cannot take %{value.name}: {value.type}")
        self._updates = [(p, v) for p, v in self._updates if p is not param] + [(param, value)]

    # -- queries ----------------------------------------------------------
    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(self._nodes)

    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    @property
    def updates(self) -> tuple[tuple[Value, Value], ...]:
        return tuple(self._updates)

    def __iter__(self) -> Iterator[Node]:
        return iter(tuple(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)

    def is_live(self, v: Value) -> bool:
        return (bool(v._uses) or any(o is v for o in self._outputs)
                or any(u is v for _, u in self._updates))

    def values(self) -> Iterator[Value]:
        yield from self.inputs
        yield from self.params
        for n in self._nodes:
            yield from n.outputs

    # -- mutation ---------------------------------------------------------
    def set_input(self, node: Node, index: int, value: Value) -> None:
        """Rewires one operand; the node's output types must not change."""
        # Checked up front: a negative index would read the right operand but miss its use entry.
        if not 0 <= index < len(node._inputs):
            raise IndexError(f"{node.name} ({node.op}) has {len(node._inputs)} operand(s); "
                             f"operand index {index} is out of range")
        old = node._inputs[index]
        old._uses.remove((node, index))
        node._inputs = node._inputs[:index] + (value,) + node._inputs[index + 1:]
        value._uses.append((node, index))

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Every operand and graph output that read ``old`` now reads ``new``."""
        if old is new:
            return
        if old.type != new.type:
            raise TypeError(f"cannot replace %{old.name}: {old.type} by %{new.name}: {new.type}")
        for node, i in list(old._uses):
            self.set_input(node, i, new)
        self._outputs = [new if o is old else o for o in self._outputs]
        self._updates = [(p, new if u is old else u) for p, u in self._updates]

    def remove_node(self, node: Node) -> None:
        """Removes a node none of whose outputs is used."""
        # Checked first: a foreign node's operands would lose use entries before remove() failed.
        if not any(n is node for n in self._nodes):
            raise ValueError(f"cannot remove {node.name}: it is not a node of graph @{self.name}")
        for v in node.outputs:
            if self.is_live(v):
                users = ", ".join(n.name for n, _ in v._uses) or "graph output"
                raise ValueError(f"cannot remove {node.name}: output %{v.name} is used by {users}")
        for i, v in enumerate(node._inputs):
            v._uses.remove((node, i))
        self._nodes.remove(node)

    def remove_unused_params(self) -> None:
        self.params = [p for p in self.params if p._uses or any(o is p for o in self._outputs)
                       or any(t is p for t, _ in self._updates)]

    def reorder(self, nodes: Sequence[Node]) -> None:
        """Replaces the node order with a permutation of the same nodes."""
        if len(nodes) != len(self._nodes) or {id(n) for n in nodes} != {id(n) for n in self._nodes}:
            raise ValueError("reorder needs a permutation of the graph's nodes")
        self._nodes = list(nodes)

    def copy(self) -> tuple["Graph", dict[Value, Value]]:
        """A deep copy of the structure (bindings and constant arrays are shared)."""
        g = Graph(self.name)
        vmap: dict[Value, Value] = {}
        for v in self.inputs:
            vmap[v] = g.add_input(v.type, v.name)
        for v in self.params:
            vmap[v] = g.add_param(v.type, v.name, v.binding)
        for n in self._nodes:
            new = g.add_node(n.op, [vmap[i] for i in n.inputs], n.attrs, n.name)
            for a, b in zip(n.outputs, new.outputs):
                vmap[a] = b
        g.set_outputs(vmap[o] for o in self._outputs)
        for p, u in self._updates:
            g.add_update(vmap[p], vmap[u])
        return g, vmap

    def __str__(self) -> str:
        from ir.printer import print_graph
        return print_graph(self)

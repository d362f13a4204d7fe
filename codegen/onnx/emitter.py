"""The contract between the ONNX exporter and the per-op emitters.

Every IR op that can appear in an inference graph has one *emitter*,
registered with ``@onnx_mapping(Op.X)`` into :data:`ONNX_MAPPINGS`. An
emitter is ``emit(b: OnnxBuilder, node: Node) -> None``: it reads the ONNX
names of the node's operands with ``b.input(node, i)`` and must define the
ONNX value ``b.output(node, j)`` for every output ``j``, using as many ONNX
nodes (``b.add``) and initializers (``b.const``) as it needs. The exporter
(``codegen/onnx/export.py``) walks the graph in order, calls the emitters,
then drops what no graph output needs.

The emitted graph is exactly the IR's meaning: the numpy reference of each
op in ``ir/ops`` is the definition, and ONNX Runtime must reproduce it. Where
ONNX's operator differs (``Mod`` on floats, ``Cast`` out of range, ``Gather``
out of range) the emitter adds the fix-up, and says why.

Dtypes: an ONNX operator's type constraints, and the kernels ONNX Runtime's
CPU provider actually has, are narrower than the IR's dtypes (no ``Neg`` on
uint8, no ``MatMul`` on int8, no ``Where`` on bool). :meth:`OnnxBuilder.native`
computes such ops in a wider type and casts back, which is exact for the
integer ops where it is used (the narrowing cast wraps modulo 2**bits as
numpy does).
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ir.dtypes import DType
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from ir.registry import evaluate
from ir.shapes import Shape, SymDim

# The opset the exporter writes by default, and the ones it knows how to write. Opset 18
# moved the axes of ReduceMax/Min/Mean from an attribute to an input; nothing else this
# exporter uses changed meaning through opset 21.
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = tuple(range(17, 22))

Emitter = Callable[["OnnxBuilder", Node], None]
ONNX_MAPPINGS: dict[Op, Emitter] = {}


def onnx_mapping(*ops: Op) -> Callable[[Emitter], Emitter]:
    """Registers an emitter for one or more ops."""
    def deco(fn: Emitter) -> Emitter:
        for op in ops:
            if op in ONNX_MAPPINGS:
                raise RuntimeError(f"ONNX mapping for {op} registered twice")
            ONNX_MAPPINGS[op] = fn
        return fn
    return deco


class OnnxExportError(NotImplementedError):
    """The graph uses an op, or a use of one, that has no ONNX form."""


_ONNX_DTYPES = {
    DType.float16: TensorProto.FLOAT16, DType.float32: TensorProto.FLOAT,
    DType.float64: TensorProto.DOUBLE, DType.int8: TensorProto.INT8, DType.uint8: TensorProto.UINT8,
    DType.int32: TensorProto.INT32, DType.int64: TensorProto.INT64, DType.bool: TensorProto.BOOL,
}


def onnx_dtype(dtype: DType) -> int:
    """The ``TensorProto`` element type of an IR dtype."""
    return _ONNX_DTYPES[dtype]


# Where an op has no kernel for a narrow integer (or bool), it runs in this type instead.
_WIDER = {DType.int8: DType.int32, DType.uint8: DType.int32, DType.bool: DType.uint8}

FLOATS = frozenset({DType.float16, DType.float32, DType.float64})
SIGNED_INTS = frozenset({DType.int8, DType.int32, DType.int64})
INTS = SIGNED_INTS | {DType.uint8}
NUMERIC = FLOATS | INTS
ALL = NUMERIC | {DType.bool}

# Dimension names in the ONNX file: the IR's batch dim N is Keras' "batch".
DIM_NAMES = {"N": "batch"}


class OnnxBuilder:
    """The ONNX graph under construction: value names, nodes, initializers.

    One builder exports one IR graph. Names are unique across the ONNX graph;
    the IR's own names are kept where free, so a file read in Netron shows the
    layer scopes (``sequential/conv2d/conv``).
    """

    def __init__(self, graph: Graph, opset: int, reserved: Iterable[str] = ()):
        self.graph = graph
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._taken: set[str] = set(reserved)
        self._names: dict[int, str] = {}          # id(IR value) -> ONNX name
        self._consts: dict[tuple, str] = {}       # small constants, shared by content
        self._static: dict[int, np.ndarray | None] = {}
        self._dims: dict[str, str] = {}           # SymDim name -> 1-D int64 tensor holding its size
        self._where = "graph"                     # the IR node being emitted, for node names
        # Initializers that could not take their name (a weight's raw form held it): they get
        # it once pruning has dropped the holder (export.py).
        self.preferred: dict[str, str] = {}

    # -- names ------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A value or node name not used yet, ``hint`` itself when free."""
        name, i = hint, 1
        while name in self._taken:
            name = f"{hint}_{i}"
            i += 1
        self._taken.add(name)
        return name

    def bind(self, value: Value, name: str) -> None:
        """Gives an IR value a fixed ONNX name (graph inputs and outputs)."""
        self._names[id(value)] = name
        self._taken.add(name)

    def name_of(self, value: Value) -> str:
        """The ONNX name of an IR value; a parameter becomes an initializer on first use."""
        name = self._names.get(id(value))
        if name is None:
            name = self.fresh(value.name)
            self._names[id(value)] = name
            if value.kind is ValueKind.PARAM:
                if value.binding is None:
                    raise OnnxExportError(f"parameter %{value.name} has no value to export "
                                          f"(it is not bound to a variable)")
                self.initializers[name] = numpy_helper.from_array(
                    np.asarray(value.binding.numpy(), value.dtype.numpy), name)
        return name

    def input(self, node: Node, i: int) -> str:
        return self.name_of(node.inputs[i])

    def output(self, node: Node, j: int = 0) -> str:
        return self.name_of(node.outputs[j])

    # -- nodes and constants ----------------------------------------------------------------
    def begin(self, where: Node | str) -> None:
        """Names what follows after ``where`` (the IR node being emitted, or a label)."""
        self._where = where if isinstance(where, str) else where.name

    def is_named(self, value: Value) -> bool:
        return id(value) in self._names

    def add(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | str | None = None,
            **attrs) -> str:
        """Appends an ONNX node; returns its (first) output name.

        ``outputs`` None makes one fresh output named after the IR node being
        emitted. Empty strings in ``inputs`` leave optional operands out.
        """
        if outputs is None:
            outputs = [self.fresh(f"{self._where}/{op_type}")]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs),
                                           name=self.fresh(f"{self._where}/{op_type}:node"), **attrs))
        return outputs[0]

    def const(self, value, dtype: DType | np.dtype | None = None, hint: str = "const",
              name: str | None = None) -> str:
        """An initializer holding ``value``, named ``name`` or after the node and ``hint``.

        Small unnamed ones are shared when equal.
        """
        arr = np.asarray(value, dtype=None if dtype is None else
                         (dtype.numpy if isinstance(dtype, DType) else dtype))
        key = None
        if arr.size <= 16 and name is None:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
        wanted, name = name, self.fresh(name or f"{self._where}/{hint}")
        if wanted is not None and name != wanted:
            self.preferred[name] = wanted
        self.initializers[name] = numpy_helper.from_array(np.asarray(arr, order="C"), name)
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        """A 1-D int64 initializer: the form ONNX takes for axes, pads, shapes and slice bounds."""
        return self.const(np.asarray(list(values), np.int64), hint=hint)

    def cast(self, name: str, to: DType, out: str | None = None) -> str:
        return self.add("Cast", [name], out, to=onnx_dtype(to))

    def native(self, node: Node, op_type: str, supported: frozenset[DType],
               extra_inputs: Sequence[str] = (), out: str | None = None, **attrs) -> str:
        """``op_type`` over the node's operands, run in a wider dtype where ``supported`` lacks theirs.

        The operands share the dtype of the node's first input; ``extra_inputs``
        (axes and the like) follow them uncast. The result is cast back to the
        node's output dtype when the op computed in another.
        """
        names = [self.input(node, i) for i in range(len(node.inputs))]
        dtype = node.inputs[0].dtype
        result_dtype = node.outputs[0].dtype
        out = self.output(node) if out is None else out
        if dtype in supported:
            return self.add(op_type, names + list(extra_inputs), out, **attrs)
        wide = _WIDER.get(dtype)
        if wide is None or wide not in supported:
            raise OnnxExportError(f"{node.op} at {node.name}: ONNX {op_type} has no form for "
                                  f"{dtype.name} operands")
        y = self.add(op_type, [self.cast(n, wide) for n in names] + list(extra_inputs), **attrs)
        # Comparisons already answer in bool; arithmetic comes back to the operand type.
        return self.add("Identity", [y], out) if result_dtype is DType.bool else self.cast(y, result_dtype, out)

    # -- shapes at run time -----------------------------------------------------------------
    def dim(self, sym: SymDim) -> str:
        """A 1-D int64 tensor ``[size]`` of a symbolic dim, read off the first graph input carrying it."""
        if sym.name in self._dims:
            return self._dims[sym.name]
        for v in self.graph.inputs:
            for axis, d in enumerate(v.shape):
                if d == sym:
                    saved, self._where = self._where, f"shape_of_{DIM_NAMES.get(sym.name, sym.name)}"
                    name = self.add("Shape", [self.name_of(v)], start=axis, end=axis + 1)
                    self._where = saved
                    self._dims[sym.name] = name
                    return name
        raise OnnxExportError(f"no graph input has the symbolic dimension {sym}, so its size "
                              f"cannot be known when the ONNX model runs")

    def shape_tensor(self, shape: Shape) -> str:
        """A 1-D int64 tensor holding ``shape``: a constant, or a Concat with run-time dim sizes."""
        if all(isinstance(d, int) for d in shape):
            return self.ints(shape, "shape")
        parts: list[str] = []
        run: list[int] = []
        for d in shape:
            if isinstance(d, SymDim):
                if run:
                    parts.append(self.ints(run, "shape"))
                    run = []
                parts.append(self.dim(d))
            else:
                run.append(d)
        if run:
            parts.append(self.ints(run, "shape"))
        return parts[0] if len(parts) == 1 else self.add("Concat", parts, axis=0)

    # -- export-time values ------------------------------------------------------------------
    def static(self, value: Value) -> np.ndarray | None:
        """The value of ``value`` if it depends on parameters and constants only, else None.

        Computed with the op references (the IR's definition), so a kernel that
        the graph reshapes or flips can be stored ready-made for ONNX's layout
        instead of being rearranged on every run.
        """
        key = id(value)
        if key in self._static:
            return self._static[key]
        result: np.ndarray | None = None
        if value.kind is ValueKind.PARAM:
            result = None if value.binding is None else np.asarray(value.binding.numpy(), value.dtype.numpy)
        elif value.kind is ValueKind.NODE and not any(isinstance(d, SymDim) for d in value.shape):
            node = value.producer
            args = [self.static(v) for v in node.inputs]
            if all(a is not None for a in args) and node.op is not Op.RANDOM_UNIFORM:
                result = np.asarray(evaluate(node.op, tuple(args), node.attrs)[value.index])
        self._static[key] = result
        return result


def source_param(value: Value) -> Value | None:
    """The weight a value was computed from by a chain of one-operand ops, if any.

    Names a weight stored in a new layout after the weight it came from
    (``conv2d_transpose/kernel``, not the node that flips it).
    """
    while value.kind is ValueKind.NODE:
        operands = [v for v in value.producer.inputs
                    if not (v.kind is ValueKind.NODE and v.producer.op is Op.CONSTANT)]
        if len(operands) != 1:
            return None
        value = operands[0]
    return value if value.kind is ValueKind.PARAM else None


def spatial_perms(rank: int) -> tuple[list[int], list[int]]:
    """(channels-last -> channels-first, and back) permutations for a rank-``rank`` tensor."""
    to_first = [0, rank - 1, *range(1, rank - 1)]
    to_last = [0, *range(2, rank), 1]
    return to_first, to_last


def flat_pads(pads: Sequence[tuple[int, int]]) -> list[int]:
    """(low, high) per axis -> ONNX's ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]``."""
    return [lo for lo, _ in pads] + [hi for _, hi in pads]

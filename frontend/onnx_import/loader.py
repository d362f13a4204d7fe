"""Reading an ONNX file into an :class:`~frontend.onnx_import.model.OnnxModel`.

The loader decides everything that does not need tracing, and refuses the
model *before* anything is traced or compiled when any of it is unsupported,
listing every problem at once (node name, op type, reason):

* ops with no importer, custom domains, and attributes an importer rejects;
* dtypes Horn lacks (from the file's types and ONNX shape inference);
* graph inputs that are not tensors, or whose dynamic dims Horn cannot map;
* graph inputs feeding operands Horn needs when compiling (Reshape's shape...).

Then :func:`load_onnx` traces the model once (no compiling), so refusals that
need values, such as arithmetic on the run-time batch size, are listed too.

Dynamic dimensions: a graph input's *leading* dim that is dynamic (a
``dim_param`` such as ``"batch"``, or no size at all) becomes Horn's symbolic
batch ``N``, shared by every input, so one compiled model runs any batch size.
A dynamic dim anywhere else is refused; ``input_shapes`` can pin it.

Initializers: floating ones become trainable :class:`Variable` s (so float
graphs fine-tune with ``fit``), except those feeding running statistics
(BatchNorm's mean and variance: non-trainable) or operands Horn needs as
compile-time values (those stay constants). Integer and bool initializers
are constants. A weight used only where an importer wants another layout
(Conv's OIHW kernel) is stored in Horn's layout.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import onnx
import onnx.inliner
import onnx.shape_inference
from onnx import numpy_helper

from frontend.onnx_import.context import NodeView
from frontend.onnx_import.dtypes import horn_dtype, onnx_type_name
from frontend.onnx_import.errors import (DTYPE, DYNAMIC, OP, VALUE_TYPE, OnnxImportError, Problem,
                                         UnsupportedOnnxError)
from frontend.onnx_import.registry import Importer, lookup
from frontend.variables import Variable
from ir.dtypes import DType
from ir.shapes import BATCH, SymDim

_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class InputSpec:
    """A graph input: its name in the file, dtype, and shape (ints and the batch ``N``)."""

    name: str
    dtype: DType
    shape: tuple

    @property
    def keras_shape(self) -> tuple:
        return tuple(None if isinstance(d, SymDim) else d for d in self.shape)


@dataclass
class ImportedGraph:
    """Everything an OnnxModel replays: specs, nodes, constants and weights."""

    name: str
    opset: int
    inputs: list[InputSpec]
    outputs: list[str]
    nodes: list[NodeView]
    constants: dict[str, np.ndarray]
    variables: dict[str, Variable]
    pretransformed: frozenset[str]
    producer: str = ""
    doc_string: str = ""


def load_onnx(model: str | os.PathLike | bytes | onnx.ModelProto, *,
              static_inputs: Mapping[str, Any] | None = None,
              input_shapes: Mapping[str, tuple] | None = None,
              name: str | None = None):
    """Reads an ONNX model into a Horn :class:`~frontend.onnx_import.model.OnnxModel`.

    ``model`` is a path, the serialized bytes, or an ``onnx.ModelProto``.
    ``static_inputs`` maps graph inputs to values fixed at import (they stop
    being inputs): use it for inputs that feed shapes, axes or pads, which Horn
    needs when it compiles. ``input_shapes`` overrides declared input shapes;
    ``None`` in it stands for the batch. ``name`` names the model (default:
    the ONNX graph's name).

    Raises :class:`UnsupportedOnnxError` listing every node, input and dtype
    Horn cannot import before anything is traced; then traces the model once
    (nothing is compiled until it runs) and raises one error listing every
    node refused on what tracing learns (such as a shape known only at run time).
    """
    from frontend.onnx_import.model import OnnxModel
    proto, label = _read(model)
    imported = OnnxModel(import_graph(proto, label, static_inputs or {}, input_shapes or {}, name))
    # Refusals that need the values (a shape known only at run time, an attribute's value
    # against the input's rank) show now, all at once, rather than at the first predict.
    imported.trace(optimize=False)
    return imported


def _read(model) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        return model, "the ONNX model"
    if isinstance(model, (bytes, bytearray)):
        try:
            return onnx.load_from_string(bytes(model)), "the ONNX model"
        except Exception as exc:  # protobuf raises its own DecodeError
            raise OnnxImportError(f"The bytes given are not a serialized ONNX model: {exc}") from None
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"load_onnx expects a path, bytes or an onnx.ModelProto. Received: {model!r}")
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No ONNX file at {path!r}")
    try:
        return onnx.load(path), f"'{path}'"
    except Exception as exc:
        raise OnnxImportError(f"'{path}' is not a readable ONNX model: {exc}") from None


def _opset(proto: onnx.ModelProto) -> int:
    for imp in proto.opset_import:
        if imp.domain in _DEFAULT_DOMAINS:
            return int(imp.version)
    if proto.graph.node:
        raise OnnxImportError("The model declares no opset for the default ONNX domain")
    return onnx.defs.onnx_opset_version()


def _value_types(proto: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """Declared and inferred types of every named value (inference may fail; then declared only)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False).graph
    except Exception:
        inferred = proto.graph
    types: dict[str, onnx.TypeProto] = {}
    for vi in [*inferred.value_info, *proto.graph.input, *proto.graph.output]:
        if vi.type.WhichOneof("value") is not None:
            types[vi.name] = vi.type
    return types


def _type_problem(type_: onnx.TypeProto, what: str, *, declared: bool = False) -> Problem | None:
    """Why a value of ``type_`` cannot be imported, or None. ``declared``: a graph input,
    which must name its element type (intermediate values may leave it to inference)."""
    kind = type_.WhichOneof("value")
    if kind != "tensor_type":
        label = (kind or "unknown").replace("_type", "")
        article = "an" if label[0] in "aeiou" else "a"
        return Problem(what, f"is {article} {label}, but Horn imports tensors only", VALUE_TYPE)
    elem = type_.tensor_type.elem_type
    if not elem:
        return Problem(what, "declares no element type", DTYPE) if declared else None
    if horn_dtype(elem) is None:
        return Problem(what, f"has element type {onnx_type_name(elem)}, which Horn does not have "
                             f"(Horn has {', '.join(d.name for d in DType)})", DTYPE)
    return None


def _input_shape(vi: onnx.ValueInfoProto, override: tuple | None) -> tuple[tuple | None, str | None]:
    """The IR shape of a graph input, or None and why it cannot be mapped."""
    if override is not None:
        if any(d is None for d in tuple(override)[1:]):
            raise OnnxImportError(f"input_shapes['{vi.name}'] = {tuple(override)}: only the leading "
                                  "dimension can be None (the batch); give the others sizes")
        return tuple(BATCH if d is None else int(d) for d in override), None
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None, "has no declared shape (rank unknown)"
    dims = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif i == 0:
            dims.append(BATCH)   # the documented rule: a dynamic leading dim is the batch
        else:
            label = f"'{d.dim_param}'" if d.dim_param else "of unknown size"
            return None, (f"dimension {i} {label} is dynamic; Horn maps only a dynamic leading "
                          "(batch) dimension. Pin the others with load_onnx(input_shapes={"
                          f"'{vi.name}': (None, ...)}})")
    return tuple(dims), None


def import_graph(proto: onnx.ModelProto, label: str, static_inputs: Mapping[str, Any],
                 input_shapes: Mapping[str, tuple], name: str | None) -> ImportedGraph:
    """Checks the whole model, then gathers what an OnnxModel needs to replay it."""
    if proto.functions:
        # Model-local functions are ops of a custom domain; inlining turns them into plain nodes.
        proto = onnx.inliner.inline_local_functions(proto)
    opset = _opset(proto)
    g = proto.graph
    problems: list[Problem] = []
    types = _value_types(proto)
    init_names = {t.name for t in g.initializer}
    declared_inputs = [vi for vi in g.input if vi.name not in init_names]
    input_names = {vi.name for vi in declared_inputs}
    for key, where in ((static_inputs, "static_inputs"), (input_shapes, "input_shapes")):
        unknown = sorted(set(key) - input_names)
        if unknown:
            raise OnnxImportError(f"{where} names {unknown}, which are not inputs of {label}; its "
                                  f"inputs are {sorted(input_names)}")

    # -- graph inputs ----------------------------------------------------------------------
    specs: list[InputSpec] = []
    constants: dict[str, np.ndarray] = {}
    for vi in declared_inputs:
        what = f"input '{vi.name}'"
        p = _type_problem(vi.type, what, declared=True)
        if p is not None:
            problems.append(p)
            continue
        dtype = horn_dtype(vi.type.tensor_type.elem_type)
        if vi.name in static_inputs:
            constants[vi.name] = np.asarray(static_inputs[vi.name], dtype=dtype.numpy)
            continue
        shape, why = _input_shape(vi, input_shapes.get(vi.name))
        if shape is None:
            problems.append(Problem(what, why, DYNAMIC))
            continue
        specs.append(InputSpec(vi.name, dtype, shape))

    # -- initializers ------------------------------------------------------------------------
    arrays: dict[str, np.ndarray] = {}
    for t in g.initializer:
        if horn_dtype(t.data_type) is None:
            problems.append(Problem(f"initializer '{t.name}'", f"has element type "
                                    f"{onnx_type_name(t.data_type)}, which Horn does not have", DTYPE))
            continue
        arrays[t.name] = numpy_helper.to_array(t)
    for t in g.sparse_initializer:
        problems.append(Problem(f"initializer '{t.values.name}'", "is sparse; Horn imports dense "
                                "tensors only", VALUE_TYPE))

    # -- nodes -------------------------------------------------------------------------------
    nodes = [NodeView(n, i, opset) for i, n in enumerate(g.node)]
    uses: dict[str, list[tuple[NodeView, int, Importer]]] = {}
    dynamic_inputs = {s.name for s in specs}
    for view in nodes:
        if view.domain not in _DEFAULT_DOMAINS:
            problems.append(view.problem(f"custom domain '{view.domain}': Horn imports the default "
                                         "ONNX domain only", OP))
            continue
        imp = lookup(view.op_type)
        if imp is None:
            problems.append(view.problem("Horn has no importer for this op", OP))
            continue
        typed = [p for v in (*view.inputs, *view.outputs) if v and v in types
                 for p in [_type_problem(types[v], f"value '{v}'")] if p is not None]
        if typed:
            problems.append(view.problem(str(typed[0]), typed[0].category))
            continue
        if imp.check is not None:
            refusal = imp.check(view)
            if refusal is not None:
                problems.append(view.problem(refusal[1], refusal[0]))
                continue
        for i in imp.static_inputs:
            if view.has_input(i) and view.inputs[i] in dynamic_inputs:
                problems.append(view.problem(
                    f"operand {i} ('{view.inputs[i]}') must be known when Horn compiles (it sets a "
                    f"shape, axes or pads), but it is a graph input. Pass its value with "
                    f"load_onnx(..., static_inputs={{'{view.inputs[i]}': value}})", DYNAMIC))
        for i, v in enumerate(view.inputs):
            if v:
                uses.setdefault(v, []).append((view, i, imp))
    if problems:
        raise UnsupportedOnnxError(problems, label)

    model_name = name or _model_name(g.name)
    constants_, variables, pretransformed = _place_initializers(
        arrays, uses, model_name, {o.name for o in g.output})
    constants.update(constants_)
    return ImportedGraph(model_name, opset, specs, [o.name for o in g.output], nodes, constants,
                         variables, frozenset(pretransformed), proto.producer_name, proto.doc_string)


def _model_name(graph_name: str) -> str:
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", graph_name).strip("_")
    return cleaned or "onnx_model"


def _place_initializers(arrays: dict[str, np.ndarray], uses, model_name: str, outputs: set[str]):
    """Splits initializers into constants and Variables (stored in Horn's layout when possible;
    never one the graph also returns, which must come out in the file's layout)."""
    constants: dict[str, np.ndarray] = {}
    variables: dict[str, Variable] = {}
    pretransformed: set[str] = set()
    for name, arr in arrays.items():
        used = uses.get(name, [])
        as_static = any(i in imp.static_inputs for _, i, imp in used)
        if arr.dtype.kind != "f" or as_static or not used:
            constants[name] = arr
            continue
        trainable = not any(i in imp.state_inputs for _, i, imp in used)
        stored = None if name in outputs else _layout_for_all_uses(arr, used)
        if stored is not None:
            pretransformed.add(name)
            arr = stored
        variables[name] = Variable(arr, name=name, trainable=trainable, dtype=arr.dtype.name,
                                   path=f"{model_name}/{name}")
    return constants, variables, pretransformed


def _layout_for_all_uses(arr: np.ndarray, used) -> np.ndarray | None:
    """The array in the layout every use wants, or None when some use wants ONNX's own layout
    or two uses want different ones (then the graph transforms it where it is used)."""
    result = None
    for view, i, imp in used:
        layout = imp.layouts.get(i)
        if layout is None:
            return None
        out = np.asarray(layout(arr, view))
        if result is not None and (out.shape != result.shape or not np.array_equal(out, result)):
            return None
        result = out
    return None if result is None else np.ascontiguousarray(result)

"""Export to ONNX: an IR graph to a ``ModelProto``, a model to a ``.onnx`` file.

:func:`graph_to_onnx` lists every op the graph uses that has no ONNX mapping
(with node names and the reason) before emitting anything, then calls one
emitter per node (``ONNX_MAPPINGS``), drops what no output needs, and
validates the result with ``onnx.checker`` (full check) and strict shape
inference, whose inferred output types must agree with the declared ones.

:func:`export_onnx` traces a model's inference graph exactly as ``predict``
does (``Model._trace_graph``: training=False, the default pass pipeline),
names inputs and outputs after the model's layers, keeps the batch dimension
symbolic as the named dim ``batch``, stores the weights as initializers and
writes the file atomically.
"""
from __future__ import annotations

import os
from importlib import metadata
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from codegen.onnx.emitter import (DEFAULT_OPSET, DIM_NAMES, ONNX_MAPPINGS, SUPPORTED_OPSETS, OnnxBuilder,
                                  OnnxExportError, onnx_dtype)
from ir.dtypes import DType
from ir.graph import Graph, Value, ValueKind
from ir.opcodes import Op
from ir.shapes import SymDim

EXPORT_FORMATS = ("onnx",)


def producer_version() -> str:
    try:
        return metadata.version("horn")
    except metadata.PackageNotFoundError:    # a source checkout that was never installed
        return "0+unknown"


# -- graph -> ModelProto ------------------------------------------------------------------------
def unsupported_ops(graph: Graph) -> dict[Op, list[str]]:
    """Ops of ``graph`` with no ONNX mapping -> the names of the nodes that use them."""
    missing: dict[Op, list[str]] = {}
    for node in graph.nodes:
        if node.op not in ONNX_MAPPINGS:
            missing.setdefault(node.op, []).append(node.name)
    return missing


def _unsupported_message(graph: Graph, missing: dict[Op, list[str]]) -> str:
    from ir.facets import KNOWN_OP_GAPS
    lines = [f"Cannot export graph @{graph.name} to ONNX: {len(missing)} op(s) have no ONNX mapping:"]
    for op, names in missing.items():
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} nodes)" if len(names) > 5 else "")
        why = KNOWN_OP_GAPS.get((op, "onnx"), "no mapping in codegen/onnx")
        lines.append(f"  {op} at {shown}: {why}")
    return "\n".join(lines)


def _value_info(name: str, value: Value) -> onnx.ValueInfoProto:
    dims = [DIM_NAMES.get(d.name, d.name) if isinstance(d, SymDim) else int(d) for d in value.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(value.dtype), dims)


def _unique_names(names: Sequence[str], taken: set[str]) -> list[str]:
    out = []
    for name in names:
        candidate, i = name, 1
        while candidate in taken:
            candidate = f"{name}_{i}"
            i += 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _prune(nodes: list[onnx.NodeProto], initializers: dict[str, onnx.TensorProto],
           outputs: Sequence[str]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes and initializers some output needs (a folded kernel leaves its source unused)."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in _node_inputs(node) if i)
    kept.reverse()
    return kept, [t for name, t in initializers.items() if name in needed]


def _subgraph_nodes(node: onnx.NodeProto):
    """Every node of the graphs in ``node``'s attributes (a Scan's body), recursively."""
    for attr in node.attribute:
        for g in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            for n in g.node:
                yield n
                yield from _subgraph_nodes(n)


def _node_inputs(node: onnx.NodeProto) -> list[str]:
    """``node``'s inputs and the outer names its subgraphs read (loop invariants, constants)."""
    names = list(node.input)
    for attr in node.attribute:
        for g in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            local = {i.name for i in g.input} | {t.name for t in g.initializer}
            local |= {o for n in g.node for o in n.output}
            names += [i for n in g.node for i in _node_inputs(n) if i not in local]
    return names


def _take_preferred_names(preferred: dict[str, str], nodes: list[onnx.NodeProto],
                          initializers: list[onnx.TensorProto], io_names: Sequence[str]) -> None:
    """Renames initializers to the names they asked for, where pruning freed them.

    A conv kernel stored in ONNX's layout asks for its weight's name; the raw
    weight took it first (the graph's flip or reshape of it was emitted before
    the conv folded it) and is gone once pruned.
    """
    used = {t.name for t in initializers} | {o for n in nodes for o in n.output} | set(io_names)
    renames = {}
    for t in initializers:
        wanted = preferred.get(t.name)
        if wanted is not None and wanted not in used:
            renames[t.name] = wanted
            used.add(wanted)
    for t in initializers:
        t.name = renames.get(t.name, t.name)
    for n in [*nodes, *(s for n in nodes for s in _subgraph_nodes(n))]:
        n.input[:] = [renames.get(i, i) for i in n.input]


def graph_to_onnx(graph: Graph, *, opset: int = DEFAULT_OPSET, input_names: Sequence[str] | None = None,
                  output_names: Sequence[str] | None = None, doc_string: str = "", model_version: int = 1,
                  metadata_props: dict[str, str] | None = None, fp16_weights: bool = False,
                  check: bool = True) -> onnx.ModelProto:
    """The ONNX model of ``graph``, validated.

    ``input_names`` / ``output_names`` name the graph's inputs and outputs
    (default: the IR names; clashes get ``_1``, ``_2`` suffixes).
    ``fp16_weights`` stores float32 weights as float16 with a Cast back to
    float32 in front of their users: half the file, the weights rounded to
    float16, the computation still float32.
    """
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"Unsupported ONNX opset {opset!r}: Horn writes opsets "
                         f"{SUPPORTED_OPSETS[0]} to {SUPPORTED_OPSETS[-1]} (default {DEFAULT_OPSET}).")
    missing = unsupported_ops(graph)
    if missing:
        raise OnnxExportError(_unsupported_message(graph, missing))
    input_names = [v.name for v in graph.inputs] if input_names is None else list(input_names)
    output_names = [v.name for v in graph.outputs] if output_names is None else list(output_names)
    if len(input_names) != len(graph.inputs) or len(output_names) != len(graph.outputs):
        raise ValueError(f"graph @{graph.name} has {len(graph.inputs)} inputs and {len(graph.outputs)} "
                         f"outputs; received {len(input_names)} input and {len(output_names)} output names")
    taken: set[str] = set()
    input_names = _unique_names(input_names, taken)
    output_names = _unique_names(output_names, taken)

    b = OnnxBuilder(graph, opset, reserved=taken)
    for v, name in zip(graph.inputs, input_names):
        b.bind(v, name)
    renames: list[tuple[Value, str]] = []
    for v, name in zip(graph.outputs, output_names):
        # A node's output takes the output name itself; an input, a weight, a constant or
        # a value returned twice reaches its output name through an Identity.
        direct = (v.kind is ValueKind.NODE and v.producer.op is not Op.CONSTANT
                  and not b.is_named(v))
        if direct:
            b.bind(v, name)
        else:
            renames.append((v, name))
    for node in graph.nodes:
        b.begin(node)
        ONNX_MAPPINGS[node.op](b, node)
    b.begin("output")
    for v, name in renames:
        b.add("Identity", [b.name_of(v)], name)

    nodes, initializers = _prune(b.nodes, b.initializers, output_names)
    _take_preferred_names(b.preferred, nodes, initializers, input_names + output_names)
    if fp16_weights:
        nodes, initializers = _store_fp16(b, nodes, initializers)
    onnx_graph = helper.make_graph(
        nodes, graph.name,
        [_value_info(n, v) for v, n in zip(graph.inputs, input_names)],
        [_value_info(n, v) for v, n in zip(graph.outputs, output_names)],
        initializer=initializers)
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opset_ids, producer_name="horn",
                              producer_version=producer_version(), doc_string=doc_string,
                              model_version=int(model_version),
                              # The oldest IR version that can carry this opset, so older runtimes load it.
                              ir_version=helper.find_min_ir_version_for(opset_ids))
    helper.set_model_props(model, dict(metadata_props or {}))
    if check:
        validate(model)
    return model


def _store_fp16(b: OnnxBuilder, nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto]
                ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """float32 weights (16 elements or more: scalars are not worth a Cast) stored as float16."""
    casts, kept = [], []
    limit = float(np.finfo(np.float16).max)
    for t in initializers:
        if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims, dtype=np.int64)) >= 16:
            arr = numpy_helper.to_array(t)
            if np.any(np.abs(arr[np.isfinite(arr)]) > limit):
                raise ValueError(f"fp16_weights: weight {t.name!r} holds values beyond float16's range "
                                 f"(|x| > {limit:g}), which would become inf; export it in float32")
            half = b.fresh(f"{t.name}_fp16")
            kept.append(numpy_helper.from_array(arr.astype(np.float16), half))
            casts.append(helper.make_node("Cast", [half], [t.name], name=b.fresh(f"{t.name}/Cast:node"),
                                          to=TensorProto.FLOAT))
        else:
            kept.append(t)
    return casts + nodes, kept


def validate(model: onnx.ModelProto) -> None:
    """``onnx.checker`` with the full check, and strict shape inference with type checks.

    Strict inference fails where an operator's inferred output type disagrees
    with a declared one, so the declared output dtypes and shapes are checked too.
    """
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


# -- model -> file ------------------------------------------------------------------------------
def _spec_of(spec, i: int) -> tuple[tuple, str]:
    """(shape with the batch first, dtype) from a KerasTensor, InputSpec, array or shape tuple."""
    if isinstance(spec, (tuple, list)):
        shape, dtype = tuple(spec), None
    elif hasattr(spec, "shape"):
        shape, dtype = spec.shape, getattr(spec, "dtype", None)
    else:
        raise TypeError(f"input_signature[{i}]: expected a shape tuple, a keras.InputSpec, an Input "
                        f"tensor or an array; received {spec!r}")
    if shape is None or len(shape) < 1:
        raise ValueError(f"input_signature[{i}]: expected a shape with a batch dimension first; "
                         f"received shape={shape!r}")
    if not all(d is None or isinstance(d, (int, np.integer)) for d in tuple(shape)[1:]):
        raise ValueError(f"input_signature[{i}]: expected sizes or None (a symbolic length) after the "
                         f"batch; received shape={tuple(shape)}")
    return tuple(shape), DType.from_any(dtype).numpy.name if dtype is not None else "float32"


def _is_shape(x) -> bool:
    return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer)) for d in x)


def _input_specs(model, input_signature) -> list[tuple[tuple, str]]:
    if input_signature is not None:
        specs = [input_signature] if _is_shape(input_signature) or not isinstance(
            input_signature, (tuple, list)) else list(input_signature)
        return [_spec_of(s, i) for i, s in enumerate(specs)]
    # Functional and Sequential models declare Input tensors; a model read from an ONNX
    # file declares the file's input specs.
    inputs = getattr(model, "inputs", None) or getattr(model, "input_specs", None)
    if inputs:
        return [_spec_of(t, i) for i, t in enumerate(inputs)]
    seen = {key[1] for key in model._executables if key[0] is False}
    if len(seen) == 1:
        return [((None,) + tuple(shape[1:]), dtype) for dtype, shape in next(iter(seen)).specs]
    raise ValueError(f"Model '{model.name}' has no declared inputs, so the shapes to export are unknown. "
                     f"Pass input_signature=[keras.InputSpec(shape=(None, ...), dtype=...)] (one per "
                     f"input), or call the model on data once.")


def _layer_names(tensors) -> list[str] | None:
    try:
        return [t._keras_history[0].name for t in tensors]
    except (AttributeError, TypeError):
        return None


def trace_inference_graph(model, specs: Sequence[tuple[tuple, str]]) -> Graph:
    """The graph ``predict`` compiles for inputs of these (shape, dtype), batch symbolic."""
    from frontend.models.model import InputSignature
    # A None after the batch is a symbolic length (Input((None, 16))): it stays symbolic.
    examples = [np.zeros((1,) + tuple(1 if d is None else int(d) for d in shape[1:]), dtype)
                for shape, dtype in specs]
    structure, arrays = model._standardize_inputs(examples if len(examples) > 1 else examples[0])
    model._check_inputs(structure)
    signature = InputSignature(tuple((a.dtype.name, (None,) + tuple(shape[1:]))
                                     for a, (shape, _) in zip(arrays, specs)))
    graph, _ = model._trace_graph(structure, signature, False)
    from passes.fusion import defuse   # CPU kernel groups go back to core ops for ONNX
    return defuse(graph)


def export_onnx(model, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET, input_signature=None,
                fp16_weights: bool = False, model_version: int = 1) -> onnx.ModelProto:
    """Writes ``model``'s inference graph to ``path`` as ONNX (opset 17 by default); returns the model.

    Inputs and outputs are named after the model's input and output layers
    (a subclassed model's output is ``output``, as in training), the batch dimension is the named
    dim ``batch``, and the weights are initializers holding their current
    values. ``input_signature`` (shapes with the batch first, or
    ``keras.InputSpec``s) is needed only for a subclassed model that was
    never called. Raises OnnxExportError listing every unsupported op before
    anything is written; the file appears whole or not at all.
    """
    from frontend.models.model import Model
    from frontend.saving.atomic import atomic_path

    if not isinstance(model, Model):
        raise TypeError(f"export_onnx expects a Horn model; received {type(model).__name__}")
    specs = _input_specs(model, input_signature)
    graph = trace_inference_graph(model, specs)
    # Input layers' names where the model has them; otherwise the names it traces with.
    input_names = _layer_names(getattr(model, "inputs", None) or []) or [v.name for v in graph.inputs]
    if len(input_names) != len(graph.inputs):
        input_names = [v.name for v in graph.inputs]
    # The names training uses for outputs (output layers; "output" for a subclassed model).
    output_names = list(model._output_names())
    if len(output_names) != len(graph.outputs):
        output_names = [f"output_{i}" for i in range(len(graph.outputs))]
    doc = (f"{type(model).__name__} '{model.name}' exported by Horn {producer_version()}: the inference "
           f"graph (training=False), channels-last, batch dimension 'batch', ONNX opset {opset}.")
    proto = graph_to_onnx(graph, opset=opset, input_names=input_names, output_names=output_names,
                          doc_string=doc, model_version=model_version, fp16_weights=fp16_weights,
                          metadata_props={"model_name": model.name, "model_class": type(model).__name__})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(proto.SerializeToString())
    return proto


def export_model(model, filepath, format: str = "onnx", verbose=None, input_signature=None,
                 **kwargs) -> onnx.ModelProto:
    """``Model.export``: Keras 3's spelling, with ONNX the one format Horn writes."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"Unrecognized format={format!r}. Horn exports: "
                         f"{', '.join(repr(f) for f in EXPORT_FORMATS)} (Keras' 'tf_saved_model' and "
                         f"'openvino' need TensorFlow or OpenVINO).")
    unknown = set(kwargs) - {"opset", "fp16_weights", "model_version"}
    if unknown:
        raise TypeError(f"Model.export(format='onnx') got unexpected keyword arguments {sorted(unknown)}; "
                        f"it takes input_signature, opset, fp16_weights, model_version and verbose")
    proto = export_onnx(model, filepath, input_signature=input_signature, **kwargs)
    if verbose:
        print(f"Saved artifact at '{os.fspath(filepath)}'.")
    return proto

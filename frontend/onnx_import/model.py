"""``OnnxModel``: an imported ONNX graph as a Horn Model.

``call`` replays the ONNX nodes in file order, each through its importer, so
the model traces into Horn's IR like any subclassed model and everything a
Model does works on it: ``predict`` and ``model(x)`` run compiled native code
(one executable for every batch size when the file's batch is dynamic), and
``compile``/``fit`` fine-tune the float initializers, which are its weights.

Inputs are given as one array, a list in the file's input order, or a dict
keyed by the file's input names; outputs come back as one array, or a list
in the file's output order (``output_names``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from frontend.layer import Layer, flatten
from frontend.models.model import InputSignature, Model
from frontend.onnx_import.context import NodeContext
from frontend.onnx_import.errors import DYNAMIC, OnnxImportError, Problem, UnsupportedOnnxError
from frontend.onnx_import.loader import ImportedGraph, InputSpec
from frontend.onnx_import.registry import lookup
from frontend.onnx_import.values import holds_batch_size
from frontend.tensors import TracedTensor
from frontend.tracing import Tracer, active_tracer, tracing
from frontend.variables import Variable
from ir.graph import Graph
from ir.registry import IRTypeError
from ir.shapes import SymDim, format_shape


_REFUSED = object()   # the value of a node output whose node Horn refused


class OnnxModel(Model):
    """A model read from an ONNX file by :func:`~frontend.onnx_import.load_onnx`."""

    def __init__(self, graph: ImportedGraph, name: str | None = None):
        super().__init__(name=name or graph.name)
        self._onnx = graph
        self._weights_list.extend(graph.variables.values())
        self.built = True

    # -- what the file declares ------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self._onnx.inputs]

    @property
    def output_names(self) -> list[str]:
        return list(self._onnx.outputs)

    @property
    def input_specs(self) -> list[InputSpec]:
        return list(self._onnx.inputs)

    @property
    def opset(self) -> int:
        return self._onnx.opset

    def _input_names(self, n: int) -> list[str]:
        return self.input_names

    def _output_names(self) -> list[str]:
        return self.output_names

    # -- tracing -------------------------------------------------------------------------------
    def call(self, inputs, training: bool = False):
        """Replays the ONNX graph on traced inputs; returns the outputs in the file's order."""
        flat = self._flat_inputs(inputs)
        tracer = next((t.tracer for t in flat if isinstance(t, TracedTensor)), None) or active_tracer()
        if tracer is None:
            raise TypeError(f"OnnxModel '{self.name}'.call() runs while tracing; call the model on "
                            "arrays (model(x), predict) to run it")
        env: dict[str, Any] = dict(self._onnx.constants)
        env.update(self._onnx.variables)
        for spec, t in zip(self._onnx.inputs, flat):
            env[spec.name] = self._checked_input(spec, t)
        # A node refused while tracing (an attribute value, a shape only known at run time) does
        # not stop the trace: its outputs are marked and nodes that need them skipped, so one
        # error lists every refusal that the rest of the graph does not hide.
        problems: list[Problem] = []
        for view in self._onnx.nodes:
            outputs = [_REFUSED] * len(view.outputs)
            if all(env.get(name) is not _REFUSED for name in view.inputs if name):
                imp = lookup(view.op_type)
                ctx = NodeContext(view, env, tracer, bool(training), self._onnx.pretransformed, imp)
                try:
                    with tracer.scope(view.name):
                        outputs = _run_importer(imp.fn, ctx)
                except UnsupportedOnnxError as exc:
                    problems += exc.problems
            # Present outputs always have values (_run_importer checks); absent ones are "".
            for out_name, value in zip(view.outputs, outputs):
                if out_name:
                    env[out_name] = value
        for name in self._onnx.outputs:
            if holds_batch_size(env[name]):
                problems.append(Problem(
                    f"output '{name}'", "is (part of) a shape holding the run-time batch size; Horn "
                    "cannot return it. Give the batch a fixed size with load_onnx(input_shapes=...)",
                    DYNAMIC))
        if problems:
            raise UnsupportedOnnxError(problems, f"model '{self.name}'")
        results = [_as_traced(env[name], tracer) for name in self._onnx.outputs]
        return results[0] if len(results) == 1 else results

    def _flat_inputs(self, inputs) -> list:
        names = self.input_names
        if isinstance(inputs, dict):
            missing = [n for n in names if n not in inputs]
            unknown = sorted(set(inputs) - set(names))
            if missing or unknown:
                raise ValueError(f"Model '{self.name}' takes inputs {names}; missing {missing}, "
                                 f"unknown {unknown}")
            return [inputs[n] for n in names]
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(names):
            raise ValueError(f"Model '{self.name}' takes {len(names)} input(s) {names}, "
                             f"received {len(flat)}")
        return flat

    def _checked_input(self, spec: InputSpec, t) -> TracedTensor:
        if not isinstance(t, TracedTensor):
            raise TypeError(f"input '{spec.name}' must be a traced tensor while tracing, received {t!r}")
        if t.value.dtype != spec.dtype:
            raise ValueError(f"input '{spec.name}': the ONNX model declares {spec.dtype.name}, "
                             f"received {t.value.dtype.name}")
        got = t.value.shape
        if len(got) != len(spec.shape) or any(
                not isinstance(d, SymDim) and d != g for d, g in zip(spec.shape, got)):
            fixed = ("; the file fixes the batch size, so it cannot be traced with a symbolic batch "
                     "(fit, predict batches): load it with input_shapes={"
                     f"'{spec.name}': (None, ...)}}" if got and isinstance(got[0], SymDim) else "")
            raise ValueError(f"input '{spec.name}': the ONNX model declares shape "
                             f"{format_shape(spec.keras_shape, none_for_sym=True)}, received "
                             f"{format_shape(got, none_for_sym=True)}{fixed}")
        return t

    def trace(self, training: bool = False, optimize: bool = True) -> Graph:
        """The model as one IR graph on its declared input types (the batch symbolic where the
        file's is dynamic), after Horn's pass pipeline unless ``optimize`` is False."""
        from runtime.compile import optimize_graph
        tracer = Tracer(self.name)
        proxies = [tracer.input(s.keras_shape, s.dtype, s.name) for s in self._onnx.inputs]
        with tracing(tracer):
            out = Layer.__call__(self, proxies[0] if len(proxies) == 1 else proxies, training=training)
        tracer.graph.set_outputs([t.value for t in flatten(out)])
        return optimize_graph(tracer.graph, training=training) if optimize else tracer.graph

    def save(self, filepath, overwrite: bool = True, zipped: bool | None = None, **kwargs) -> None:
        """Refused: a ``.keras`` file describes Keras layers, and an imported graph has none."""
        raise ValueError(
            f"Model '{self.name}' was read from ONNX and has no Keras layers to save as "
            f"{filepath!r}. Write it back to ONNX with model.export('m.onnx', format='onnx'), or "
            "save its weights with save_weights().")

    # -- running on arrays (hooks of Model and Trainer) ------------------------------------------
    def _standardize_inputs(self, x):
        flat = self._flat_inputs(x)
        arrays = [_as_input_array(spec, a) for spec, a in zip(self._onnx.inputs, flat)]
        return (arrays[0] if len(arrays) == 1 else arrays), arrays

    def _check_inputs(self, structure) -> None:
        for spec, a in zip(self._onnx.inputs, flatten(structure)):
            shape = np.shape(a)
            if len(shape) != len(spec.shape) or any(
                    not isinstance(d, SymDim) and d != s for d, s in zip(spec.shape, shape)):
                raise ValueError(f"Input '{spec.name}' of model '{self.name}' must have shape "
                                 f"{format_shape(spec.keras_shape, none_for_sym=True)}, received "
                                 f"{tuple(shape)}")

    def _signature(self, arrays: list[np.ndarray]) -> InputSignature:
        # The declared types, not the arrays': a static leading dim stays static, scalars are fine.
        return InputSignature(tuple((s.dtype.name, s.keras_shape) for s in self._onnx.inputs))


def _run_importer(fn, ctx: NodeContext) -> list:
    try:
        out = fn(ctx)
    except OnnxImportError:
        raise
    except (ValueError, TypeError, IRTypeError, NotImplementedError) as exc:
        raise OnnxImportError(f"{ctx.where}: {exc}") from exc
    outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    missing = [ctx.outputs[i] for i in range(len(outputs), len(ctx.outputs)) if ctx.has_output(i)]
    if missing:
        raise UnsupportedOnnxError(ctx.problem(
            f"Horn computes its first {len(outputs)} output(s) only; the graph also asks for {missing}"))
    return outputs


def _as_traced(value, tracer) -> TracedTensor:
    """Graph outputs must be graph values: arrays known at import become constants."""
    if isinstance(value, TracedTensor):
        return value
    if isinstance(value, Variable):
        return tracer.param(value)
    return tracer.constant(np.asarray(value))


def _as_input_array(spec: InputSpec, a) -> np.ndarray:
    arr = np.asarray(a)
    want = spec.dtype.numpy
    if arr.dtype == want:
        return arr
    same_kind = (arr.dtype.kind == "f" and want.kind == "f") or (
        arr.dtype.kind in "iu" and want.kind in "iu") or (arr.dtype.kind == "b" and want.kind == "b")
    if not same_kind:
        raise TypeError(f"Input '{spec.name}' must be {spec.dtype.name}; received {arr.dtype.name}, "
                        "which does not convert without changing its meaning")
    return arr.astype(want)

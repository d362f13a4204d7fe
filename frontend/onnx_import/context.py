"""What an importer sees of one ONNX node.

:class:`NodeView` is the node alone: its name, op type, the opset it was
written for, and its attributes decoded to Python values. The up-front checks
use it before anything is traced. :class:`NodeContext` adds the values of the
node's operands while the model is being traced, and the ways to ask for them:
as tensors (:meth:`~NodeContext.input`), as values Horn must know when it
compiles (:meth:`~NodeContext.static`), or as weights in Horn's layout
(:meth:`~NodeContext.weight`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from frontend.onnx_import.errors import ATTRIBUTE, DYNAMIC, Problem, UnsupportedOnnxError
from frontend.onnx_import.values import holds_batch_size, is_static
from frontend.variables import Variable

_MISSING = object()


class NodeView:
    """One node of the ONNX graph, without values."""

    def __init__(self, proto: onnx.NodeProto, index: int, opset: int):
        self.proto = proto
        self.op_type = proto.op_type
        self.domain = proto.domain
        self.name = proto.name or f"{proto.op_type}_{index}"
        self.opset = opset
        self.inputs: tuple[str, ...] = tuple(proto.input)
        self.outputs: tuple[str, ...] = tuple(proto.output)
        self._attrs = {a.name: a for a in proto.attribute}

    @property
    def where(self) -> str:
        return f"node '{self.name}' ({self.op_type})"

    def has_input(self, i: int) -> bool:
        """Optional operands are absent when the list is short or the name is empty."""
        return i < len(self.inputs) and self.inputs[i] != ""

    def has_output(self, i: int) -> bool:
        return i < len(self.outputs) and self.outputs[i] != ""

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = _MISSING) -> Any:
        """The attribute as a Python value: ints, floats, str, lists of those, or an array."""
        a = self._attrs.get(name)
        if a is None:
            if default is _MISSING:
                raise UnsupportedOnnxError(self.problem(f"required attribute '{name}' is missing"))
            return default
        if a.type == onnx.AttributeProto.TENSOR:
            return numpy_helper.to_array(a.t)
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, list):
            return [v.decode() if isinstance(v, bytes) else v for v in value]
        return value

    def problem(self, reason: str, category: str = ATTRIBUTE) -> Problem:
        return Problem(self.where, reason, category)

    def unsupported(self, reason: str, category: str = ATTRIBUTE) -> UnsupportedOnnxError:
        """The error to raise for something this node asks that Horn cannot do."""
        return UnsupportedOnnxError(self.problem(reason, category))


class NodeContext(NodeView):
    """A node being imported: its operands' values and the trace they go into."""

    def __init__(self, view: NodeView, env: dict[str, Any], tracer, training: bool,
                 pretransformed: frozenset[str], importer):
        self.__dict__.update(view.__dict__)
        self._env = env
        self.tracer = tracer
        self.training = training
        self._pretransformed = pretransformed
        self._importer = importer

    def input(self, i: int, default: Any = None) -> Any:
        """Operand ``i`` as an array (known now) or a traced tensor; ``default`` when absent."""
        if not self.has_input(i):
            return default
        value = self._env[self.inputs[i]]
        if isinstance(value, Variable):
            # Weights enter the graph as parameters bound to their Variables (never copies).
            return self.tracer.param(value)
        ok = self._importer.batch_operands
        if holds_batch_size(value) and not (ok == "*" or i in ok):
            raise self._batch_size_error(i, f"operand {i}")
        return value

    def _batch_size_error(self, i: int, what: str) -> UnsupportedOnnxError:
        return self.unsupported(
            f"{what} ('{self.inputs[i]}') depends on the run-time batch size (it comes from Shape "
            "of a tensor whose batch is dynamic); Horn can use that only as a shape in Reshape or "
            "Expand, not compute with it. Give the batch a fixed size with load_onnx(input_shapes=...)",
            DYNAMIC)

    def variable(self, i: int) -> Variable | None:
        """The Variable behind operand ``i`` when it is an initializer loaded as one, else None."""
        if not self.has_input(i):
            return None
        value = self._env[self.inputs[i]]
        return value if isinstance(value, Variable) else None

    def variadic(self) -> list[Any]:
        """Every present operand, for ops such as Sum and Concat."""
        return [self.input(i) for i in range(len(self.inputs)) if self.has_input(i)]

    def static(self, i: int, what: str, default: Any = None, *, batch_ok: bool = False) -> np.ndarray | None:
        """Operand ``i`` as an array Horn knows when compiling, or an error saying why it must be.

        ``batch_ok``: the caller maps the batch placeholder (``values.BATCH_SIZE``) to the batch.
        """
        if not self.has_input(i):
            return default
        value = self._env[self.inputs[i]]
        if isinstance(value, Variable):
            return value.numpy()
        if holds_batch_size(value) and not batch_ok:
            raise self._batch_size_error(i, what)
        if not is_static(value):
            raise self.unsupported(
                f"{what} (operand '{self.inputs[i]}') must be known when Horn compiles, but it is "
                "computed at run time. Horn compiles one graph per static shape; if it is a graph "
                "input, pass its value with load_onnx(..., static_inputs={name: value})", DYNAMIC)
        return value

    def ints(self, i: int, attr: str, what: str) -> list[int] | None:
        """An int list given as operand ``i`` (newer opsets) or as attribute ``attr`` (older ones)."""
        if self.has_input(i):
            return [int(v) for v in np.asarray(self.static(i, what)).reshape(-1)]
        if self.has_attr(attr):
            value = self.attr(attr)
            return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        return None

    def weight(self, i: int) -> Any:
        """Operand ``i`` in the layout the importer's ``layouts[i]`` makes (stored so already when
        the operand is an initializer used only in that role)."""
        value = self.input(i)
        if self.inputs[i] in self._pretransformed:
            return value
        return self._importer.layouts[i](value, self)

"""Tracing Python model code into an ``ir.Graph``.

A :class:`Tracer` owns the graph being built. ``horn.ops`` functions given a
:class:`~frontend.tensors.TracedTensor` emit nodes through it; a Variable
met while tracing becomes a graph parameter bound to the Variable itself (once
per Variable, never a copy). The call context records which layers are being
called (to name nodes and errors) and the ``training`` flag in force.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from frontend.tensors import TracedTensor
from ir.dtypes import DType
from ir.graph import Graph, Value
from ir.opcodes import Op
from ir.registry import IRTypeError
from ir.shapes import BATCH, TensorType


class Tracer:
    """Builds one graph; hands out TracedTensors for inputs, parameters and node outputs."""

    def __init__(self, name: str = "main"):
        self.graph = Graph(name)
        self._params: dict[int, Value] = {}
        self._scope: list[str] = []

    def input(self, shape, dtype: str | DType = "float32", name: str = "input") -> TracedTensor:
        dims = tuple(BATCH if d is None else d for d in shape)
        return TracedTensor(self.graph.add_input(TensorType(DType.from_any(dtype), dims), name), self)

    def param(self, variable) -> TracedTensor:
        v = self._params.get(id(variable))
        if v is None:
            arr = variable.numpy()
            v = self.graph.add_param(TensorType(DType.from_any(arr.dtype), arr.shape),
                                     variable.path, binding=variable)
            self._params[id(variable)] = v
        return TracedTensor(v, self)

    def constant(self, array: np.ndarray) -> TracedTensor:
        return TracedTensor(self.graph.add_constant(np.asarray(array), name=self._name("const")), self)

    def emit(self, op: Op, inputs: list[TracedTensor], attrs: Any = None) -> TracedTensor:
        try:
            node = self.graph.add_node(op, [t.value for t in inputs], attrs, self._name(op.value))
        except IRTypeError as exc:
            layer = current_layer()
            where = f" in layer '{layer.name}' ({type(layer).__name__})" if layer is not None else ""
            raise ValueError(f"Invalid operation{where}: {exc}") from None
        return TracedTensor(node.output, self)

    def _name(self, base: str) -> str:
        return "/".join([*self._scope, base])

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()


@dataclass
class _CallState(threading.local):
    layers: list = field(default_factory=list)
    training: list = field(default_factory=list)
    tracers: list = field(default_factory=list)


_STATE = _CallState()


def current_layer():
    return _STATE.layers[-1] if _STATE.layers else None


def current_training() -> bool | None:
    """The ``training`` value set by an enclosing layer or model call, or None."""
    return _STATE.training[-1] if _STATE.training else None


def active_tracer() -> Tracer | None:
    return _STATE.tracers[-1] if _STATE.tracers else None


@contextlib.contextmanager
def layer_call(layer, training: bool | None) -> Iterator[None]:
    _STATE.layers.append(layer)
    _STATE.training.append(training)
    try:
        yield
    finally:
        _STATE.layers.pop()
        _STATE.training.pop()


@contextlib.contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    """Makes ``tracer`` the one that Variables used by ops are bound into."""
    _STATE.tracers.append(tracer)
    try:
        yield tracer
    finally:
        _STATE.tracers.pop()

"""Tracing Python model code into an ``ir.Graph``.

A :class:`Tracer` owns the graph being built. ``horn.ops`` functions given a
:class:`~frontend.tensors.TracedTensor` emit nodes through it; a Variable
met while tracing becomes a graph parameter bound to the Variable itself (once
per Variable, never a copy). The call context records which layers are being
called (to name nodes and errors) and the ``training`` flag in force.
"""
from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from frontend.tensors import TracedTensor
from ir.dtypes import DType
from ir.graph import Graph, Value
from ir.opcodes import Op
from ir.registry import IRTypeError
from ir.shapes import BATCH, SymDim, TensorType


class Tracer:
    """Builds one graph; hands out TracedTensors for inputs, parameters and node outputs."""

    def __init__(self, name: str = "main", parent: "Tracer | None" = None):
        self.graph = Graph(name)
        # A nested tracer builds a region body (frontend.ops.loop.scan): values of the
        # enclosing traces it reads become extra body inputs, recorded in ``captures``.
        self.parent = parent
        self.captures: list[tuple[TracedTensor, TracedTensor]] = []   # (outer, body input)
        self._captured: dict[int, TracedTensor] = {}                  # id(outer Value) -> body input
        self._params: dict[int, Value] = {}
        self._current: dict[int, TracedTensor] = {}    # Variable id -> value assigned this trace
        self._scope: list[str] = []
        self._rng_key: TracedTensor | None = None
        self._rng_streams = 0
        # Losses layers add while traced (activity regularization, add_loss): the train
        # step sums them into the objective.
        self.losses: list[TracedTensor] = []

    def input(self, shape, dtype: str | DType = "float32", name: str = "input") -> TracedTensor:
        """A graph input; ``None`` dims become symbolic: the first is the batch ``N``, any later
        one (a sequence length) a symbol of its own named after the input and axis
        (``T_<input>`` for axis 1), so one compiled graph serves every length."""
        name = self.graph._unique(name)
        self.graph._names.discard(name)     # add_input claims it
        dims = tuple(d if d is not None else BATCH if i == 0 else seq_dim(name, i)
                     for i, d in enumerate(shape))
        return TracedTensor(self.graph.add_input(TensorType(DType.from_any(dtype), dims), name), self)

    def is_ancestor_of(self, other: "Tracer") -> bool:
        t = other.parent
        while t is not None:
            if t is self:
                return True
            t = t.parent
        return False

    def capture(self, outer: TracedTensor) -> TracedTensor:
        """``outer`` (a value of an enclosing trace) as this body sees it: a body input.

        Each outer value is captured once; a value two levels up is captured by the
        middle body first, so every body reads only its own inputs.
        """
        if outer.tracer is self:
            return outer
        if self.parent is None or not outer.tracer.is_ancestor_of(self):
            raise ValueError("Operands come from two different traced graphs.")
        outer = self.parent.capture(outer)
        hit = self._captured.get(id(outer.value))
        if hit is None:
            v = self.graph.add_input(outer.value.type, f"capture/{outer.value.name}")
            hit = self._captured[id(outer.value)] = TracedTensor(v, self)
            self.captures.append((outer, hit))
        return hit

    def param(self, variable) -> TracedTensor:
        """The Variable as the graph sees it: its parameter, or what this trace last assigned.

        In a region body, the enclosing trace's value, captured as a body input."""
        if self.parent is not None:
            return self.capture(self.parent.param(variable))
        if id(variable) in self._current:
            return self._current[id(variable)]
        return self._original(variable)

    def _original(self, variable) -> TracedTensor:
        v = self._params.get(id(variable))
        if v is None:
            arr = variable.numpy()
            v = self.graph.add_param(TensorType(DType.from_any(arr.dtype), arr.shape),
                                     variable.path, binding=variable)
            self._params[id(variable)] = v
        return TracedTensor(v, self)

    def assign(self, variable, value: TracedTensor) -> None:
        """``variable.assign(value)`` while tracing: a graph update, applied after the step.

        Reads of ``variable`` later in this trace see ``value``, as they would eagerly.
        """
        if self.parent is not None:
            raise ValueError(f"Cannot assign to variable {variable.path} inside a scan step function: "
                             f"return the new value as part of the carry and assign it after the loop")
        param = self._original(variable).value
        if value.value.type != param.type:
            raise ValueError(f"Cannot assign to variable {variable.path}: expected {param.type}, "
                             f"received {value.value.type}")
        self.graph.add_update(param, value.value)
        self._current[id(variable)] = value

    def grad(self, loss: TracedTensor, variables) -> list[TracedTensor]:
        """d loss / d variable for each Variable (zeros where the loss does not depend on it).

        Differentiates with respect to the values the variables had when the trace
        began, which is what a training step needs.
        """
        from passes.autodiff import gradients
        wrt = [self._original(v).value for v in variables]
        return [TracedTensor(g, self) for g in gradients(self.graph, loss.value, wrt)]

    def rng_key(self) -> TracedTensor:
        """The step's random key ``[seed, counter]``: an i64[2] graph input made on first use."""
        if self.parent is not None:
            return self.capture(self.parent.rng_key())
        if self._rng_key is None:
            self._rng_key = TracedTensor(self.graph.add_input(TensorType(DType.int64, (2,)), "rng_key"),
                                         self)
        return self._rng_key

    def next_stream(self) -> int:
        """A fresh stream id, so each random call site draws independent numbers."""
        if self.parent is not None:
            return self.parent.next_stream()
        self._rng_streams += 1
        return self._rng_streams

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


def seq_dim(input_name: str, axis: int) -> SymDim:
    """The symbolic size of a ``None`` dim (after the batch) of input ``input_name``.

    Named after the input so two inputs of unrelated lengths get two symbols; a word
    (letters, digits, ``_``) so the printed IR reads back.
    """
    word = re.sub(r"\W", "_", input_name)
    return SymDim(f"T_{word}" if axis == 1 else f"D{axis}_{word}")


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

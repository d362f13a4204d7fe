"""The Metric base class: state in Variables, updated with ops.

A metric's state (totals, counts, confusion counts) lives in non-trainable
:class:`~frontend.variables.Variable` s. ``update_state`` is written with
``horn.ops`` and ``Variable.assign``: on arrays it updates the numpy state at
once; on TracedTensors each ``assign`` becomes a graph update, so the compiled
train step accumulates the metric in place, in the same arrays. ``result``
reads the Variables, eagerly or (under an active tracer) as graph values.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from frontend import backend
from frontend.backend import standardize_dtype
from frontend.tensors import TracedTensor
from frontend.tracing import active_tracer, tracing
from frontend.variables import Variable


def _tracer_in(args: tuple, kwargs: dict):
    for x in (*args, *kwargs.values()):
        if isinstance(x, TracedTensor):
            return x.tracer
    return None


def traced_update(fn: Callable) -> Callable:
    """Runs ``update_state`` with its inputs' tracer active.

    Then ops that touch only Variables and constants (``count += 1``) join the
    graph too, instead of running eagerly in the middle of a trace and
    changing the state before the step has run.
    """
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        tracer = _tracer_in(args, kwargs)
        if tracer is None or active_tracer() is tracer:
            return fn(self, *args, **kwargs)
        with tracing(tracer):
            return fn(self, *args, **kwargs)
    wrapper._traced_update = True
    return wrapper


def read(variable: Variable):
    """A Variable's value for ``result``: its graph value under an active tracer, else a copy.

    A copy, so a result handed to the caller does not change when the state
    is updated later (the Variable's array is live, and compiled code writes it).
    """
    tracer = active_tracer()
    return tracer.param(variable) if tracer is not None else np.array(variable.numpy(), copy=True)


class Metric:
    """Base class of metrics: ``update_state`` accumulates, ``result`` reports, ``reset_state`` clears.

    Args:
        dtype: dtype of the state and the result (default floatx).
        name: the metric's name (default: the class name in snake case).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        update = cls.__dict__.get("update_state")
        if update is not None and not getattr(update, "_traced_update", False):
            cls.update_state = traced_update(update)

    def __init__(self, dtype=None, name: str | None = None):
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._dtype = standardize_dtype(dtype or backend.floatx())
        self._variables: list[Variable] = []
        self._initial_values: dict[int, np.ndarray] = {}
        self._metrics: list[Metric] = []

    def __setattr__(self, name: str, value: Any) -> None:
        # Sub-metrics assigned as attributes contribute their variables (Keras' tracker).
        if isinstance(value, Metric) and "_metrics" in self.__dict__ and value not in self._metrics:
            self._metrics.append(value)
        super().__setattr__(name, value)

    @property
    def dtype(self) -> str:
        return self._dtype

    def add_variable(self, shape, initializer, dtype=None, aggregation: str = "sum",
                     name: str | None = None) -> Variable:
        """A non-trainable state Variable named ``<metric>/<name>``.

        ``aggregation`` (how replicas would combine the state) is accepted for
        Keras compatibility; Horn runs one replica, so it changes nothing.
        """
        if "_variables" not in self.__dict__:
            raise RuntimeError("You forgot to call `super().__init__()` in the `__init__()` method. "
                               "Go add it!")
        from frontend import initializers
        init = initializers.get(initializer if initializer is not None else "zeros")
        dtype = standardize_dtype(dtype or self.dtype)
        shape = tuple(int(d) for d in shape)
        name = name or f"variable_{len(self._variables)}"
        var = Variable(init(shape, dtype=dtype), name=name, trainable=False, dtype=dtype,
                       path=f"{self.name}/{name}")
        self._initial_values[id(var)] = np.array(var.numpy(), copy=True)
        self._variables.append(var)
        return var

    def add_weight(self, shape=(), initializer=None, dtype=None, name: str | None = None) -> Variable:
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[Variable]:
        out = list(self._variables)
        for m in self._metrics:
            out.extend(m.variables)
        return out

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self) -> None:
        """Eagerly puts every state Variable back to its initial value (zeros, for Keras' metrics).

        Keras' base class assigns zeros; the initial value is the same for every
        built-in metric and the right one for a state that starts elsewhere.
        """
        for v in self._variables:
            v.assign(self._initial_values[id(v)])
        for m in self._metrics:
            m.reset_state()

    def __call__(self, *args, **kwargs):
        """``update_state`` then ``result``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

"""Checks shared by the recurrent and attention layer tests.

``check_layer`` runs one layer configuration through:
  * eager Horn (ops through their reference implementations; the loop is a Python loop);
  * the traced graph (one SCAN op), verified and run by the reference interpreter at
    two batch sizes, with a symbolic sequence length when ``symbolic_time``: the SAME
    graph then serves two lengths;
  * with ``compiled=True``, the compiled graph (native loop) at two batch sizes;
  * real Keras 3 (numpy backend) on the same weights and inputs;
  * ``get_config`` / ``from_config`` round trip.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from frontend.layer import flatten
from frontend.tracing import Tracer
from ir import verify
from ir.interpreter import interpret
from tests.frontend.layer_harness import assert_close, keras_or_skip

RTOL, ATOL = 1e-5, 1e-6


def as_list(x) -> list[np.ndarray]:
    return [np.asarray(v) for v in flatten(x)]


def trace(layer, shapes, dtypes, call_kwargs=None, training=False, names=None, batch=None):
    """The graph of ``layer(*inputs, **call_kwargs)``; ``shapes`` exclude the batch
    (symbolic unless ``batch`` is given)."""
    tracer = Tracer(f"{layer.name}_test")
    names = names or [f"x{i}" for i in range(len(shapes))]
    xs = [tracer.input((batch,) + tuple(s), d, n) for s, d, n in zip(shapes, dtypes, names)]
    out = layer(*xs, **(call_kwargs or {}), training=training)
    tracer.graph.set_outputs([t.value for t in flatten(out)])
    return verify(tracer.graph)


def check_layer(make: Callable, inputs: list[np.ndarray], *, keras_make: Callable | None = None,
                call_kwargs: dict | None = None, symbolic_time: bool = True, config: bool = True,
                rtol: float = RTOL, atol: float = ATOL, compiled: bool = False):
    """Runs every check in the module docstring; returns ``(layer, eager outputs)``."""
    call_kwargs = call_kwargs or {}
    layer = make()
    eager = as_list(layer(*inputs, **call_kwargs))
    shapes = [x.shape[1:] for x in inputs]
    dtypes = [x.dtype.name for x in inputs]
    # Array-valued call arguments (masks, initial states) are checked eagerly here; the
    # tests trace them as graph inputs themselves.
    graph = None if call_kwargs else trace(layer, shapes, dtypes)
    if graph is not None:
        for b in (1, len(inputs[0])):
            got = interpret(graph, [x[:b] for x in inputs])
            assert_close(got, [e[:b] for e in eager], rtol, atol, f"interpreted graph vs eager at batch {b}")
        if symbolic_time:
            sym = [(None,) + tuple(s[1:]) if len(s) >= 2 else s for s in shapes]
            sym_graph = trace(layer, sym, dtypes)
            for cut in (inputs[0].shape[1], max(1, inputs[0].shape[1] - 2)):
                xs = [x[:, :cut] if x.ndim >= 3 else x for x in inputs]
                want = as_list(layer(*xs, **call_kwargs))
                assert_close(interpret(sym_graph, xs), want, rtol, atol, f"symbolic T graph at T={cut}")
        if compiled:
            from runtime.executable import Executable
            exe = Executable(graph)
            for b in (1, len(inputs[0])):
                assert_close(exe(*[x[:b] for x in inputs]), [e[:b] for e in eager], 1e-4, 1e-5,
                             f"compiled vs eager at batch {b}")
    if keras_make is not None:
        keras = keras_or_skip()
        k = keras_make(keras)
        k(*inputs, **call_kwargs)
        k.set_weights(layer.get_weights())
        assert_close(eager, as_list(k(*inputs, **call_kwargs)), rtol, atol, f"Horn vs Keras {type(k).__name__}")
    if config:
        clone = make_clone(layer)
        clone(*inputs, **call_kwargs)
        clone.set_weights(layer.get_weights())
        assert_close(as_list(clone(*inputs, **call_kwargs)), eager, rtol, atol, "from_config round trip")
    return layer, eager


def make_clone(layer):
    """A new layer from ``layer``'s config, with ``layer``'s weights once built."""
    clone = type(layer).from_config(layer.get_config())
    return _WithWeights(clone, layer)


class _WithWeights:
    """Builds ``clone`` on first call, then copies ``source``'s weights into it."""

    def __init__(self, clone, source):
        self.clone, self.source = clone, source

    def __getattr__(self, name):
        return getattr(self.clone, name)

    def __call__(self, *args, **kwargs):
        if not self.clone.built or len(self.clone.weights) != len(self.source.weights):
            self.clone._maybe_build(args[0])
            if hasattr(self.clone, "_query_dense") and self.clone._query_dense is None and len(args) > 1:
                self.clone.build(args[0].shape, args[1].shape)
        self.clone.set_weights(self.source.get_weights())
        return self.clone(*args, **kwargs)

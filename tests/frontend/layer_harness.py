"""One conformance door for layers (after Keras' ``run_layer_test``).

``run_layer_test`` checks, for one layer configuration:
  * eager output (ops through reference implementations) on random input;
  * the traced graph verifies, compiles to native code, and matches eager at
    batch 1 and at a larger batch with the SAME executable (symbolic batch);
  * ``get_config`` / ``from_config`` round trip gives the same output on the same weights;
  * with ``keras_layer`` given and keras installed (numpy backend): real Keras 3
    produces the same output with the same weights (rtol 1e-5, atol 1e-6).
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from frontend.tracing import Tracer
from frontend.layer import flatten, map_structure
from ir import verify
from runtime.executable import Executable

os.environ.setdefault("KERAS_BACKEND", "numpy")


def keras_or_skip():
    import pytest
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "numpy":
        pytest.skip("parity tests expect KERAS_BACKEND=numpy")
    return keras


def random_inputs(shapes, rng, batch, dtype="float32", low=-1.0, high=1.0):
    def make(shape):
        full = (batch,) + tuple(shape)
        if np.dtype(dtype).kind in "iu":
            return rng.integers(int(low), int(high), size=full).astype(dtype)
        return rng.uniform(low, high, size=full).astype(dtype)
    return [make(s) for s in shapes] if isinstance(shapes, list) else make(shapes)


def compile_layer(layer, input_shapes, dtype="float32") -> Executable:
    """Traces ``layer`` on symbolic-batch inputs and compiles it."""
    tracer = Tracer(f"{layer.name}_test")
    if isinstance(input_shapes, list):
        xs = [tracer.input((None,) + tuple(s), dtype, f"x{i}") for i, s in enumerate(input_shapes)]
        out = layer(xs)
    else:
        out = layer(tracer.input((None,) + tuple(input_shapes), dtype, "x"))
    tracer.graph.set_outputs([t.value for t in flatten(out)])
    return Executable(verify(tracer.graph))


def _as_list(x):
    return [np.asarray(v) for v in flatten(x)]


def assert_close(got, want, rtol=1e-5, atol=1e-6, what=""):
    got, want = _as_list(got), _as_list(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs vs {len(want)}"
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"{what}: shape {g.shape} vs {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)


def run_layer_test(make_layer: Callable[[], object], input_shapes, *, keras_layer: Callable | None = None,
                   dtype: str = "float32", low: float = -1.0, high: float = 1.0, batches: Sequence[int] = (1, 7),
                   rtol: float = 1e-5, atol: float = 1e-6, seed: int = 0, config: bool = True):
    """Runs every check above; returns the layer (built)."""
    rng = np.random.default_rng(seed)
    layer = make_layer()
    x = random_inputs(input_shapes, rng, batches[-1], dtype, low, high)
    eager = layer(x)
    exe = compile_layer(layer, input_shapes, dtype)
    for b in batches:
        xb = [a[:b] for a in x] if isinstance(x, list) else x[:b]
        got = exe(*(xb if isinstance(xb, list) else [xb]))
        want = map_structure(lambda a: np.asarray(a)[:b], eager)
        assert_close(got, want, rtol, atol, f"compiled vs eager at batch {b}")
    if config:
        cfg = layer.get_config()
        clone = type(layer).from_config(cfg)
        clone(x)  # build
        clone.set_weights(layer.get_weights())
        assert_close(clone(x), eager, rtol, atol, "from_config round trip")
    if keras_layer is not None:
        keras = keras_or_skip()
        k = keras_layer(keras)
        kx = x
        k(kx)  # build
        k.set_weights(layer.get_weights())
        assert_close(eager, k(kx), rtol, atol, f"Horn vs Keras {type(k).__name__}")
    return layer

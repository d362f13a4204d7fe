"""Embedding: harness with int ids, float ids cast as Keras does, mask_zero, weights, errors."""
from __future__ import annotations

import numpy as np
import pytest

from frontend.layers import embedding as E
from frontend.tensors import KerasTensor
from frontend.tracing import Tracer
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip, run_layer_test

CASES = [
    ("ids_1d", lambda m: m.Embedding(11, 4), (7,), "int32"),
    ("ids_2d_int64", lambda m: m.Embedding(5, 3), (3, 4), "int64"),
    ("ids_scalar_per_row", lambda m: m.Embedding(13, 6, embeddings_initializer="random_normal"), (1,), "int32"),
    ("mask_zero", lambda m: m.Embedding(7, 2, mask_zero=True), (5,), "int32"),
]


@pytest.mark.parametrize("name,make,shape,dtype", CASES, ids=[c[0] for c in CASES])
def test_embedding(name, make, shape, dtype):
    layer = make(E)
    run_layer_test(lambda: make(E), shape, keras_layer=lambda keras: make(keras.layers), dtype=dtype,
                   low=0, high=layer.input_dim)


def test_float_ids_are_cast_to_int32():
    keras = keras_or_skip()
    ids = np.array([[0.0, 3.0, 6.0], [2.0, 1.0, 5.0]], "float32")
    layer = E.Embedding(7, 3)
    out = layer(ids)
    k = keras.layers.Embedding(7, 3)
    k.build()
    k.set_weights(layer.get_weights())
    np.testing.assert_allclose(out, k(ids), rtol=0, atol=0)
    tracer = Tracer("emb_float")
    tracer.graph.set_outputs([layer(tracer.input((None, 3), "float32", "ids")).value])
    exe = Executable(verify(tracer.graph))
    np.testing.assert_allclose(exe(ids)[0], out, rtol=0, atol=0)


def test_mask_zero_mask():
    layer = E.Embedding(5, 2, mask_zero=True)
    ids = np.array([[1, 0, 3], [0, 0, 4]], "int32")
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    assert E.Embedding(5, 2).compute_mask(ids) is None
    # While tracing, the mask rides on the output and reaches the next layer.
    tracer = Tracer("emb_mask")
    out = layer(tracer.input((None, 3), "int32", "ids"))
    assert out._keras_mask is not None
    tracer.graph.set_outputs([out._keras_mask.value])
    exe = Executable(verify(tracer.graph))
    np.testing.assert_array_equal(exe(ids)[0], ids != 0)


def test_weights_config_and_constructor_weights():
    keras = keras_or_skip()
    ours, theirs = E.Embedding(6, 3), keras.layers.Embedding(6, 3)
    ours.build()
    theirs.build()
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [(w.name, tuple(w.shape)) for w in theirs.weights]
    missing = set(theirs.get_config()) - set(ours.get_config())
    assert missing == {"quantization_config"}, missing   # Horn has no quantization modes
    table = np.arange(18, dtype="float32").reshape(6, 3)
    layer = E.Embedding(6, 3, weights=table)
    np.testing.assert_array_equal(layer(np.array([[5, 0]], "int32")), table[[[5, 0]]])
    assert E.Embedding(6, 3)(KerasTensor((None, 4), "int32")).shape == (None, 4, 3)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_dim": 0, "output_dim": 2}, r"`input_dim` must be a positive integer. Received: input_dim=0"),
    ({"input_dim": 3.0, "output_dim": 2}, r"input_dim=3.0 \(of type float\)"),
    ({"input_dim": 3, "output_dim": True}, r"`output_dim` must be a positive integer"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.Embedding(**kwargs)

"""Pooling layers through the conformance harness, plus configs, masks and errors."""
from __future__ import annotations

import numpy as np
import pytest

from frontend.layers import pooling as P
from frontend.tensors import KerasTensor
from frontend.tracing import Tracer
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip, run_layer_test

CASES = [
    ("max1_default", lambda m: m.MaxPooling1D(), (7, 3)),
    ("max1_same_s1", lambda m: m.MaxPooling1D(3, strides=1, padding="same"), (7, 3)),
    ("max1_out1", lambda m: m.MaxPooling1D(7), (7, 2)),
    ("avg1_same_s2", lambda m: m.AveragePooling1D(3, strides=2, padding="same"), (7, 3)),
    ("avg1_valid", lambda m: m.AveragePooling1D(2), (7, 3)),
    ("max2_default", lambda m: m.MaxPooling2D(), (7, 5, 3)),
    ("max2_same_3x3_s2", lambda m: m.MaxPooling2D(3, strides=2, padding="same"), (7, 5, 3)),
    ("max2_asym", lambda m: m.MaxPooling2D((3, 2), strides=(1, 2)), (7, 5, 3)),
    ("max2_out1x1", lambda m: m.MaxPooling2D((7, 5)), (7, 5, 2)),
    ("avg2_valid", lambda m: m.AveragePooling2D(2), (7, 5, 3)),
    ("avg2_same_3x3_s2", lambda m: m.AveragePooling2D(3, strides=2, padding="same"), (7, 5, 3)),
    ("avg2_same_s1", lambda m: m.AveragePooling2D((2, 3), strides=1, padding="SAME"), (7, 5, 3)),
    ("avg2_same_big", lambda m: m.AveragePooling2D(4, padding="same"), (5, 3, 2)),
    ("max3_same", lambda m: m.MaxPooling3D(2, padding="same"), (3, 5, 2, 2)),
    ("avg3_valid", lambda m: m.AveragePooling3D((2, 1, 2), strides=1), (3, 5, 2, 2)),
    ("gap1", lambda m: m.GlobalAveragePooling1D(), (7, 3)),
    ("gap1_keep", lambda m: m.GlobalAveragePooling1D(keepdims=True), (7, 3)),
    ("gap2", lambda m: m.GlobalAveragePooling2D(), (7, 5, 3)),
    ("gap2_keep", lambda m: m.GlobalAveragePooling2D(keepdims=True), (7, 5, 3)),
    ("gap3", lambda m: m.GlobalAveragePooling3D(), (3, 5, 2, 2)),
    ("gmp1", lambda m: m.GlobalMaxPooling1D(), (7, 3)),
    ("gmp2", lambda m: m.GlobalMaxPooling2D(), (7, 5, 3)),
    ("gmp2_keep", lambda m: m.GlobalMaxPooling2D(keepdims=True), (7, 5, 3)),
    ("gmp3_keep", lambda m: m.GlobalMaxPooling3D(keepdims=True), (3, 5, 2, 2)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_pooling_layer(name, make, shape):
    run_layer_test(lambda: make(P), shape, keras_layer=lambda keras: make(keras.layers))


@pytest.mark.parametrize("name,make,shape", CASES[::3], ids=[c[0] for c in CASES[::3]])
def test_config_keys_match_keras(name, make, shape):
    keras = keras_or_skip()
    ours, theirs = make(P), make(keras.layers)
    assert set(ours.get_config()) == set(theirs.get_config())
    for key in ("pool_size", "strides", "padding", "keepdims"):
        if key in theirs.get_config():
            assert ours.get_config()[key] == theirs.get_config()[key], key


def test_strides_default_to_pool_size():
    assert P.MaxPooling2D((3, 2)).strides == (3, 2)
    assert P.AveragePooling1D(4).strides == (4,)
    assert P.MaxPooling2D(2, strides=1).strides == (1, 1)
    assert P.MaxPool2D is P.MaxPooling2D and P.GlobalAvgPool2D is P.GlobalAveragePooling2D


def test_global_average_pooling_1d_mask():
    """Masked steps are left out of the mean, eagerly and in the compiled graph."""
    keras = keras_or_skip()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 7, 3)).astype("float32")
    mask = rng.uniform(size=(4, 7)) > 0.4
    mask[:, 0] = True
    want = keras.layers.GlobalAveragePooling1D()(x, mask=mask)
    layer = P.GlobalAveragePooling1D()
    np.testing.assert_allclose(layer(x, mask=mask), want, rtol=1e-5, atol=1e-6)
    tracer = Tracer("gap_mask")
    tx = tracer.input((None, 7, 3), "float32", "x")
    tm = tracer.input((None, 7), "bool", "mask")
    tracer.graph.set_outputs([layer(tx, mask=tm).value])
    exe = Executable(verify(tracer.graph))
    np.testing.assert_allclose(exe(x, mask)[0], want, rtol=1e-5, atol=1e-6)
    assert layer.compute_mask(x, mask) is None


def test_functional_output_shapes():
    x = KerasTensor((None, 7, 5, 3))
    assert P.MaxPooling2D()(x).shape == (None, 3, 2, 3)
    assert P.AveragePooling2D(3, 2, "same")(x).shape == (None, 4, 3, 3)
    assert P.GlobalMaxPooling2D(keepdims=True)(x).shape == (None, 1, 1, 3)


def test_errors_speak():
    with pytest.raises(ValueError, match="Invalid padding 'full'"):
        P.MaxPooling2D(2, padding="full")
    with pytest.raises(ValueError, match="channels_first.*not supported"):
        P.AveragePooling2D(2, data_format="channels_first")
    with pytest.raises(ValueError, match="channels_first.*not supported"):
        P.GlobalAveragePooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match="The `pool_size` argument must be a tuple of 2 integers"):
        P.MaxPooling2D((2, 2, 2))
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        P.MaxPooling2D()(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match="empty output"):
        P.MaxPooling2D(8)(np.zeros((1, 7, 5, 1), "float32"))

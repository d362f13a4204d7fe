"""BatchNormalization and LayerNormalization: harness (inference), batch-statistics
mode against Keras, weights in Keras' order, configs and errors."""
from __future__ import annotations

import numpy as np
import pytest

from frontend.layers import normalization as N
from frontend.tracing import Tracer
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import compile_layer, keras_or_skip, run_layer_test

RNG = np.random.default_rng(7)


def _with_moving_stats(make, shape):
    """A factory whose layer has non-trivial gamma/beta (and moving stats), set after
    build, so parity actually exercises them; the harness copies them to Keras."""
    def build():
        layer = make(N)
        layer.build((None,) + shape)
        weights = []
        for w in layer.weights:
            if w.name == "moving_variance":
                weights.append(RNG.uniform(0.2, 2.0, w.shape).astype("float32"))
            else:
                weights.append(RNG.uniform(-1.0, 1.0, w.shape).astype("float32"))
        layer.set_weights(weights)
        return layer
    return build


BN_CASES = [
    ("bn_default_2d", lambda m: m.BatchNormalization(), (5,)),
    ("bn_conv", lambda m: m.BatchNormalization(), (7, 5, 3)),
    ("bn_axis1", lambda m: m.BatchNormalization(axis=1, epsilon=1e-5), (7, 5, 3)),
    ("bn_axis_neg2", lambda m: m.BatchNormalization(axis=-2, momentum=0.9), (7, 5)),
    ("bn_no_scale", lambda m: m.BatchNormalization(scale=False), (7, 3)),
    ("bn_no_center", lambda m: m.BatchNormalization(center=False), (7, 3)),
    ("bn_bare", lambda m: m.BatchNormalization(center=False, scale=False, epsilon=0.1), (4, 3)),
]


@pytest.mark.parametrize("name,make,shape", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batch_normalization_inference(name, make, shape):
    run_layer_test(_with_moving_stats(make, shape), shape, keras_layer=lambda keras: make(keras.layers))


@pytest.mark.parametrize("name,make,shape", BN_CASES[:4], ids=[c[0] for c in BN_CASES[:4]])
def test_batch_normalization_training_uses_batch_statistics(name, make, shape):
    """training=True normalizes with the batch's mean and variance, eagerly and compiled."""
    keras = keras_or_skip()
    layer = _with_moving_stats(make, shape)()
    x = RNG.uniform(-2, 3, (6,) + shape).astype("float32")
    k = make(keras.layers)
    k.build((None,) + shape)
    k.set_weights(layer.get_weights())
    want = np.asarray(k(x, training=True))
    keras_after = [np.asarray(w) for w in k.get_weights()]   # Keras updated its moving stats
    start = layer.get_weights()
    np.testing.assert_allclose(layer(x, training=True), want, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(layer.get_weights(), keras_after):      # eager: updated in place
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    layer.set_weights(start)
    tracer = Tracer("bn_train")
    tracer.graph.set_outputs([layer(tracer.input((None,) + shape, "float32", "x"), training=True).value])
    exe = Executable(verify(tracer.graph))
    assert len(tracer.graph.updates) == 2
    # E[x^2] - E[x]^2 in float32 over a reduction cancels ~1e-6 of magnitude ~1: atol 1e-5.
    np.testing.assert_allclose(exe(x)[0], want, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(layer.get_weights(), keras_after):      # compiled: graph updates
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_batch_normalization_training_with_mask():
    keras = keras_or_skip()
    layer = _with_moving_stats(lambda m: m.BatchNormalization(), (7, 3))()
    x = RNG.uniform(-1, 1, (4, 7, 3)).astype("float32")
    mask = RNG.uniform(size=(4, 7)) > 0.3
    k = keras.layers.BatchNormalization()
    k.build((None, 7, 3))
    k.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x, training=True, mask=mask), k(x, training=True, mask=mask),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="one dimension less than the inputs"):
        layer(x, training=True, mask=mask[:, :, None])


def test_batch_normalization_weights_live_and_order():
    keras = keras_or_skip()
    layer = N.BatchNormalization()
    layer.build((None, 7, 3))
    theirs = keras.layers.BatchNormalization()
    theirs.build((None, 7, 3))
    assert [(w.name, w.trainable) for w in layer.weights] == [(w.name, w.trainable) for w in theirs.weights]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert set(layer.get_config()) == set(theirs.get_config())
    # The moving statistics are parameters of the compiled graph, not folded constants.
    exe = compile_layer(layer, (7, 3))
    assert len(exe.graph.params) == 4
    x = RNG.uniform(-1, 1, (2, 7, 3)).astype("float32")
    layer.set_weights([RNG.uniform(0.5, 1.5, (3,)).astype("float32") for _ in range(4)])
    np.testing.assert_allclose(exe(x)[0], layer(x), rtol=1e-5, atol=1e-6)


def test_batch_normalization_errors():
    with pytest.raises(ValueError, match="synchronized=True is only supported"):
        N.BatchNormalization(synchronized=True)
    with pytest.raises(NotImplementedError, match="renorm"):
        N.BatchNormalization(renorm=True)
    with pytest.raises(ValueError, match="Axis 3 is out of bounds"):
        N.BatchNormalization(axis=3)(np.zeros((2, 4, 3), "float32"))
    layer = N.BatchNormalization()
    layer(np.zeros((2, 4, 3), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.zeros((2, 4, 2), "float32"))


LN_CASES = [
    ("ln_default", lambda m: m.LayerNormalization(), (5,)),
    ("ln_seq", lambda m: m.LayerNormalization(epsilon=1e-5), (7, 6)),
    ("ln_axes_12", lambda m: m.LayerNormalization(axis=[1, 2]), (7, 5, 3)),
    ("ln_axes_neg", lambda m: m.LayerNormalization(axis=(-1, -3)), (7, 5, 3)),
    ("ln_axis1", lambda m: m.LayerNormalization(axis=1), (7, 5)),
    ("ln_no_center", lambda m: m.LayerNormalization(center=False), (7, 6)),
    ("ln_no_scale", lambda m: m.LayerNormalization(scale=False), (7, 6)),
    ("ln_rms", lambda m: m.LayerNormalization(rms_scaling=True), (7, 6)),
]


# Keras warns that rms_scaling is deprecated; that warning is theirs to give.
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize("name,make,shape", LN_CASES, ids=[c[0] for c in LN_CASES])
def test_layer_normalization(name, make, shape):
    run_layer_test(_with_moving_stats(make, shape), shape,
                   keras_layer=lambda keras: make(keras.layers), low=-2.0, high=3.0)


def test_layer_normalization_weights_and_config():
    keras = keras_or_skip()
    for kwargs in ({}, {"center": False}, {"axis": [1, 2]}):
        ours, theirs = N.LayerNormalization(**kwargs), keras.layers.LayerNormalization(**kwargs)
        ours.build((None, 7, 5, 3))
        theirs.build((None, 7, 5, 3))
        assert [(w.name, tuple(w.shape)) for w in ours.weights] == \
            [(w.name, tuple(w.shape)) for w in theirs.weights]
        assert set(ours.get_config()) == set(theirs.get_config())
        assert ours.get_config()["axis"] == theirs.get_config()["axis"]


def test_layer_normalization_errors():
    with pytest.raises(TypeError, match="Expected an int or a list/tuple of ints"):
        N.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="Axis 2 is out of bounds"):
        N.LayerNormalization(axis=2)(np.zeros((2, 4), "float32"))

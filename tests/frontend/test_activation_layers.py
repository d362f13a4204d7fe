"""Activation layers through the one harness, Softmax with masks, and Keras'
argument checks."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import layers
from frontend.tracing import Tracer
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip, run_layer_test


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"max_value": 0.5}, {"negative_slope": 0.1},
                                    {"threshold": 0.5}, {"negative_slope": 0.2, "max_value": 0.8},
                                    {"negative_slope": 0.1, "threshold": 0.3, "max_value": 0.9}])
def test_relu(kwargs):
    run_layer_test(lambda: layers.ReLU(**kwargs), (3, 4), keras_layer=lambda k: k.layers.ReLU(**kwargs))


@pytest.mark.parametrize("kwargs", [{}, {"negative_slope": 0.01}, {"negative_slope": 0.0}])
def test_leaky_relu(kwargs):
    run_layer_test(lambda: layers.LeakyReLU(**kwargs), (5,), keras_layer=lambda k: k.layers.LeakyReLU(**kwargs))


def test_leaky_relu_alpha_is_deprecated_but_accepted():
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        layer = layers.LeakyReLU(alpha=0.4)
    assert layer.negative_slope == 0.4


@pytest.mark.parametrize("shape,shared_axes", [((5,), None), ((3, 4), None), ((3, 4), [1]),
                                               ((2, 3, 4), [1, 2]), ((2, 3, 4), 2)])
def test_prelu(shape, shared_axes):
    # A random alpha, so the negative side is exercised (the default initializer is zeros).
    run_layer_test(lambda: layers.PReLU(alpha_initializer="glorot_uniform", shared_axes=shared_axes), shape,
                   keras_layer=lambda k: k.layers.PReLU(shared_axes=shared_axes))


def test_prelu_weights_and_spec():
    layer = layers.PReLU(shared_axes=[1])
    layer.build((None, 3, 4))
    assert [w.name for w in layer.weights] == ["alpha"] and layer.alpha.shape == (1, 4)
    assert layer.input_spec.ndim == 3 and layer.input_spec.axes == {2: 4}
    np.testing.assert_array_equal(layer.alpha.numpy(), np.zeros((1, 4), "float32"))


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_elu(alpha):
    run_layer_test(lambda: layers.ELU(alpha=alpha), (4,), low=-5, high=5,
                   keras_layer=lambda k: k.layers.ELU(alpha=alpha))


@pytest.mark.parametrize("axis", [-1, 1, (1, 2), [2]])
def test_softmax(axis):
    run_layer_test(lambda: layers.Softmax(axis=axis), (3, 4), low=-10, high=10,
                   keras_layer=lambda k: k.layers.Softmax(axis=axis))


@pytest.mark.parametrize("mask_dtype", ["bool", "float32"])
def test_softmax_mask_matches_keras_and_compiles(mask_dtype):
    k = keras_or_skip()
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (5, 2, 6)).astype("float32")
    mask = (rng.random((5, 1, 6)) < 0.6)
    mask[0] = False                           # a fully masked row gives zeros, not a uniform spread
    mask = mask.astype(mask_dtype)
    mine = layers.Softmax()(x, mask=mask)
    np.testing.assert_allclose(mine, k.layers.Softmax()(x, mask=mask), rtol=1e-5, atol=1e-6)
    assert not mine[0].any()
    tracer = Tracer("softmax_mask")
    xt = tracer.input((None, 2, 6), "float32", "x")
    mt = tracer.input((None, 1, 6), mask_dtype, "mask")
    tracer.graph.set_outputs([layers.Softmax()(xt, mask=mt).value])
    exe = Executable(verify(tracer.graph))
    for b in (1, 5):
        np.testing.assert_allclose(exe(x[:b], mask[:b])[0], mine[:b], rtol=1e-5, atol=1e-6)


def test_softmax_mask_must_broadcast():
    with pytest.raises(ValueError, match="The `mask` must be broadcastable to `inputs`"):
        layers.Softmax()(np.zeros((2, 3), "float32"), mask=np.ones((2, 4), bool))


def test_argument_errors_match_keras():
    with pytest.raises(ValueError, match="max_value of a ReLU layer cannot be a negative value. "
                                         "Received: max_value=-1"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope of a ReLU layer cannot be None or a negative"):
        layers.ReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="threshold of a ReLU layer cannot be None"):
        layers.ReLU(threshold=None)
    with pytest.raises(ValueError, match="Received: negative_slope=-0.5"):
        layers.LeakyReLU(negative_slope=-0.5)


@pytest.mark.parametrize("make", [lambda m: m.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2),
                                  lambda m: m.LeakyReLU(0.1), lambda m: m.PReLU(shared_axes=[1, 2]),
                                  lambda m: m.Softmax(axis=1)],
                         ids=["ReLU", "LeakyReLU", "PReLU", "Softmax"])
def test_config_matches_keras(make):
    k = keras_or_skip()
    mine, theirs = make(layers).get_config(), make(k.layers).get_config()
    assert set(mine) == set(theirs)
    assert {key: mine[key] for key in mine if key not in ("name", "dtype")} == \
        {key: theirs[key] for key in theirs if key not in ("name", "dtype")}

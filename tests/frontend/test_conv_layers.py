"""Convolution layers through the conformance harness (eager, compiled at batch 1
and 7, config round trip, Keras parity on the same weights), plus weights,
configs and validation messages against Keras."""
from __future__ import annotations

import numpy as np
import pytest

from frontend.layers import conv as L
from frontend.tensors import KerasTensor
from tests.frontend.layer_harness import compile_layer, keras_or_skip, run_layer_test

# (name, Horn factory, Keras factory, input shape without batch). Spatial sizes are
# primes / odd (7x5) so that 'same' padding is asymmetric and strides leave remainders.
CASES = [
    # Conv1D: paddings incl. causal, strides, dilation, groups, output length 1.
    ("c1_valid", lambda m: m.Conv1D(4, 3), (7, 3)),
    ("c1_same_s2", lambda m: m.Conv1D(4, 3, strides=2, padding="same"), (7, 3)),
    ("c1_causal_d2", lambda m: m.Conv1D(4, 3, padding="causal", dilation_rate=2), (7, 3)),
    ("c1_groups", lambda m: m.Conv1D(6, 2, groups=3, activation="relu"), (5, 6)),
    ("c1_out1", lambda m: m.Conv1D(2, 7, use_bias=False), (7, 3)),
    # Conv2D.
    ("c2_valid", lambda m: m.Conv2D(4, 3), (7, 5, 3)),
    ("c2_same_s2", lambda m: m.Conv2D(4, 3, strides=2, padding="same", activation="relu"), (7, 5, 3)),
    ("c2_same_asym", lambda m: m.Conv2D(5, (3, 2), strides=(2, 1), padding="SAME"), (7, 5, 3)),
    ("c2_dilated", lambda m: m.Conv2D(4, 3, dilation_rate=(2, 1), padding="same"), (7, 5, 3)),
    ("c2_groups", lambda m: m.Conv2D(6, 3, groups=3, padding="same", use_bias=False), (7, 5, 6)),
    ("c2_out1x1", lambda m: m.Conv2D(3, (7, 5), activation="tanh"), (7, 5, 2)),
    ("c2_s3_valid", lambda m: m.Conv2D(2, 2, strides=3), (7, 5, 1)),
    # Conv3D.
    ("c3_same_s2", lambda m: m.Conv3D(3, 2, strides=2, padding="same"), (5, 3, 4, 2)),
    ("c3_valid_d", lambda m: m.Conv3D(2, (2, 1, 2), dilation_rate=(1, 2, 1)), (5, 3, 4, 2)),
    # Depthwise.
    ("dw2_valid", lambda m: m.DepthwiseConv2D(3), (7, 5, 3)),
    ("dw2_mult_same_s2", lambda m: m.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
     (7, 5, 3)),
    ("dw2_dilated_nobias", lambda m: m.DepthwiseConv2D((2, 3), dilation_rate=2, use_bias=False,
                                                       depth_multiplier=3, activation="relu"), (7, 5, 2)),
    ("dw1_same", lambda m: m.DepthwiseConv1D(3, padding="same", depth_multiplier=2), (7, 3)),
    # Separable.
    ("sep2_valid", lambda m: m.SeparableConv2D(4, 3), (7, 5, 3)),
    ("sep2_mult_same_s2", lambda m: m.SeparableConv2D(5, 3, strides=2, padding="same",
                                                      depth_multiplier=2, activation="relu"), (7, 5, 3)),
    ("sep2_dilated", lambda m: m.SeparableConv2D(2, (3, 2), dilation_rate=2, use_bias=False), (7, 5, 3)),
    ("sep1_same", lambda m: m.SeparableConv1D(4, 3, padding="same", depth_multiplier=2), (7, 3)),
    # Transposed.
    ("tr2_valid", lambda m: m.Conv2DTranspose(4, 3), (7, 5, 3)),
    ("tr2_valid_s2", lambda m: m.Conv2DTranspose(4, 3, strides=2), (7, 5, 3)),
    ("tr2_same_s2", lambda m: m.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
     (7, 5, 3)),
    ("tr2_same_asym", lambda m: m.Conv2DTranspose(3, (3, 2), strides=(3, 2), padding="same"), (7, 5, 2)),
    ("tr2_outpad", lambda m: m.Conv2DTranspose(3, 3, strides=2, output_padding=(1, 0)), (7, 5, 2)),
    ("tr2_same_outpad", lambda m: m.Conv2DTranspose(3, 4, strides=3, padding="same",
                                                    output_padding=2, use_bias=False), (5, 3, 2)),
    ("tr2_dilated", lambda m: m.Conv2DTranspose(3, 3, dilation_rate=2, padding="same"), (7, 5, 2)),
    ("tr2_k1_s3", lambda m: m.Conv2DTranspose(2, 1, strides=3), (3, 1, 2)),   # stride > kernel
    ("tr1_same_s2", lambda m: m.Conv1DTranspose(4, 3, strides=2, padding="same"), (7, 3)),
    ("tr3_valid_s2", lambda m: m.Conv3DTranspose(2, 2, strides=2), (3, 2, 3, 2)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_conv_layer(name, make, shape):
    run_layer_test(lambda: make(L), shape, keras_layer=lambda keras: make(keras.layers))


WEIGHT_CASES = [
    (lambda m: m.Conv2D(4, (3, 2), groups=2), (7, 5, 6)),
    (lambda m: m.Conv1D(4, 3, use_bias=False), (7, 3)),
    (lambda m: m.DepthwiseConv2D(3, depth_multiplier=2), (7, 5, 3)),
    (lambda m: m.SeparableConv2D(4, 3, depth_multiplier=2), (7, 5, 3)),
    (lambda m: m.SeparableConv1D(4, 3, use_bias=False), (7, 3)),
    (lambda m: m.Conv2DTranspose(4, (3, 2)), (7, 5, 3)),
    (lambda m: m.Conv3D(2, 2), (3, 3, 3, 2)),
]


@pytest.mark.parametrize("make,shape", WEIGHT_CASES)
def test_weights_and_config_keys_match_keras(make, shape):
    keras = keras_or_skip()
    ours, theirs = make(L), make(keras.layers)
    ours.build((None,) + shape)
    theirs.build((None,) + shape)
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == \
        [(w.name, tuple(w.shape)) for w in theirs.weights]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]
    assert set(ours.get_config()) == set(theirs.get_config())


def test_config_values():
    layer = L.Conv2D(8, 3, strides=2, padding="Same", dilation_rate=1, groups=2, activation="relu")
    cfg = layer.get_config()
    assert cfg["kernel_size"] == (3, 3) and cfg["strides"] == (2, 2) and cfg["padding"] == "same"
    assert cfg["groups"] == 2 and cfg["activation"] == "relu" and cfg["data_format"] == "channels_last"
    clone = L.Conv2D.from_config(cfg)
    assert clone.get_config() == cfg
    tr = L.Conv2DTranspose(3, 3, strides=2, output_padding=1).get_config()
    assert tr["output_padding"] == (1, 1)
    # Conv3DTranspose takes data_format before output_padding, as Keras.
    assert L.Conv3DTranspose(2, 2, 2, "same", None, 1).output_padding == (1, 1, 1)


def test_weights_stay_live_parameters():
    """Kernels reshaped (depthwise) or flipped (transpose) in the op are still parameters:
    new weights reach the compiled code without recompiling."""
    rng = np.random.default_rng(3)
    for make, shape in [(lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (7, 5, 3)),
                        (lambda: L.Conv2DTranspose(4, 3, strides=2), (7, 5, 3)),
                        (lambda: L.SeparableConv2D(4, 3), (7, 5, 3))]:
        layer = make()
        x = rng.uniform(-1, 1, (2,) + shape).astype("float32")
        layer(x)
        exe = compile_layer(layer, shape)
        assert len(exe.graph.params) == len(layer.weights)
        layer.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in layer.weights])
        np.testing.assert_allclose(exe(x)[0], layer(x), rtol=1e-5, atol=1e-6)


def test_functional_output_shapes():
    x = KerasTensor((None, 7, 5, 3))
    assert L.Conv2D(4, 3, strides=2, padding="same")(x).shape == (None, 4, 3, 4)
    assert L.Conv2DTranspose(4, 3, strides=2)(x).shape == (None, 15, 11, 4)
    assert L.Conv2DTranspose(4, 3, strides=2, padding="same")(x).shape == (None, 14, 10, 4)
    assert L.DepthwiseConv2D(3, depth_multiplier=2)(x).shape == (None, 5, 3, 6)
    assert L.Conv1D(2, 3, padding="causal")(KerasTensor((None, 9, 3))).shape == (None, 9, 2)
    assert L.Conv2D(4, 3).compute_output_shape((None, 7, 5, 3)) == (None, 5, 3, 4)


@pytest.mark.parametrize("make,match", [
    (lambda: L.Conv2D(0, 3), r"Received filters=0"),
    (lambda: L.Conv2D(4, 3, groups=0), r"Received: groups=0"),
    (lambda: L.Conv2D(5, 3, groups=2), r"evenly divisible by the number of groups. Received: groups=2, filters=5"),
    (lambda: L.Conv2D(4, 0), r"kernel_size"),
    (lambda: L.Conv2D(4, (3, 3, 3)), r"The `kernel_size` argument must be a tuple of 2 integers"),
    (lambda: L.Conv2D(4, 3, strides=2, dilation_rate=2), r"`strides > 1` not supported in conjunction"),
    (lambda: L.Conv2D(4, 3, padding="causal"), r"The `padding` argument must be"),
    (lambda: L.Conv2D(4, 3, data_format="channels_first"), r"channels_first.*not supported.*channels_last"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), r"Received depth_multiplier=0"),
    (lambda: L.SeparableConv2D(0, 3), r"Received filters=0"),
    (lambda: L.Conv2DTranspose(4, 3, strides=2, output_padding=2), r"`output_padding` must be strictly less"),
    (lambda: L.Conv2DTranspose(4, 3, strides=2, dilation_rate=2), r"`strides > 1` not supported"),
    (lambda: L.Conv2D(4, 3, bogus=1), r"Unrecognized keyword arguments"),
])
def test_constructor_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_call_validation():
    with pytest.raises(ValueError, match="evenly divisible by the number of groups"):
        L.Conv2D(4, 3, groups=2)(np.zeros((1, 7, 5, 3), "float32"))
    layer = L.Conv2D(4, 3)
    layer(np.zeros((1, 7, 5, 3), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 7, 5, 2), "float32"))
    with pytest.raises(ValueError, match="empty output"):
        L.Conv2D(4, 9)(np.zeros((1, 7, 5, 3), "float32"))

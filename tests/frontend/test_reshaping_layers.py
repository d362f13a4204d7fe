"""ZeroPadding, Cropping and UpSampling layers through the conformance harness,
plus argument forms, configs and errors against Keras."""
from __future__ import annotations

import numpy as np
import pytest

from frontend.layers import reshaping as R
from frontend.tensors import KerasTensor
from tests.frontend.layer_harness import keras_or_skip, run_layer_test

CASES = [
    ("zp1_default", lambda m: m.ZeroPadding1D(), (7, 3)),
    ("zp1_pair", lambda m: m.ZeroPadding1D((2, 0)), (7, 3)),
    ("zp2_default", lambda m: m.ZeroPadding2D(), (7, 5, 3)),
    ("zp2_int", lambda m: m.ZeroPadding2D(2), (7, 5, 3)),
    ("zp2_sym", lambda m: m.ZeroPadding2D((1, 3)), (7, 5, 3)),
    ("zp2_pairs", lambda m: m.ZeroPadding2D(((0, 2), (3, 1))), (7, 5, 3)),
    ("zp3_pairs", lambda m: m.ZeroPadding3D(((1, 0), (0, 2), (1, 1))), (3, 2, 4, 2)),
    ("cr1_default", lambda m: m.Cropping1D(), (7, 3)),
    ("cr1_pair", lambda m: m.Cropping1D((0, 3)), (7, 3)),
    ("cr2_int", lambda m: m.Cropping2D(1), (7, 5, 3)),
    ("cr2_sym", lambda m: m.Cropping2D((2, 1)), (7, 5, 3)),
    ("cr2_pairs", lambda m: m.Cropping2D(((0, 3), (2, 0))), (7, 5, 3)),
    ("cr2_to_1x1", lambda m: m.Cropping2D(((3, 3), (4, 0))), (7, 5, 3)),
    ("cr3_pairs", lambda m: m.Cropping3D(((1, 0), (0, 1), (1, 1))), (3, 4, 5, 2)),
    ("up1_default", lambda m: m.UpSampling1D(), (7, 3)),
    ("up1_3", lambda m: m.UpSampling1D(3), (5, 2)),
    ("up2_default", lambda m: m.UpSampling2D(), (7, 5, 3)),
    ("up2_asym", lambda m: m.UpSampling2D((3, 1)), (7, 5, 3)),
    ("up2_bilinear", lambda m: m.UpSampling2D(interpolation="bilinear"), (7, 5, 3)),
    ("up2_bilinear_asym", lambda m: m.UpSampling2D((3, 2), interpolation="bilinear"), (4, 5, 2)),
    ("up2_bilinear_1px", lambda m: m.UpSampling2D(4, interpolation="bilinear"), (1, 3, 2)),
    ("up3", lambda m: m.UpSampling3D((1, 2, 3)), (3, 2, 2, 2)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_reshaping_layer(name, make, shape):
    run_layer_test(lambda: make(R), shape, keras_layer=lambda keras: make(keras.layers))


@pytest.mark.parametrize("name,make,shape", CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_config_matches_keras(name, make, shape):
    keras = keras_or_skip()
    ours, theirs = make(R).get_config(), make(keras.layers).get_config()
    assert set(ours) == set(theirs)
    for key in ("padding", "cropping", "size", "interpolation"):
        if key in theirs:
            assert ours[key] == theirs[key], key


def test_functional_output_shapes():
    x = KerasTensor((None, 7, 5, 3))
    assert R.ZeroPadding2D(((0, 2), (3, 1)))(x).shape == (None, 9, 9, 3)
    assert R.Cropping2D(((0, 3), (2, 0)))(x).shape == (None, 4, 3, 3)
    assert R.UpSampling2D((3, 1))(x).shape == (None, 21, 5, 3)


def test_errors_speak():
    with pytest.raises(ValueError, match="`padding` should have two elements"):
        R.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="1st entry of padding"):
        R.ZeroPadding2D(((1, 2, 3), (1, 1)))
    with pytest.raises(ValueError, match="`cropping` cannot be negative"):
        R.Cropping2D(-1)
    with pytest.raises(ValueError, match="should be smaller than the corresponding spatial dimension"):
        R.Cropping2D(((4, 3), (0, 0)))(np.zeros((1, 7, 5, 1), "float32"))
    with pytest.raises(ValueError, match="channels_first.*not supported"):
        R.UpSampling2D(data_format="channels_first")
    with pytest.raises(NotImplementedError, match="interpolation='bicubic' is not supported"):
        R.UpSampling2D(interpolation="bicubic")
    with pytest.raises(TypeError, match="Expected an integer value for `size`"):
        R.UpSampling1D((2,))
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        R.ZeroPadding2D()(np.zeros((1, 4, 4), "float32"))

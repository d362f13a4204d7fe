"""Rescaling through the conformance harness (scalar and per-channel), plus config."""
from __future__ import annotations

import numpy as np
import pytest

from frontend.layers import preprocessing as PP
from tests.frontend.layer_harness import keras_or_skip, run_layer_test

CASES = [
    ("scale_1_255", lambda m: m.Rescaling(1.0 / 255), (7, 5, 3)),
    ("scale_offset", lambda m: m.Rescaling(1.0 / 127.5, offset=-1.0), (7, 5, 3)),
    ("per_channel", lambda m: m.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.0, 0.2]), (7, 5, 3)),
    ("vector_input", lambda m: m.Rescaling(3.0, 0.5), (4,)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_rescaling(name, make, shape):
    run_layer_test(lambda: make(PP), shape, keras_layer=lambda keras: make(keras.layers),
                   low=0.0, high=255.0)


def test_integer_images_are_cast_to_the_layer_dtype():
    keras = keras_or_skip()
    x = np.arange(24, dtype="uint8").reshape(1, 2, 4, 3)
    out = PP.Rescaling(1.0 / 255)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, keras.layers.Rescaling(1.0 / 255)(x), rtol=1e-6, atol=0)


def test_config():
    cfg = PP.Rescaling(np.array([0.5, 2.0]), offset=1.0).get_config()
    assert cfg["scale"] == [0.5, 2.0] and cfg["offset"] == 1.0
    assert PP.Rescaling.from_config(cfg).scale == [0.5, 2.0]

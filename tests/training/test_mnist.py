"""Training on the real MNIST in ../shared/data (HORN_DATA_DIR).

The full targets of the issue (convnet-S >= 98.5% within 3 epochs, the MLP >=
97% within 5) run with ``HORN_SLOW=1``; CI runs the short version below.
"""
import os

import numpy as np
import pytest

import horn as keras
from tests.models import seed_models

pytestmark = pytest.mark.skipif("HORN_DATA_DIR" not in os.environ, reason="needs the offline MNIST copy")
slow = pytest.mark.skipif(os.environ.get("HORN_SLOW") != "1", reason="full MNIST runs: set HORN_SLOW=1")


def _mnist(channels: bool):
    (x, y), (xt, yt) = keras.datasets.mnist.load_data()
    x, xt = x.astype("float32") / 255.0, xt.astype("float32") / 255.0
    if channels:
        x, xt = x[..., None], xt[..., None]
    return (x, y.astype("int32")), (xt, yt.astype("int32"))


def _train(model, epochs, n=None):
    (x, y), (xt, yt) = _mnist(channels=len(model.inputs[0].shape) == 4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:n], y[:n], batch_size=128, epochs=epochs, verbose=0)
    return model.evaluate(xt, yt, batch_size=512, verbose=0)[1]


def test_mlp_learns_mnist_short():
    keras.utils.set_random_seed(0)
    assert _train(seed_models.mlp(keras), epochs=1, n=20000) > 0.90


@slow
def test_mlp_reaches_97_percent_in_5_epochs():
    keras.utils.set_random_seed(0)
    assert _train(seed_models.mlp(keras), epochs=5) >= 0.97


@slow
def test_convnet_s_reaches_98_5_percent_in_3_epochs():
    keras.utils.set_random_seed(0)
    assert _train(seed_models.convnet_s(keras), epochs=3) >= 0.985

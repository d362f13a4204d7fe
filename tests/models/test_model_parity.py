"""The seed models against real Keras 3 (numpy backend) on the same weights."""
import numpy as np
import pytest

import horn
from tests.frontend.layer_harness import keras_or_skip
from tests.models import seed_models

MODELS = ["mlp", "convnet_s", "convnet_l", "functional_convnet"]


def _input_for(name, batch, rng):
    shape = (batch, 28, 28) if name == "mlp" else (batch, 28, 28, 1)
    return rng.uniform(0, 1, shape).astype("float32")


@pytest.mark.keras
@pytest.mark.parametrize("name", MODELS)
def test_seed_model_matches_keras(name):
    keras = keras_or_skip()
    rng = np.random.default_rng(1)
    ours = getattr(seed_models, name)(horn)
    theirs = getattr(seed_models, name)(keras)
    weights = [rng.normal(0, 0.1, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for batch in (1, 37):
        x = _input_for(name, batch, rng)
        np.testing.assert_allclose(ours.predict(x, batch_size=16, verbose=0),
                                   np.asarray(theirs.predict(x, batch_size=16, verbose=0)),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.keras
def test_subclassed_model_matches_keras():
    keras = keras_or_skip()
    rng = np.random.default_rng(2)
    ours, theirs = seed_models.two_dense_subclass(horn), seed_models.two_dense_subclass(keras)
    x = rng.normal(size=(9, 20)).astype("float32")
    ours(x)
    theirs(x)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.keras
def test_summary_matches_keras_text():
    keras = keras_or_skip()
    horn.backend.clear_session()
    keras.backend.clear_session()
    lines = {}
    for k in (horn, keras):
        out = []
        seed_models.functional_convnet(k).summary(print_fn=out.append)
        lines[k.__name__] = "\n".join(out).rstrip().splitlines()
    assert [l.rstrip() for l in lines["horn"]] == [l.rstrip() for l in lines["keras"]]

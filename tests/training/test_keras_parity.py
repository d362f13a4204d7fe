"""One epoch of SGD and of Adam on the MLP, per batch, against real Keras on its JAX backend."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import horn as keras
from tests.models import seed_models

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None or
                                importlib.util.find_spec("keras") is None,
                                reason="needs keras and jax")


def _data(n=1024):
    if "HORN_DATA_DIR" in os.environ:
        (x, y), _ = keras.datasets.mnist.load_data()
        return x[:n].astype("float32") / 255.0, y[:n].astype("int32")
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (n, 28, 28)).astype("float32"), rng.integers(0, 10, n).astype("int32")


@pytest.mark.parametrize("name,make", [("sgd", lambda: keras.optimizers.SGD(0.05)),
                                       ("adam", lambda: keras.optimizers.Adam(0.001))])
def test_one_epoch_matches_keras_jax_per_batch(name, make, tmp_path):
    x, y = _data()
    keras.utils.set_random_seed(0)
    model = seed_models.mlp(keras)
    weights = model.get_weights()
    np.savez(tmp_path / "d.npz", x=x, y=y, **{f"w{i}": w for i, w in enumerate(weights)})
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    script = Path(__file__).with_name("keras_jax_reference.py")
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "d.npz"), name], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    reference = json.loads(out.stdout.strip().splitlines()[-1])

    losses = []
    model.compile(optimizer=make(), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(
                  on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    assert len(losses) == len(reference["losses"]) == 8
    np.testing.assert_allclose(losses, reference["losses"], rtol=1e-4)
    for ours, theirs in zip(model.get_weights()[2:], reference["weights"]):
        np.testing.assert_allclose(ours, np.asarray(theirs, np.float32), rtol=1e-3, atol=1e-5)

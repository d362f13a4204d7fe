"""Per-timestep losses: models whose outputs are (batch, T, k), trained on targets of
shape (batch, T) or (batch, T, k). Keras reduces a loss over its last axis only, so
the per-sample values are (batch, T); the train step's sample weights (batch,)
spread over the steps. One epoch per batch against Keras on JAX; loss values on the
same predictions against Keras' numpy backend (masks and (batch, T) weights
included); (batch,) weights against their definition (each sample's weight on all
of its steps, as tf.keras did; Keras 3 itself raises there)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import horn
from tests.training.keras_jax_sequence_reference import METRIC, F, K, T, build

KINDS = ["td_sparse_ce", "lstm_mse", "gru_ce"]


def _data(kind: str, n: int = 64):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (n, T, F)).astype("float32")
    labels = rng.integers(0, K, (n, T))
    if kind == "td_sparse_ce":
        return x, labels.astype("int32")
    if kind == "gru_ce":
        return x, np.eye(K, dtype="float32")[labels]
    return x, rng.uniform(-1, 1, (n, T, K)).astype("float32")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None,
                    reason="needs keras and jax")
@pytest.mark.parametrize("kind", KINDS)
def test_one_epoch_matches_keras_jax_per_batch(kind, tmp_path):
    x, y = _data(kind)
    horn.utils.set_random_seed(0)
    model, loss = build(horn, kind)
    weights = model.get_weights()
    np.savez(tmp_path / "d.npz", x=x, y=y, **{f"w{i}": w for i, w in enumerate(weights)})
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    script = Path(__file__).with_name("keras_jax_sequence_reference.py")
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "d.npz"), kind], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    reference = json.loads(out.stdout.strip().splitlines()[-1])

    losses = []
    model.compile(optimizer=horn.optimizers.SGD(0.1), loss=loss, metrics=[METRIC[kind]])
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                        callbacks=[horn.callbacks.LambdaCallback(
                            on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    assert len(losses) == len(reference["losses"]) == 4
    np.testing.assert_allclose(losses, reference["losses"], rtol=1e-4)
    np.testing.assert_allclose(history.history[METRIC[kind]][-1], reference["metric"], rtol=1e-4)
    for ours, theirs in zip(model.get_weights(), reference["weights"]):
        np.testing.assert_allclose(ours, np.asarray(theirs, np.float32), rtol=1e-3, atol=1e-5)


LOSSES = [("SparseCategoricalCrossentropy", "int"), ("CategoricalCrossentropy", "onehot"),
          ("MeanSquaredError", "dense"), ("MeanAbsoluteError", "dense"), ("Huber", "dense"),
          ("BinaryCrossentropy", "binary")]


def _targets(kind: str, rng, shape):
    labels = rng.integers(0, K, shape[:2])
    return {"int": labels.astype("int32"), "onehot": np.eye(K, dtype="float32")[labels],
            "dense": rng.uniform(0, 1, shape).astype("float32"),
            "binary": (rng.uniform(size=shape) > 0.5).astype("float32")}[kind]


@pytest.mark.keras
@pytest.mark.parametrize("name,kind", LOSSES)
@pytest.mark.parametrize("weights", [None, "per_step", "ones_per_sample"])
def test_loss_values_match_keras_numpy(name, kind, weights):
    from tests.frontend.layer_harness import keras_or_skip
    keras = keras_or_skip()
    rng = np.random.default_rng(4)
    pred = rng.uniform(0.05, 0.95, (5, T, K)).astype("float32")
    pred = pred / pred.sum(-1, keepdims=True) if kind in ("int", "onehot") else pred
    true = _targets(kind, rng, pred.shape)
    sw = {None: None, "per_step": rng.uniform(0, 2, (5, T)).astype("float32"),
          "ones_per_sample": np.ones(5, "float32")}[weights]
    ours = getattr(horn.losses, name)()
    theirs = getattr(keras.losses, name)()
    # Keras 3 cannot apply (batch,) weights to (batch, T) losses; unit weights must equal none.
    want = theirs(true, pred, sample_weight=None if weights == "ones_per_sample" else sw)
    np.testing.assert_allclose(np.asarray(ours(true, pred, sample_weight=sw)), np.asarray(want),
                               rtol=1e-5, atol=1e-6)


def test_per_sample_weights_spread_over_the_steps_in_the_compiled_step():
    horn.utils.set_random_seed(0)
    model, loss = build(horn, "td_sparse_ce")
    model.compile(optimizer="sgd", loss=loss)
    x, y = _data("td_sparse_ce", 10)
    sw = np.linspace(0.0, 2.0, 10).astype("float32")
    pred = model.predict(x, verbose=0)
    per_step = -np.log(np.take_along_axis(pred, y[..., None], -1)[..., 0])       # (batch, T)
    want = float(np.sum(per_step * sw[:, None]) / per_step.size)
    got = model.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # No weights: the plain mean over every step, as Keras.
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=10, verbose=0), per_step.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(4,\) cannot weigh losses of shape \(3, 6\)"):
        horn.losses.SparseCategoricalCrossentropy()(y[:3], pred[:3], sample_weight=np.ones(4, "float32"))


def test_masked_per_step_loss_with_sample_weights():
    """Embedding(mask_zero) -> LSTM(return_sequences): masked steps drop out of the mean, with
    no weights and with (batch, T) weights, as in Keras."""
    from tests.frontend.layer_harness import keras_or_skip
    keras = keras_or_skip()

    def make(m):
        return m.Sequential([m.Input((T,), dtype="int32"), m.layers.Embedding(5, 3, mask_zero=True),
                             m.layers.LSTM(K, return_sequences=True)])

    model, ref = make(horn), make(keras)
    ref.set_weights(model.get_weights())
    model.compile(loss="mse")
    ref.compile(loss="mse")
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 5, (8, T)).astype("int32")
    y = rng.uniform(-1, 1, (8, T, K)).astype("float32")
    unmasked = float(np.mean((model.predict(tokens, verbose=0) - y) ** 2))
    got = model.evaluate(tokens, y, batch_size=8, verbose=0)
    assert abs(got - unmasked) > 1e-4          # the mask mattered
    np.testing.assert_allclose(got, ref.evaluate(tokens, y, batch_size=8, verbose=0), rtol=1e-5)
    sw = rng.uniform(0, 2, (8, T)).astype("float32")
    want = ref.evaluate(tokens, y, sample_weight=sw, batch_size=8, verbose=0)
    np.testing.assert_allclose(model.evaluate(tokens, y, sample_weight=sw, batch_size=8, verbose=0), want,
                               rtol=1e-5)
    # The train step takes (batch, T) weights too (the loss it reports is before the update).
    np.testing.assert_allclose(model.train_on_batch(tokens, y, sample_weight=sw), want, rtol=1e-5)
    history = model.fit(tokens, y, sample_weight=sw, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])

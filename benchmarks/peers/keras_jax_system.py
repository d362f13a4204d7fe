"""Keras 3 on JAX (XLA, CPU), the models built by the same seed-model functions as Horn's.

Predict runs ``model.stateless_call`` under ``jax.jit``, numpy in and numpy out:
the least overhead Keras-on-JAX offers (``predict_on_batch`` adds its own
data handling per call). Training uses ``fit``; its compile cost is the first
epoch's overhead over a steady one.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from tests.models import seed_models  # noqa: E402

from peers.common import Settings, fit_epochs, log, mnist_like, time_call, train_epochs, timed  # noqa: E402


def versions() -> dict:
    import jaxlib
    return {"keras": keras.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "keras_backend": keras.backend.backend()}


def measure(model_name: str, s: Settings) -> dict:
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}, expected 'jax' (KERAS_BACKEND)")
    keras.utils.set_random_seed(s.seed)
    model = getattr(seed_models, model_name)(keras)
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    forward = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])

    def predict(x):
        return np.asarray(forward(trainable, frozen, x))

    x1, _ = mnist_like(1, model_name, s.seed)
    xb, _ = mnist_like(s.batch, model_name, s.seed + 1)
    log(f"keras-jax {model_name}: predict")
    jit_b1, _ = timed(lambda: predict(x1))
    jit_bn, _ = timed(lambda: predict(xb))
    result = {"predict_path": "jax.jit(model.stateless_call)",
              "predict": {"b1": time_call(lambda: predict(x1), s),
                          f"b{s.batch}": time_call(lambda: predict(xb), s)}}
    log(f"keras-jax {model_name}: train")
    x, y = mnist_like(s.train_samples, model_name, s.seed + 2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    result["train"] = fit_epochs(keras, model, x, y, s, train_epochs(model_name, s))
    result["compile"] = {"first_epoch_overhead_s": result["train"]["first_epoch_overhead_s"],
                         "predict_first_call_s": {"b1": jit_b1, f"b{s.batch}": jit_bn}}
    return result

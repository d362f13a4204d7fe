"""Run by test_text_classifier.py in a subprocess with KERAS_BACKEND=jax: for each model
name given, one epoch of SGD (shuffle=False) on a small sequence model from
text_models.py, from the data and initial weights in ``<dir>/<name>.npz``. Prints
``{name: {"losses": per-batch losses, "weights": final weights}}`` as JSON."""
import json
import sys
from pathlib import Path

import numpy as np

import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_models import small_model  # noqa: E402

results = {}
for name in sys.argv[2:]:
    data = np.load(Path(sys.argv[1]) / f"{name}.npz")
    model = small_model(keras, name)
    n = len(model.get_weights())
    model.set_weights([data[f"w{i}"] for i in range(n)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    losses = []
    model.fit(data["x"], data["y"], batch_size=16, epochs=1, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(
                  on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    results[name] = {"losses": [float(v) for v in losses],
                     "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
print(json.dumps(results))

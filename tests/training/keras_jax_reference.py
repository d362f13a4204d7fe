"""Run by test_keras_parity.py in a subprocess with KERAS_BACKEND=jax.

Reads x, y and the initial weights from an .npz, trains the MLP for one epoch
with shuffle=False, and prints the per-batch running losses and final weights
as JSON.
"""
import json
import sys

import numpy as np

import keras

data = np.load(sys.argv[1])
optimizer = {"sgd": keras.optimizers.SGD(0.05), "adam": keras.optimizers.Adam(0.001)}[sys.argv[2]]
model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                          keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.set_weights([data[f"w{i}"] for i in range(4)])
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
losses = []
model.fit(data["x"], data["y"], batch_size=128, epochs=1, shuffle=False, verbose=0,
          callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
print(json.dumps({"losses": [float(v) for v in losses],
                  "weights": [np.asarray(w).tolist() for w in model.get_weights()[2:]]}))

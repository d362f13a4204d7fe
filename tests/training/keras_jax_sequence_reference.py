"""Run by test_sequence_losses.py in a subprocess with KERAS_BACKEND=jax.

Builds one of the sequence models of :func:`build` (shared with the test), sets
the initial weights from an .npz, trains one epoch with shuffle=False and prints
the per-batch running losses, the metric and the final weights as JSON.
"""
import json
import sys

import numpy as np

T, F, K = 6, 3, 4
# A metric on the per-step outputs each model's targets suit.
METRIC = {"td_sparse_ce": "sparse_categorical_accuracy", "lstm_mse": "mae", "gru_ce": "categorical_accuracy"}


def build(keras, kind: str):
    """``(model, loss)``: per-timestep outputs (batch, T, k) for targets (batch, T) or (batch, T, k)."""
    if kind == "td_sparse_ce":
        model = keras.Sequential([keras.Input((T, F)),
                                  keras.layers.TimeDistributed(keras.layers.Dense(K, activation="softmax"))])
        return model, "sparse_categorical_crossentropy"
    if kind == "lstm_mse":
        model = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(5, return_sequences=True),
                                  keras.layers.TimeDistributed(keras.layers.Dense(K))])
        return model, "mse"
    if kind == "gru_ce":
        model = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(5, return_sequences=True),
                                  keras.layers.Dense(K, activation="softmax")])
        return model, "categorical_crossentropy"
    raise ValueError(kind)


if __name__ == "__main__":
    import keras

    data = np.load(sys.argv[1])
    model, loss = build(keras, sys.argv[2])
    model.set_weights([data[f"w{i}"] for i in range(len(model.weights))])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=[METRIC[sys.argv[2]]])
    losses = []
    history = model.fit(data["x"], data["y"], batch_size=16, epochs=1, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(
                            on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    print(json.dumps({"losses": [float(v) for v in losses], "metric": float(history.history[METRIC[sys.argv[2]]][-1]),
                      "weights": [np.asarray(w).tolist() for w in model.get_weights()]}))

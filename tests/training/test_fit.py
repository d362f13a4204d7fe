"""fit / evaluate / train_on_batch through the compiled train step."""
import numpy as np
import pytest

import horn as keras


def _blobs(n=512, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2, 0], [-2, 1], [0, -2]], np.float32)
    x = centers[y] + rng.normal(0, 0.5, (n, 2)).astype(np.float32)
    return x, y.astype(np.int32)


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])


def test_fit_learns_and_history_records_epochs():
    x, y = _blobs()
    model = _mlp()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=8, verbose=0, validation_split=0.25)
    h = history.history
    assert len(h["loss"]) == 8 and h["loss"][-1] < h["loss"][0] * 0.5
    assert h["accuracy"][-1] > 0.9 and h["val_accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9 and loss < h["loss"][0]
    assert len(model._train_steps) == 1        # one compiled step served every batch


def test_partial_last_batch_and_batch_one_reuse_one_compiled_step():
    x, y = _blobs(101)
    model = _mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.train_on_batch(x[:1], y[:1])
    assert len(model._train_steps) == 1


def test_sgd_epoch_matches_numpy_reference_per_batch():
    """One epoch of plain SGD on a linear softmax model, shuffle=False, against numpy math."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    y = rng.integers(0, 4, 96).astype(np.int32)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    w0, b0 = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])

    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    w, b = w0.astype(np.float64), b0.astype(np.float64)
    running, count, want = 0.0, 0, []
    for i in range(0, 96, 32):
        xb, yb = x[i:i + 32].astype(np.float64), y[i:i + 32]
        z = xb @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(len(yb)), yb]).mean()
        running, count = running + loss * len(yb), count + len(yb)
        want.append(running / count)
        g = p.copy()
        g[np.arange(len(yb)), yb] -= 1
        g /= len(yb)
        w -= 0.1 * xb.T @ g
        b -= 0.1 * g.sum(axis=0)
    np.testing.assert_allclose(losses, want, rtol=1e-4)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-4, atol=1e-5)


def test_dropout_and_batchnorm_train_and_infer_differently():
    x, y = _blobs(256)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(32), keras.layers.BatchNormalization(),
                              keras.layers.Activation("relu"), keras.layers.Dropout(0.3),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    bn = model.layers[1]
    before = bn.moving_mean.numpy().copy()
    model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    assert not np.allclose(bn.moving_mean.numpy(), before)      # moving statistics were updated
    assert model.evaluate(x, y, verbose=0)[1] > 0.85
    p1 = model.predict(x[:8], verbose=0)
    np.testing.assert_array_equal(p1, model.predict(x[:8], verbose=0))   # inference is deterministic


def test_regularizers_add_to_the_loss():
    x, y = _blobs(64)
    keras.utils.set_random_seed(0)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    reg = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.5))])
    reg.set_weights(plain.get_weights())
    for m in (plain, reg):
        m.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    l_plain = plain.evaluate(x, y, verbose=0)
    l_reg = reg.evaluate(x, y, verbose=0)
    penalty = 0.5 * float(np.sum(reg.get_weights()[0] ** 2))
    np.testing.assert_allclose(l_reg, l_plain + penalty, rtol=1e-5)


def test_multi_output_losses_weights_and_metric_names():
    rng = np.random.default_rng(0)
    inp = keras.Input((4,))
    h = keras.layers.Dense(8, activation="relu")(inp)
    a = keras.layers.Dense(1, name="reg")(h)
    b = keras.layers.Dense(2, activation="softmax", name="cls")(h)
    model = keras.Model(inp, [a, b])
    model.compile(optimizer="adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 1.0}, metrics={"cls": ["accuracy"]})
    x = rng.normal(size=(64, 4)).astype(np.float32)
    ya, yb = x[:, :1] * 2, (x[:, 0] > 0).astype(np.int32)
    logs = model.fit(x, [ya, yb], epochs=3, batch_size=16, verbose=0).history
    assert {"loss", "cls_accuracy"} <= set(logs)


def test_bad_input_errors():
    x, y = _blobs(10)
    model = _mlp()
    with pytest.raises(RuntimeError, match="must call `compile"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.fit(x, y[:7], verbose=0)
    bad = y.copy()
    bad[3] = 7
    with pytest.raises(ValueError, match=r"label value of 7 which is outside the valid range of \[0, 3\)"):
        model.fit(x, bad, verbose=0)
    with pytest.raises(ValueError, match="Could not interpret loss identifier: nonsense"):
        model.compile(optimizer="sgd", loss="nonsense")

    def gen():
        while True:
            yield x, y

    with pytest.raises(ValueError, match="`validation_split` is only supported for Tensors or NumPy"):
        model.fit(gen(), steps_per_epoch=2, validation_split=0.2, verbose=0)


def test_generators_and_pydataset_feed_fit():
    x, y = _blobs(128)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def gen():
        while True:
            for i in range(0, 128, 32):
                yield x[i:i + 32], y[i:i + 32]

    h = model.fit(gen(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2

    class Data(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]

    h = model.fit(Data(), epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2

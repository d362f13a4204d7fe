"""The callbacks of issue 3 driving a real, compiled fit."""
import os

import numpy as np
import pytest

import horn as keras


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[:, None]
    return x, y


def _model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return m


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights, self.lrs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])
        self.lrs.append(float(self.model.optimizer.learning_rate))


def test_reduce_lr_on_plateau_changes_the_rate_the_compiled_step_uses():
    x, y = _data()
    model = _model()
    snaps = Snapshots()
    # min_delta larger than any improvement: every epoch is a plateau; factor 0 sets lr to 0.
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.0, patience=0, min_delta=1e9)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[reduce, snaps])
    # The first epoch always counts as an improvement; the plateau after epoch 2 sets lr to 0.
    assert snaps.lrs == pytest.approx([0.05, 0.0, 0.0])
    for a, b in zip(snaps.weights[1], snaps.weights[2]):
        np.testing.assert_array_equal(a, b)           # lr 0 reached the native step: no change
    assert len(model._train_steps) == 1                # ... and nothing was recompiled


def test_learning_rate_set_between_batches_needs_no_recompile():
    x, y = _data(64)
    model = _model()
    model.train_on_batch(x, y)
    model.optimizer.learning_rate = 0.0
    before = model.get_weights()
    model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(model._train_steps) == 1


def test_early_stopping_restores_the_best_weights():
    x, y = _data()
    xv, yv = _data(64, seed=1)
    model = _model()
    snaps = Snapshots()
    losses = []

    class ValLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            losses.append(logs["val_loss"])

    # The learning rate grows each epoch until training diverges; the best epoch must come back.
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.05 * 4 ** epoch)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    model.fit(x, y, validation_data=(xv, yv), epochs=10, batch_size=32, verbose=0,
              callbacks=[schedule, snaps, ValLoss(), stop])
    best = int(np.argmin(losses))
    assert len(losses) < 10 and best < len(losses) - 1
    for a, b in zip(model.get_weights(), snaps.weights[best]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_writes_only_on_improvement(tmp_path):
    x, y = _data()
    model = _model()
    path = str(tmp_path / "ckpt_{epoch}.weights.h5")
    losses = []

    class Loss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            losses.append(logs["loss"])

    # lr schedule: good, good, then divergent epochs (no improvement -> no file).
    schedule = keras.callbacks.LearningRateScheduler(lambda e, lr: 0.05 if e < 2 else 3.0)
    ckpt = keras.callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True, save_weights_only=True)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[schedule, Loss(), ckpt])
    improved = [i + 1 for i, l in enumerate(losses) if l == min(losses[:i + 1])]
    assert sorted(os.listdir(tmp_path)) == sorted(f"ckpt_{e}.weights.h5" for e in improved)
    assert len(improved) < 4


def test_terminate_on_nan_stops_training():
    x, y = _data()
    y[5] = np.inf                                    # the loss of the first batch is inf
    model = _model()
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0, shuffle=False,
                        callbacks=[Count(), keras.callbacks.TerminateOnNaN()])
    assert seen == [0] and model.stop_training
    assert len(history.history.get("loss", [])) <= 1


def test_class_weight_and_sample_weight_scale_the_loss():
    x, y = _data(64)
    cls = (x[:, 0] > 0).astype(np.int32)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    plain = m.evaluate(x, cls, verbose=0)
    doubled = m.evaluate(x, cls, sample_weight=np.full(64, 2.0, np.float32), verbose=0)
    np.testing.assert_allclose(doubled, 2 * plain, rtol=1e-5)
    with pytest.raises(ValueError, match="`class_weight` must contain all classes"):
        m.fit(x, cls, class_weight={0: 1.0}, verbose=0)
    m.fit(x, cls, class_weight={0: 1.0, 1: 3.0}, epochs=1, verbose=0)


def test_validation_freq_initial_epoch_and_predict_hooks():
    x, y = _data()
    model = _model()
    h = model.fit(x, y, validation_data=(x[:32], y[:32]), epochs=5, initial_epoch=1, validation_freq=2,
                  batch_size=64, verbose=0)
    assert h.epoch == [1, 2, 3, 4] and len(h.history["val_loss"]) == 2   # epochs 2 and 4 (1-based)
    seen = []
    hook = keras.callbacks.LambdaCallback(
        on_predict_batch_end=lambda b, logs: seen.append((b, logs["outputs"].shape)))
    model.predict(x[:70], batch_size=32, verbose=0, callbacks=[hook])
    assert seen == [(0, (32, 1)), (1, (32, 1)), (2, (6, 1))]

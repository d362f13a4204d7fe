"""Callbacks: hook order, the defaults fit adds, and each callback's behaviour.

The callbacks run under a small stand-in for the trainer (:func:`simulate_fit`)
that follows Keras' protocol, on a fake model implementing exactly the contract
the callbacks rely on. Where Keras has the same callback, the same scenario runs
through Keras' own class too and the outcomes must match.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import horn as keras_horn
from frontend.callbacks import (BackupAndRestore, Callback, CallbackList, CSVLogger, EarlyStopping,
                                History, LambdaCallback, LearningRateScheduler, ModelCheckpoint,
                                ProgbarLogger, ReduceLROnPlateau, TensorBoard, TerminateOnNaN)
from runtime.progbar import Progbar


# -- the model side of the contract -------------------------------------------------------
class FakeOptimizer:
    def __init__(self, learning_rate: float = 0.1):
        self.learning_rate = learning_rate
        self.iterations = 0


class BareModel:
    """What callbacks may touch: stop_training, optimizer.learning_rate, get/set_weights, save,
    history, metrics, built (no save_weights/load_weights)."""

    def __init__(self):
        self.weights_ = [np.zeros((2, 2), np.float32), np.zeros(3, np.float32)]
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.metrics: list = []
        self.built = True
        self.saved: list[str] = []

    def get_weights(self):
        return [w.copy() for w in self.weights_]

    def set_weights(self, weights):
        self.weights_ = [np.array(w, np.float32) for w in weights]

    def save(self, path, overwrite=True):
        Path(path).write_bytes(b"model")
        self.saved.append(os.path.basename(path))

    def train_step(self):
        """One batch: every weight grows by the learning rate, so weights tell epochs apart."""
        self.weights_ = [w + np.float32(self.optimizer.learning_rate) for w in self.weights_]
        self.optimizer.iterations += 1


class FakeModel(BareModel):
    """Adds Keras' weights-file methods (as saving provides them)."""

    def save_weights(self, path, overwrite=True):
        with open(path, "wb") as f:
            np.savez(f, *self.weights_)
        self.saved.append(os.path.basename(path))

    def load_weights(self, path):
        with np.load(path) as f:
            self.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])


def simulate_fit(model, callbacks, epoch_logs, steps=3, verbose=0, callback_list_cls=CallbackList,
                 batch_loss=None, validation=True, initial_epoch=0):
    """Keras' fit protocol: what the trainer does around the compiled step.

    ``epoch_logs[e]`` are epoch e's logs (training keys and ``val_*`` keys);
    batch logs carry the epoch's training values, or ``batch_loss(e, b)``.
    """
    cbs = callback_list_cls(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                            verbose=verbose, epochs=len(epoch_logs), steps=steps)
    model.stop_training = False
    cbs.on_train_begin()
    start = getattr(cbs, "initial_epoch_override", None)
    if start is None:
        start = getattr(model, "_initial_epoch", None) or initial_epoch
    logs = None
    for epoch in range(start, len(epoch_logs)):
        cbs.on_epoch_begin(epoch)
        train = {k: v for k, v in epoch_logs[epoch].items() if not k.startswith("val_")}
        for b in range(steps):
            cbs.on_train_batch_begin(b)
            model.train_step()
            blogs = dict(train)
            if batch_loss is not None:
                blogs["loss"] = batch_loss(epoch, b)
            cbs.on_train_batch_end(b, blogs)
            if model.stop_training:
                break
        logs = dict(epoch_logs[epoch])
        if validation and any(k.startswith("val_") for k in logs):
            cbs.on_test_begin()
            for b in range(2):
                cbs.on_test_batch_begin(b)
                cbs.on_test_batch_end(b, {k[4:]: v for k, v in logs.items() if k.startswith("val_")})
            cbs.on_test_end({k[4:]: v for k, v in logs.items() if k.startswith("val_")})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history


@pytest.fixture(scope="module")
def kcb():
    """Real Keras' callbacks module (numpy backend), for parity runs."""
    keras = pytest.importorskip("keras")
    return keras.callbacks


def _val_losses(values, **extra):
    return [{"loss": 1.0 / (i + 1), "val_loss": v, **{k: vs[i] for k, vs in extra.items()}}
            for i, v in enumerate(values)]


# -- Callback and CallbackList -------------------------------------------------------------
class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def wrapped(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)
            return wrapped
        return attr


def test_hooks_run_in_keras_order_and_batch_aliases_fire():
    rec = Recorder()
    model = FakeModel()
    simulate_fit(model, [rec], _val_losses([0.5]), steps=1)
    assert rec.calls == ["on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_batch_begin",
                         "on_train_batch_end", "on_batch_end", "on_test_begin", "on_test_batch_begin",
                         "on_test_batch_end", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                         "on_epoch_end", "on_train_end"]
    assert rec.model is model and rec.params == {"verbose": 0, "epochs": 1, "steps": 1}


def test_callback_list_adds_history_and_progbar_once_and_normalises_logs():
    model = FakeModel()
    mine = History()
    cbs = CallbackList([[mine]], add_history=True, add_progbar=True, model=model, verbose=1, epochs=1,
                       steps=1)
    assert [type(c) for c in cbs.callbacks] == [History, ProgbarLogger]
    assert model.history is mine and cbs.callbacks[1].params["steps"] == 1
    seen = {}
    cbs.append(LambdaCallback(on_epoch_end=lambda e, logs: seen.update(logs)))
    cbs.on_epoch_end(0, {"loss": np.float32(0.5), "acc": np.array(1.0), "out": {"b_loss": 2},
                         "per_class": np.arange(2)})
    assert list(seen) == ["acc", "loss", "b_loss", "per_class"]  # Keras: sorted, nested dicts inline
    assert type(seen["loss"]) is float and type(seen["acc"]) is float and seen["b_loss"] == 2.0
    with pytest.raises(TypeError, match="Expected `keras.callbacks.Callback` instances.*Received: 3"):
        CallbackList([3])


def test_history_records_every_epoch_and_is_model_history():
    model = FakeModel()
    hist = simulate_fit(model, [], _val_losses([0.5, 0.4]))
    assert isinstance(hist, History) and model.history is hist
    assert hist.epoch == [0, 1]
    assert hist.history == {"loss": [1.0, 0.5], "val_loss": [0.5, 0.4]}
    assert keras_horn.callbacks.History is History


# -- progress bar --------------------------------------------------------------------------
def _normalise_times(text: str) -> str:
    text = re.sub(r"- \d+s -", "- Ts -", text)
    text = re.sub(r" \d+s ", " Ts ", text)
    return re.sub(r"\d+(us|ms|s)/step", "T/step", text)


def test_progbar_logger_verbose_2_matches_keras(capsys, kcb):
    logs = [{"accuracy": 0.5, "loss": 0.25, "val_accuracy": 0.75, "val_loss": 0.125},
            {"accuracy": 0.9, "loss": 0.0001, "val_accuracy": 0.8, "val_loss": 0.2}]
    simulate_fit(FakeModel(), [], logs, steps=3, verbose=2)
    mine = capsys.readouterr().out
    simulate_fit(FakeModel(), [], logs, steps=3, verbose=2, callback_list_cls=kcb.CallbackList)
    theirs = capsys.readouterr().out
    assert _normalise_times(mine) == _normalise_times(theirs)
    assert re.fullmatch(r"Epoch 1/2\n3/3 - \d+s - \d+(us|ms|s)/step - accuracy: 0.5000 - loss: 0.2500 - "
                        r"val_accuracy: 0.7500 - val_loss: 0.1250\nEpoch 2/2\n.*loss: 1.0000e-04 .*\n", mine,
                        re.S)


def test_progbar_logger_verbose_1_prints_one_final_line_per_epoch_off_a_terminal(capsys):
    simulate_fit(FakeModel(), [], [{"accuracy": 0.5, "loss": 0.25}], steps=4, verbose=1)
    out = capsys.readouterr().out
    assert re.fullmatch(r"4/4 ━{20} \d+s \d+(us|ms|s)/step - accuracy: 0.5000 - loss: 0.2500\n", out), out


def test_progbar_redraws_in_place_with_eta_and_metrics_on_a_terminal(capsys, monkeypatch):
    bar = Progbar(10, verbose=1, interval=0.0, stateless_metrics=set())
    bar._dynamic = True
    bar.update(1, [("loss", 2.0)])
    bar.update(2, [("loss", 1.0)])
    bar.update(10, [("loss", 0.5)], finalize=True)
    out = capsys.readouterr().out
    frames = out.split("\r")[1:]
    assert len(frames) == 3 and out.endswith("\n") and out.count("\n") == 1
    assert re.match(r" 2/10 ━{4}━{16} \d+s \d+(us|ms|s)/step - loss: 1.0000", frames[1])  # ETA, then rate
    assert frames[2].startswith("10/10 ━━━━━━━━━━━━━━━━━━━━ ") and "loss: 0.5000" in frames[2]


def test_progbar_averages_stateless_metrics_and_handles_unknown_target(capsys):
    bar = Progbar(None, verbose=2)  # Keras' default: every metric averaged over steps
    bar.update(1, [("loss", 1.0)])
    bar.update(3, [("loss", 4.0)])  # two steps at 4.0: (1 + 8) / 3
    assert bar._values["loss"] == [9.0, 3]
    bar.update(3, [("loss", 3.0)], finalize=True)
    assert re.fullmatch(r"3/Unknown - \d+s - \d+(us|ms|s)/step - loss: 3.0000\n", capsys.readouterr().out)
    with pytest.raises(ValueError, match="Only one of"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


# -- EarlyStopping ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, values", [
    (dict(patience=2, restore_best_weights=True), [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]),
    (dict(patience=1, min_delta=0.2, restore_best_weights=True), [1.0, 0.9, 0.5, 0.45, 0.4, 0.3]),
    (dict(patience=1, baseline=0.3), [1.0, 0.5, 0.4, 0.35, 0.2, 0.1]),
    (dict(patience=0, start_from_epoch=3, restore_best_weights=True), [1.0, 2.0, 3.0, 0.5, 0.9, 0.1]),
    (dict(monitor="val_accuracy", mode="max", patience=1, restore_best_weights=True),
     [0.1, 0.2, 0.3, 0.2, 0.1, 0.0]),
    (dict(monitor="val_loss", mode="max", patience=1), [0.1, 0.2, 0.1, 0.0, 0.0, 0.0]),
])
def test_early_stopping_matches_keras(kwargs, values, kcb):
    logs = _val_losses(values, val_accuracy=values)
    outcomes = []
    for cls in (EarlyStopping, kcb.EarlyStopping):
        model = FakeModel()
        cb = cls(**kwargs)
        hist = simulate_fit(model, [cb], logs)
        outcomes.append((hist.epoch, cb.stopped_epoch, cb.best, model.get_weights()))
    assert outcomes[0][:3] == outcomes[1][:3]
    for a, b in zip(outcomes[0][3], outcomes[1][3]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_restores_the_best_epochs_weights():
    model = FakeModel()
    cb = EarlyStopping(patience=2, restore_best_weights=True)
    hist = simulate_fit(model, [cb], _val_losses([1.0, 0.5, 0.6, 0.7, 0.8]), steps=3)
    assert hist.epoch == [0, 1, 2, 3] and cb.stopped_epoch == 3 and cb.best_epoch == 1
    # lr 0.1 x 3 batches per epoch: the end of epoch 1 (the best) had weights 0.6.
    np.testing.assert_allclose(model.get_weights()[1], np.full(3, 0.6), rtol=1e-6)


def test_monitor_direction_comes_from_metric_objects_then_names():
    class Metric:
        def __init__(self, name, direction):
            self.name, self._direction = name, direction

    class Container:
        metrics = [Metric("custom_score", "up")]

    model = FakeModel()
    model.metrics = [Container()]
    cb = EarlyStopping(monitor="val_custom_score")
    cb.set_model(model)
    cb._set_monitor_op()
    assert cb._is_improvement(2.0, 1.0) and not cb._is_improvement(0.5, 1.0)
    cb = EarlyStopping(monitor="val_accuracy")  # Keras' built-in metric names know their direction
    cb.set_model(FakeModel())
    cb._set_monitor_op()
    assert cb._is_improvement(0.9, 0.8) and cb.min_delta == 0
    cb = ReduceLROnPlateau(monitor="val_loss", min_delta=0.1)
    cb.set_model(FakeModel())
    cb._set_monitor_op()
    assert cb.min_delta == -0.1 and cb._is_improvement(0.85, 1.0) and not cb._is_improvement(0.95, 1.0)
    cb = EarlyStopping(monitor="val_mystery")
    cb.set_model(FakeModel())
    with pytest.raises(ValueError, match="monitor=val_mystery.*Pass `mode='max'`"):
        cb._set_monitor_op()
    with pytest.warns(UserWarning, match="mode 'sideways' is unknown"):
        assert EarlyStopping(mode="sideways").mode == "auto"


def test_early_stopping_warns_when_monitor_is_missing():
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available. Available metrics are: loss"):
        simulate_fit(FakeModel(), [EarlyStopping()], [{"loss": 1.0}], validation=False)


# -- ModelCheckpoint -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(filepath="m_{epoch:02d}_{val_loss:.2f}.keras", save_best_only=True),
    dict(filepath="m_{epoch}.keras"),
    dict(filepath="w_{epoch}.weights.h5", save_weights_only=True, save_best_only=True, mode="max",
         monitor="val_accuracy"),
    dict(filepath="m_{epoch}_{batch}.keras", save_freq=2),
    dict(filepath="best.keras", save_best_only=True, initial_value_threshold=0.45),
])
def test_model_checkpoint_matches_keras(kwargs, tmp_path, kcb):
    values = [0.5, 0.4, 0.6, 0.3]
    logs = _val_losses(values, val_accuracy=[0.1, 0.3, 0.2, 0.4])
    saved = []
    for cls in (ModelCheckpoint, kcb.ModelCheckpoint):
        model = FakeModel()
        kw = dict(kwargs, filepath=str(tmp_path / cls.__module__ / kwargs["filepath"]))
        simulate_fit(model, [cls(**kw)], logs)
        saved.append(model.saved)
    assert saved[0] == saved[1]


def test_model_checkpoint_writes_only_on_improvement(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(str(tmp_path / "ck" / "m_{epoch:02d}_{val_loss:.2f}.keras"), save_best_only=True,
                         verbose=0)
    simulate_fit(model, [cb], _val_losses([0.5, 0.4, 0.6, 0.3]))
    assert model.saved == ["m_01_0.50.keras", "m_02_0.40.keras", "m_04_0.30.keras"]
    assert sorted(os.listdir(tmp_path / "ck")) == model.saved and cb.best == 0.3


def test_model_checkpoint_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="must end in `.weights.h5`"):
        ModelCheckpoint("w.keras", save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `.keras`.*filepath=m.txt"):
        ModelCheckpoint("m.txt")
    with pytest.raises(ValueError, match="Unrecognized save_freq: often"):
        ModelCheckpoint("m.keras", save_freq="often")
    cb = ModelCheckpoint(str(tmp_path / "m_{val_acc}.keras"))
    with pytest.raises(KeyError, match=r"Failed to format this callback filepath.*Reason: .*val_acc"):
        simulate_fit(FakeModel(), [cb], _val_losses([0.5]))


# -- CSVLogger ----------------------------------------------------------------------------
@pytest.mark.parametrize("separator, append", [(",", False), (";", True)])
def test_csv_logger_writes_what_keras_writes(separator, append, tmp_path, kcb):
    texts = []
    for cls in (CSVLogger, kcb.CSVLogger):
        path = tmp_path / f"{cls.__module__}.csv"
        for run in range(2 if append else 1):
            logs = [{"loss": 0.5 - run / 10, "accuracy": 0.75}, {"loss": 0.25, "accuracy": np.float32(0.8)}]
            simulate_fit(FakeModel(), [cls(str(path), separator=separator, append=append)], logs)
        texts.append(path.read_text())
    assert texts[0] == texts[1]
    lines = texts[0].splitlines()
    assert lines[0] == separator.join(["epoch", "accuracy", "loss", "val_accuracy", "val_loss"])
    assert lines[1] == separator.join(["0", "0.75", "0.5", "NA", "NA"])
    assert len(lines) == (5 if append else 3)  # appending keeps one header


# -- learning rate callbacks --------------------------------------------------------------
def test_learning_rate_scheduler_sets_lr_and_logs_it(kcb):
    def schedule(epoch, lr):
        return lr if epoch < 2 else lr * 0.5

    results = []
    for cls in (LearningRateScheduler, kcb.LearningRateScheduler):
        model = FakeModel()
        seen = []
        spy = LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(model.optimizer.learning_rate))
        hist = simulate_fit(model, [cls(schedule), spy], [{"loss": 1.0}] * 4)
        results.append((seen, hist.history["learning_rate"]))
    assert results[0] == results[1] == ([0.1, 0.1, 0.05, 0.025], [0.1, 0.1, 0.05, 0.025])
    old_api = FakeModel()
    simulate_fit(old_api, [LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], [{"loss": 1.0}] * 2)
    assert old_api.optimizer.learning_rate == 0.02
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        simulate_fit(FakeModel(), [LearningRateScheduler(lambda e, lr: 1)], [{"loss": 1.0}])


@pytest.mark.parametrize("kwargs, values", [
    (dict(patience=1, factor=0.5), [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]),
    (dict(patience=1, factor=0.5, cooldown=2), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    (dict(patience=2, factor=0.1, min_lr=0.005), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    (dict(patience=1, factor=0.5, min_delta=0.2), [1.0, 0.9, 0.5, 0.45, 0.4, 0.1, 0.1]),
])
def test_reduce_lr_on_plateau_matches_keras(kwargs, values, kcb):
    trajectories = []
    for cls in (ReduceLROnPlateau, kcb.ReduceLROnPlateau):
        model = FakeModel()
        hist = simulate_fit(model, [cls(**kwargs)], _val_losses(values))
        trajectories.append(hist.history["learning_rate"] + [model.optimizer.learning_rate])
    np.testing.assert_allclose(trajectories[0], trajectories[1], rtol=1e-12)
    assert trajectories[0][-1] < 0.1


def test_reduce_lr_on_plateau_rejects_factor_of_one():
    with pytest.raises(ValueError, match="does not support a factor >= 1.0. Received factor=1.0"):
        ReduceLROnPlateau(factor=1.0)


# -- TerminateOnNaN and LambdaCallback ------------------------------------------------------
def test_terminate_on_nan_stops_at_the_first_nan_batch(capsys):
    model = FakeModel()
    batches = []
    spy = LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    hist = simulate_fit(model, [TerminateOnNaN(), spy], [{"loss": 1.0}] * 3, steps=4,
                        batch_loss=lambda e, b: float("nan") if (e, b) == (1, 2) else 1.0)
    assert model.stop_training and hist.epoch == [0, 1] and batches == [0, 1, 2, 3, 0, 1, 2]
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0. Loss value: inf"):
        simulate_fit(FakeModel(), [TerminateOnNaN(raise_error=True)], [{"loss": 1.0}],
                     batch_loss=lambda e, b: math.inf)


def test_lambda_callback_calls_given_functions_and_extra_hooks():
    events = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                        on_epoch_end=lambda e, logs: events.append(("epoch", e, logs["loss"])),
                        on_test_end=lambda logs: events.append(("test", logs["loss"])),
                        on_train_end=lambda logs: events.append("end"))
    simulate_fit(FakeModel(), [cb], _val_losses([0.5]))
    assert events == ["begin", ("test", 0.5), ("epoch", 0, 1.0), "end"]


# -- BackupAndRestore -----------------------------------------------------------------------
class Crash(Callback):
    def __init__(self, at_epoch: int, at_batch: int | None = None):
        super().__init__()
        self.at_epoch, self.at_batch = at_epoch, at_batch

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == self.at_epoch and batch == self.at_batch:
            raise KeyboardInterrupt("power cut")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if epoch == self.at_epoch and self.at_batch is None:
            raise KeyboardInterrupt("power cut")


@pytest.mark.parametrize("keras_weights", [True, False])
def test_backup_and_restore_resumes_at_the_next_epoch(tmp_path, keras_weights):
    backup = tmp_path / "backup"
    logs = [{"loss": 1.0}] * 5
    make = FakeModel if keras_weights else BareModel
    first = make()
    with pytest.raises(KeyboardInterrupt):
        simulate_fit(first, [BackupAndRestore(backup), Crash(at_epoch=2)], logs)
    name = "latest.weights.h5" if keras_weights else "latest.weights.npz"
    assert sorted(os.listdir(backup)) == sorted([name, "training_metadata.json"])
    assert json.loads((backup / "training_metadata.json").read_text()) == {"epoch": 2, "batch": 0}
    # A fresh process: new model, same backup_dir. Epochs 0-1 were backed up (3 batches x 0.1 each).
    second = make()
    epochs_run = []
    cb = BackupAndRestore(backup)
    spy = LambdaCallback(on_epoch_begin=lambda e, l: epochs_run.append(e),
                         on_train_begin=lambda l: epochs_run.append(second.get_weights()[1][0]))
    cbs_seen = {}

    class Peek(CallbackList):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            cbs_seen["override"] = self.initial_epoch_override

    simulate_fit(second, [cb, spy], logs, callback_list_cls=Peek)
    assert cbs_seen["override"] == 2 and cb.resume_epoch == 2
    assert epochs_run[0] == pytest.approx(0.6) and epochs_run[1:] == [2, 3, 4]
    assert not backup.exists()  # delete_checkpoint after a finished run


def test_backup_mid_epoch_resumes_that_epoch_and_falls_back_to_previous_copy(tmp_path):
    backup = tmp_path / "b"
    logs = [{"loss": 1.0}] * 4
    with pytest.raises(KeyboardInterrupt):
        simulate_fit(FakeModel(), [BackupAndRestore(backup, save_freq=2, double_checkpoint=True,
                                                    delete_checkpoint=False), Crash(at_epoch=1, at_batch=2)],
                     logs, steps=3)
    # Saves at global batches 2, 4 and 6 (epoch 1, batch 2, just before the crash).
    assert json.loads((backup / "training_metadata.json").read_text()) == {"epoch": 1, "batch": 2}
    assert json.loads((backup / "training_metadata.json.bkp").read_text()) == {"epoch": 1, "batch": 0}
    (backup / "latest.weights.h5").write_bytes(b"truncated")  # damaged latest copy
    model = FakeModel()

    def load_weights(path):
        if Path(path).read_bytes() == b"truncated":
            raise OSError("Unable to open file (truncated file)")
        FakeModel.load_weights(model, path)

    model.load_weights = load_weights
    cb = BackupAndRestore(backup, delete_checkpoint=False)
    cb.set_model(model)
    cb.on_train_begin()
    assert cb.resume_epoch == 1  # resuming restarts the interrupted epoch
    # The previous copy, from global batch 4: 4 steps of 0.1.
    np.testing.assert_allclose(model.get_weights()[0], np.full((2, 2), 0.4), rtol=1e-6)


def test_backup_and_restore_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="Received: save_freq=often"):
        BackupAndRestore("d", save_freq="often")
    model = FakeModel()
    model.built = False
    cb = BackupAndRestore("unused")
    cb.set_model(model)
    with pytest.raises(ValueError, match="model must be built before you call `fit\\(\\)`"):
        cb.on_train_begin()


# -- TensorBoard -------------------------------------------------------------------------------
_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecords(path: Path) -> list[bytes]:
    """TFRecord framing: length, masked crc32c of the length, data, masked crc32c of the data."""
    records, data = [], path.read_bytes()
    pos = 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if _masked(crc32c(header)) != len_crc:
            raise ValueError(f"bad length crc at byte {pos}")
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if _masked(crc32c(body)) != body_crc:
            raise ValueError(f"bad data crc at byte {pos}")
        records.append(body)
        pos += 16 + length
    return records


def read_scalars(folder: Path, histograms: dict | None = None) -> dict[str, list[tuple[int, float]]]:
    """Scalars by tag as (step, value); histogram tags go to ``histograms`` as (step, count)."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    out: dict[str, list[tuple[int, float]]] = {}
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for f in files:
        records = read_tfrecords(f)
        first = event_pb2.Event.FromString(records[0])
        assert first.file_version == "brain.Event:2"
        for rec in records[1:]:
            ev = event_pb2.Event.FromString(rec)
            for v in ev.summary.value:
                if v.HasField("simple_value"):
                    out.setdefault(v.tag, []).append((ev.step, v.simple_value))
                elif v.HasField("histo") and histograms is not None:
                    histograms.setdefault(v.tag, []).append((ev.step, v.histo.num))
    return out


def test_crc32c_reader_is_right_and_catches_damage(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    body = b"hello"
    header = struct.pack("<Q", len(body))
    rec = (header + struct.pack("<I", _masked(crc32c(header)))
           + body + struct.pack("<I", _masked(crc32c(body))))
    (tmp_path / "r").write_bytes(rec)
    assert read_tfrecords(tmp_path / "r") == [b"hello"]
    (tmp_path / "r").write_bytes(rec.replace(b"hello", b"jello"))
    with pytest.raises(ValueError, match="bad data crc"):
        read_tfrecords(tmp_path / "r")


def test_tensorboard_writes_scalars_tensorboard_can_read(tmp_path):
    pytest.importorskip("tensorboardX")
    logs = [{"loss": 1.0, "accuracy": 0.5, "val_loss": 2.0, "val_accuracy": 0.25},
            {"loss": 0.5, "accuracy": 0.75, "val_loss": 1.5, "val_accuracy": 0.5}]
    model = FakeModel()
    cb = TensorBoard(log_dir=tmp_path / "logs", update_freq=2, histogram_freq=1)
    model.weights = [type("W", (), {"path": "dense/kernel", "__array__": lambda s, *a, **k: np.ones(3)})()]
    simulate_fit(model, [cb], logs, steps=3, batch_loss=lambda e, b: 10.0 * e + b)
    histograms: dict = {}
    train = read_scalars(tmp_path / "logs" / "train", histograms)
    val = read_scalars(tmp_path / "logs" / "validation")
    assert histograms == {"dense/kernel/histogram": [(0, 3), (1, 3)]}
    assert train["epoch_loss"] == [(0, 1.0), (1, 0.5)]
    assert train["epoch_accuracy"] == [(0, 0.5), (1, 0.75)]
    assert train["epoch_learning_rate"] == [(0, pytest.approx(0.1)), (1, pytest.approx(0.1))]
    # Global batches 1..6; every 2nd is written: epoch 0 batch 1, epoch 1 batches 0 and 2.
    assert train["batch_loss"] == [(2, 1.0), (4, 10.0), (6, 12.0)]
    assert val["epoch_loss"] == [(0, 2.0), (1, 1.5)] and val["epoch_accuracy"] == [(0, 0.25), (1, 0.5)]
    assert val["evaluation_loss_vs_iterations"] == [(3, 2.0), (6, 1.5)]
    assert "batch_loss" not in val


def test_tensorboard_epoch_mode_writes_no_batch_scalars_and_rejects_unsupported(tmp_path):
    pytest.importorskip("tensorboardX")
    simulate_fit(FakeModel(), [TensorBoard(str(tmp_path))], [{"loss": 1.0}], validation=False)
    train = read_scalars(tmp_path / "train")
    assert set(train) == {"epoch_loss", "epoch_learning_rate"}
    assert not (tmp_path / "validation").exists()
    with pytest.raises(ValueError, match="Profiling is not available"):
        TensorBoard(profile_batch=2)
    with pytest.raises(ValueError, match="`update_freq` must be 'epoch', 'batch' or a positive integer"):
        TensorBoard(update_freq=0)

"""``keras.callbacks.LearningRateScheduler`` and ``ReduceLROnPlateau``.

Both set ``model.optimizer.learning_rate``; the compiled train step takes the
learning rate as a run-time input, so a change takes effect on the next batch
without recompiling.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from frontend.callbacks.callback import Callback, Logs
from frontend.callbacks.monitor import MonitorCallback


def _current_lr(optimizer) -> float:
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    return float(np.asarray(optimizer.learning_rate))


def _optimizers(model) -> list:
    """Keras' multi-optimizer models expose ``optimizer.optimizers``; a plain one is its own list."""
    opt = model.optimizer
    return list(opt.optimizers) if hasattr(opt, "optimizers") else [opt]


def _log_lrs(model, logs: Logs) -> None:
    opt = model.optimizer
    if hasattr(opt, "optimizers"):
        for o in opt.optimizers:
            logs[f"learning_rate_{o.name}"] = _current_lr(o)
    else:
        logs["learning_rate"] = _current_lr(opt)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to ``schedule(epoch, lr)``.

    ``schedule`` may also take ``epoch`` alone (Keras' old API). It must return a
    float. The epoch's logs gain ``learning_rate``.
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _update(self, optimizer, epoch: int) -> float:
        lr = _current_lr(optimizer)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # the one-argument form
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        optimizer.learning_rate = lr
        return float(lr)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        opt = self.model.optimizer
        for o in _optimizers(self.model):
            lr = self._update(o, epoch)
            if self.verbose > 0:
                which = f"{o.name} " if o is not opt else ""
                print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {which}learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            _log_lrs(self.model, logs)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` stops improving.

    Args:
        monitor: the log key to watch.
        factor: the multiplier (< 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "auto", "min" or "max".
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _reduce(self, optimizer, epoch: int, name: str = "") -> bool:
        old = _current_lr(optimizer)
        if old <= np.float32(self.min_lr):  # compared in float32, the precision the step uses
            return False
        new = max(old * self.factor, self.min_lr)
        optimizer.learning_rate = new
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{' ' + name if name else ''} "
                  f"learning rate to {new}.")
        return True

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        _log_lrs(self.model, logs)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                          f"not available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                opt = self.model.optimizer
                multi = hasattr(opt, "optimizers")
                reduced = [self._reduce(o, epoch, o.name if multi else "") for o in _optimizers(self.model)]
                if any(reduced):
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

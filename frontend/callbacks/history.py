"""``keras.callbacks.History``: what ``fit`` returns."""
from __future__ import annotations

from typing import Any

from frontend.callbacks.callback import Callback, Logs


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is one value per epoch.

    ``fit`` adds one automatically and sets ``model.history`` to it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        # Keras keeps ``history`` across fit calls on the same object but restarts ``epoch``.
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

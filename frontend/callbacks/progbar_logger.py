"""``keras.callbacks.ProgbarLogger``: the progress bar ``fit``, ``evaluate`` and ``predict`` print."""
from __future__ import annotations

import numbers
from typing import Any

from frontend.callbacks.callback import Callback, Logs
from runtime.progbar import Progbar


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a bar per epoch; validation inside ``fit`` stays silent.

    Reads ``params["verbose"]`` (``"auto"`` means 1), ``params["epochs"]`` and
    ``params["steps"]`` (batches per epoch, or None when unknown).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose: int = 1
        self.epochs: int = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = int(params.get("epochs", 1) or 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._called_in_fit = True

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._reset()

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._reset()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, None)  # predictions are arrays, not metrics to print

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finalize(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._finalize(logs)

    def _reset(self) -> None:
        self.seen = 0
        self.progbar = None

    def _bar(self) -> Progbar:
        if self.progbar is None:
            # The trainer's logs are running averages already: show them as they are.
            self.progbar = Progbar(self.target, verbose=self.verbose, stateless_metrics=set(),
                                   unit_name="step")
        return self.progbar

    def _update(self, batch: int, logs: Logs | None) -> None:
        bar = self._bar()
        self.seen = batch + 1
        if self.verbose == 1:
            bar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize(self, logs: Logs | None) -> None:
        bar = self._bar()
        if self.target is None:
            # An unknown-length epoch (a generator) ends where its batches ran out;
            # later epochs then show a full bar, as in Keras.
            self.target = self.seen
            bar.target = self.target
        shown = [(k, v) for k, v in (logs or {}).items() if isinstance(v, numbers.Real)]
        bar.update(self.target, shown, finalize=True)

"""``keras.callbacks.Callback``: the hooks ``fit``, ``evaluate`` and ``predict`` call.

The trainer calls hooks in Keras' order: ``on_train_begin``; per epoch
``on_epoch_begin``, ``on_train_batch_begin/end`` for each batch, validation as
``on_test_begin``, ``on_test_batch_begin/end``, ``on_test_end``, then
``on_epoch_end`` with the epoch's logs (``val_``-prefixed validation keys
included); finally ``on_train_end``. ``evaluate`` and ``predict`` call the
test and predict hooks alone.
"""
from __future__ import annotations

from typing import Any

Logs = dict[str, Any]


class Callback:
    """Base class for callbacks; override the hooks you need.

    Attributes:
        params: dict of training parameters (``verbose``, ``epochs``, ``steps``).
        model: the model being trained, evaluated or run.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] | None = None
        self._model = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self._model = model

    @property
    def model(self):
        return self._model

    # The batch aliases come first: Keras' on_train_batch_* call on_batch_*,
    # so a callback written against the old names still runs.
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Backwards-compatible alias of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Backwards-compatible alias of :meth:`on_train_batch_end`."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Start of epoch ``epoch`` (0-based) in ``fit``."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """End of an epoch; ``logs`` holds the epoch's metrics and ``val_*`` results."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Start of training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """End of a training batch; ``logs`` holds the metrics aggregated over the epoch so far."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Start of a batch in ``evaluate`` or in ``fit``'s validation."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """End of a batch in ``evaluate`` or in ``fit``'s validation."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Start of a batch in ``predict``."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """End of a batch in ``predict``; ``logs`` holds ``outputs``."""

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Start of ``fit``."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """End of ``fit``; ``logs`` holds the last epoch's logs."""

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Start of ``evaluate`` or of ``fit``'s validation."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """End of ``evaluate`` or of ``fit``'s validation; ``logs`` holds the results."""

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Start of ``predict``."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """End of ``predict``."""

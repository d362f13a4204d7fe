"""``keras.callbacks.CallbackList``: one object the trainer calls, which calls every callback."""
from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np

from frontend.callbacks.callback import Callback, Logs
from frontend.callbacks.history import History
from frontend.callbacks.progbar_logger import ProgbarLogger


def pythonify_logs(logs: Logs | None) -> Logs:
    """Keras' log normalisation: nested dicts flattened, scalars made Python floats, keys sorted.

    Sorting is why Keras prints ``accuracy`` before ``loss``; floats let callbacks
    compare and format values without caring whether they came out as numpy scalars.
    Non-scalars (``predict``'s outputs) pass through unchanged.
    """
    result: Logs = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
        elif isinstance(value, numbers.Number) and not isinstance(value, bool):
            result[key] = float(value)
        elif isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiub":
            result[key] = float(value)
        else:
            result[key] = value
    return result


def _flatten(callbacks) -> list:
    out: list = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        else:
            out.append(cb)
    return out


class CallbackList(Callback):
    """Dispatches each hook to every callback, in order.

    Args:
        callbacks: the user's callbacks (nested lists are flattened).
        add_history: append a :class:`History` unless one is present.
        add_progbar: append a :class:`ProgbarLogger` unless one is present.
        model: the model the callbacks see as ``self.model``.
        **params: passed to every callback's ``set_params`` (``verbose``, ``epochs``, ``steps``).

    After :meth:`on_train_begin`, ``initial_epoch_override`` is the epoch ``fit``
    must start from when a callback restored a backup (``BackupAndRestore``),
    else None.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None, add_history: bool = False,
                 add_progbar: bool = False, model=None, **params: Any):
        super().__init__()
        self.callbacks: list[Callback] = _flatten(callbacks) if callbacks else []
        for cb in self.callbacks:
            if not (hasattr(cb, "set_model") and hasattr(cb, "on_epoch_end")):
                raise TypeError(f"Expected `keras.callbacks.Callback` instances in `callbacks`. "
                                f"Received: {cb!r} of type {type(cb).__name__}")
        self.initial_epoch_override: int | None = None
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _call(self, hook: str, *args) -> None:
        # One dict for all callbacks: LearningRateScheduler and ReduceLROnPlateau add
        # ``learning_rate`` to the epoch logs, which History (appended last) records.
        logs = pythonify_logs(args[-1])
        for cb in self.callbacks:
            getattr(cb, hook)(*args[:-1], logs)

    # -- begin / end --------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.initial_epoch_override = None
        self._call("on_train_begin", logs)
        # A restored backup says where training left off; the trainer reads this.
        resumed = [cb.resume_epoch for cb in self.callbacks if getattr(cb, "resume_epoch", None) is not None]
        if resumed:
            self.initial_epoch_override = max(resumed)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._call("on_train_end", logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._call("on_predict_end", logs)

    # -- epochs and batches -------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_batch_begin", batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_batch_end", batch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_predict_batch_end", batch, logs)

"""What EarlyStopping, ModelCheckpoint and ReduceLROnPlateau share: a monitored
value, whether it should go up or down, and what counts as an improvement."""
from __future__ import annotations

import operator
import warnings
from typing import Callable

from frontend.callbacks.callback import Callback

# Directions of Keras' built-in metrics (their ``_direction``), used in mode
# "auto" when the model's metric objects do not say. Losses used as metrics go down.
_UP = frozenset({
    "accuracy", "acc", "auc", "binary_accuracy", "binary_io_u", "categorical_accuracy",
    "concordance_correlation", "cosine_similarity", "f1_score", "fbeta_score", "io_u", "mean_io_u",
    "one_hot_io_u", "one_hot_mean_io_u", "pearson_correlation", "precision", "r2_score", "recall",
    "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
    "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity",
    "specificity_at_sensitivity",
})
_DOWN = frozenset({
    "loss", "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber", "kl_divergence",
    "log_cosh", "logcosh", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "poisson", "root_mean_squared_error",
    "sparse_categorical_crossentropy", "squared_hinge", "mae", "mse", "mape", "msle",
})


def _model_metrics(model) -> list:
    """The model's metric objects, looking inside containers that hold a ``metrics`` list."""
    found: list = []
    stack = list(getattr(model, "metrics", None) or [])
    while stack:
        m = stack.pop(0)
        inner = getattr(m, "metrics", None)
        if isinstance(inner, (list, tuple)) and inner is not m:
            stack.extend(inner)
        found.append(m)
    return found


class MonitorCallback(Callback):
    """Base class of callbacks that watch ``logs[monitor]`` for improvements.

    In mode "auto" the direction comes from the metric named ``monitor`` (minus
    any ``val_`` prefix): a loss goes down; a metric object with ``_direction``
    "up"/"down" says so itself; else Keras' built-in metric names decide.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable[[float, float], bool] | None = None

    def _direction(self) -> str | None:
        name = self.monitor.removeprefix("val_")
        if name == "loss" or name.endswith("_loss"):
            return "down"
        for m in _model_metrics(self.model):
            if getattr(m, "name", None) == name and getattr(m, "_direction", None) in ("up", "down"):
                return m._direction
        if name in _UP:
            return "up"
        if name in _DOWN:
            return "down"
        return None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            direction = "down"
        elif self.mode == "max":
            direction = "up"
        else:
            direction = self._direction()
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but Horn isn't "
                    "able to automatically determine whether that metric should be maximized or "
                    "minimized. Pass `mode='max'` in order to monitor based on the highest metric "
                    "value, or pass `mode='min'` in order to use the lowest value.")
        if direction == "down":
            self.monitor_op = operator.lt
            self.min_delta = -abs(self.min_delta)
        else:
            self.monitor_op = operator.gt
            self.min_delta = abs(self.min_delta)

    def _is_improvement(self, monitor_value: float, reference_value: float | None) -> bool:
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))

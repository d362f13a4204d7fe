"""Regression metrics: MSE, MAE, MAPE, MSLE, RMSE, cosine similarity, log-cosh error.

All but RMSE are the running mean of the matching loss function; RMSE is the
square root of the running mean of squared errors (not a mean of per-batch roots).
"""
from __future__ import annotations

from frontend import ops
from frontend.losses.loss import squeeze_or_expand_to_same_rank
from frontend.losses.regression import (log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                                        mean_squared_error, mean_squared_logarithmic_error)
from frontend.metrics.reduction import Mean, MeanMetricWrapper, Tensor


def cosine_similarity(y_true: Tensor, y_pred: Tensor, axis: int = -1) -> Tensor:
    """The cosine of the angle between ``y_true`` and ``y_pred`` (the metric's sign: +1 = aligned)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred))
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.sum(ops.multiply(ops.normalize(y_true, axis=axis), ops.normalize(y_pred, axis=axis)),
                   axis=axis)


class _NamedMean(MeanMetricWrapper):
    """A MeanMetricWrapper whose config is just ``name`` and ``dtype``."""

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


class MeanSquaredError(_NamedMean):
    """Running mean of ``mean(square(y_true - y_pred), axis=-1)``."""

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(fn=mean_squared_error, name=name, dtype=dtype)
        self._direction = "down"


class MeanAbsoluteError(_NamedMean):
    """Running mean of ``mean(abs(y_true - y_pred), axis=-1)``."""

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype=dtype)
        self._direction = "down"


class MeanAbsolutePercentageError(_NamedMean):
    """Running mean of the absolute percentage error."""

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name, dtype=dtype)
        self._direction = "down"


class MeanSquaredLogarithmicError(_NamedMean):
    """Running mean of the squared logarithmic error."""

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name, dtype=dtype)
        self._direction = "down"


class LogCoshError(_NamedMean):
    """Running mean of ``log(cosh(y_pred - y_true))``."""

    def __init__(self, name: str = "logcosh", dtype=None):
        super().__init__(log_cosh, name, dtype=dtype)
        self._direction = "down"


class CosineSimilarity(MeanMetricWrapper):
    """Running mean of the cosine similarity of labels and predictions."""

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1):
        super().__init__(cosine_similarity, name, dtype=dtype, axis=axis)
        self.axis = axis
        self._direction = "up"

    def get_config(self) -> dict:
        # Keras leaves `axis` out (so its round trip loses it); Keras' __init__ accepts it.
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class RootMeanSquaredError(Mean):
    """``sqrt`` of the running (weighted) mean of squared errors."""

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        y_true = ops.convert_to_tensor(y_true, self.dtype)
        y_pred = ops.convert_to_tensor(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        super().update_state(ops.square(ops.subtract(y_pred, y_true)), sample_weight=sample_weight)

    def result(self) -> Tensor:
        return ops.sqrt(super().result())

"""Regression losses: squared, absolute, percentage and squared-log errors,
cosine similarity, Huber and log-cosh, in function and class form.

Each function returns one value per sample (the mean over the last axis),
with Keras 3's formulas and its ``epsilon()`` guards.
"""
from __future__ import annotations

import math

import numpy as np

from frontend import ops
from frontend.backend import epsilon
from frontend.losses.loss import Loss, LossFunctionWrapper, Tensor, squeeze_or_expand_to_same_rank


def _pair(y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    """``y_true`` in ``y_pred``'s dtype, both brought to one rank."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred))
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def _const(value: float, like: Tensor) -> np.ndarray:
    return np.asarray(value, dtype=ops.dtype(like))


def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_percentage_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = ops.abs(ops.divide(ops.subtract(y_true, y_pred),
                              ops.maximum(ops.abs(y_true), _const(epsilon(), y_pred))))
    return ops.multiply(100.0, ops.mean(diff, axis=-1))


def mean_squared_logarithmic_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    eps = _const(epsilon(), y_pred)
    first = ops.log(ops.add(ops.maximum(y_pred, eps), 1.0))
    second = ops.log(ops.add(ops.maximum(y_true, eps), 1.0))
    return ops.mean(ops.square(ops.subtract(first, second)), axis=-1)


def cosine_similarity(y_true: Tensor, y_pred: Tensor, axis: int = -1) -> Tensor:
    """Minus the cosine of the angle between ``y_true`` and ``y_pred`` along ``axis``.

    L2-normalizes with ``ops.normalize`` (``x * min(rsqrt(sum(x**2)), 1/eps)``,
    Keras' backend-tensor path); Keras' numpy path divides by the norm with
    0 -> 1, which agrees except for norms below 1e-7.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    y_pred = ops.normalize(y_pred, axis=axis)
    y_true = ops.normalize(y_true, axis=axis)
    return ops.negative(ops.sum(ops.multiply(y_true, y_pred), axis=axis))


def huber(y_true: Tensor, y_pred: Tensor, delta: float = 1.0) -> Tensor:
    """Quadratic for ``|error| <= delta``, linear beyond: ``mean`` over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    d = _const(delta, y_pred)
    error = ops.subtract(y_pred, y_true)
    abs_error = ops.abs(error)
    quadratic = ops.multiply(0.5, ops.square(error))
    linear = ops.subtract(ops.multiply(d, abs_error), 0.5 * float(d) ** 2)
    return ops.mean(ops.where(ops.less_equal(abs_error, d), quadratic, linear), axis=-1)


def log_cosh(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(log(cosh(y_pred - y_true)))`` as ``x + softplus(-2x) - log(2)`` (no overflow)."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = ops.subtract(y_pred, y_true)
    log_cosh_x = ops.subtract(ops.add(x, ops.softplus(ops.multiply(x, -2.0))), _const(math.log(2.0), x))
    return ops.mean(log_cosh_x, axis=-1)


# -- class forms ----------------------------------------------------------------------------------
class MeanSquaredError(LossFunctionWrapper):
    """Mean of squares of errors between labels and predictions."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "mean_squared_error",
                 dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors between labels and predictions."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "mean_absolute_error",
                 dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute error relative to the labels, in percent."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared difference of ``log(1 + x)`` of labels and predictions."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity: -1 for aligned vectors, 1 for opposite ones."""

    def __init__(self, axis: int = -1, reduction: str | None = "sum_over_batch_size",
                 name: str = "cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self) -> dict:
        # Keras leaves `axis` out (so its round trip loses it); Keras' __init__ accepts it.
        return {**Loss.get_config(self), "axis": self.axis}


class Huber(LossFunctionWrapper):
    """Huber loss: squared error near zero, absolute error beyond ``delta``."""

    def __init__(self, delta: float = 1.0, reduction: str | None = "sum_over_batch_size",
                 name: str = "huber_loss", dtype=None):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)
        self.delta = delta

    def get_config(self) -> dict:
        # Keras leaves `delta` out (so its round trip loses it); Keras' __init__ accepts it.
        return {**Loss.get_config(self), "delta": self.delta}


class LogCosh(LossFunctionWrapper):
    """Logarithm of the hyperbolic cosine of the error."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "log_cosh", dtype=None):
        super().__init__(log_cosh, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)

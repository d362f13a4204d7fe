"""Hinge losses (maximum-margin): hinge, squared hinge and categorical hinge.

``hinge`` and ``squared_hinge`` take labels in {-1, 1}; labels given as
{0, 1} are mapped to {-1, 1} first when every label is 0 or 1. Keras decides
with ``ops.cond`` on that fact; here it is a ``where`` on the same scalar, which
picks the same branch and traces into a graph without control flow.
"""
from __future__ import annotations

from frontend import ops
from frontend.losses.loss import Loss, LossFunctionWrapper, Tensor


def convert_binary_labels_to_hinge(y_true: Tensor) -> Tensor:
    """``2 * y - 1`` when all labels are 0 or 1, else the labels unchanged."""
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0), ops.equal(y_true, 1)))
    return ops.where(is_binary, ops.subtract(ops.multiply(2.0, y_true), 1.0), y_true)


def _margins(y_true: Tensor, y_pred: Tensor) -> Tensor:
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = convert_binary_labels_to_hinge(ops.cast(y_true, ops.dtype(y_pred)))
    return ops.maximum(ops.subtract(1.0, ops.multiply(y_true, y_pred)), 0.0)


def hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``."""
    return ops.mean(_margins(y_true, y_pred), axis=-1)


def squared_hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``."""
    return ops.mean(ops.square(_margins(y_true, y_pred)), axis=-1)


def categorical_hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` for one-hot labels."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), 1.0), 0.0)


class Hinge(LossFunctionWrapper):
    """Hinge loss ``maximum(1 - y_true * y_pred, 0)``."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "hinge", dtype=None):
        super().__init__(hinge, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)


class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss ``square(maximum(1 - y_true * y_pred, 0))``."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "squared_hinge",
                 dtype=None):
        super().__init__(squared_hinge, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)


class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge: the best wrong class must trail the true one by a margin of 1."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "categorical_hinge",
                 dtype=None):
        super().__init__(categorical_hinge, name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict:
        return Loss.get_config(self)

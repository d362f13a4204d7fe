"""Accuracy metrics: exact match, binary, categorical, sparse categorical, and
top-k (dense and sparse labels), each the mean of a per-sample 0/1 function.

Top-k has no sort: ``ops.in_top_k`` counts the predictions strictly greater
than the true class's, which is Keras' own rule (a true class tied with the
k-th largest prediction counts as a hit).
"""
from __future__ import annotations

from frontend import ops
from frontend.backend import floatx
from frontend.losses.loss import squeeze_or_expand_to_same_rank
from frontend.metrics.reduction import MeanMetricWrapper, Tensor


def accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where ``y_true == y_pred``, else 0.0."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred))
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.cast(ops.equal(y_true, y_pred), floatx())


def binary_accuracy(y_true: Tensor, y_pred: Tensor, threshold: float = 0.5) -> Tensor:
    """1.0 where ``(y_pred > threshold) == y_true``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = ops.cast(ops.greater(y_pred, threshold), ops.dtype(y_true))
    return ops.cast(ops.equal(y_true, y_pred), floatx())


def _matches(y_true: Tensor, y_pred_classes: Tensor) -> Tensor:
    return ops.cast(ops.equal(y_true, ops.cast(y_pred_classes, ops.dtype(y_true))), floatx())


def categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where the arg-max of ``y_pred`` is the arg-max of one-hot ``y_true``."""
    y_true = ops.argmax(y_true, axis=-1)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred))
    org_shape = y_true.shape
    reshape = len(y_true.shape) == len(y_pred.shape)
    if reshape:
        y_true = ops.squeeze(y_true, -1)
    matches = _matches(y_true, ops.argmax(y_pred, axis=-1))
    return ops.reshape(matches, org_shape) if reshape else matches


def sparse_categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where the arg-max of ``y_pred`` is the integer label."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred))
    org_shape = y_true.shape
    reshape = len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1
    if reshape:
        y_true = ops.squeeze(y_true, -1)
    matches = _matches(y_true, ops.argmax(y_pred, axis=-1))
    if reshape:
        matches = ops.reshape(matches, org_shape)
    if len(matches.shape) > 1 and matches.shape[-1] == 1:
        matches = ops.squeeze(matches, -1)
    return matches


def top_k_categorical_accuracy(y_true: Tensor, y_pred: Tensor, k: int = 5) -> Tensor:
    """1.0 where the one-hot label's class is among the ``k`` largest predictions.

    Keras flattens leading axes to ``(-1, classes)`` first; ``ops.in_top_k``
    here works on any leading shape, which gives the same values and keeps a
    symbolic batch expressible.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.argmax(ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred)), axis=-1)
    return ops.cast(ops.in_top_k(y_true, y_pred, k=k), floatx())


def sparse_top_k_categorical_accuracy(y_true: Tensor, y_pred: Tensor, k: int = 5,
                                      from_sorted_ids: bool = False) -> Tensor:
    """1.0 where the integer label is among the ``k`` largest predictions.

    With ``from_sorted_ids``, ``y_pred`` holds class ids already sorted by
    score (best first), and a hit is the label among the first ``k``.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true, dtype=ops.dtype(y_pred) if from_sorted_ids else "int32")
    org_shape = y_true.shape
    # Keras flattens labels of rank > 1 and reshapes the matches back; only (N, 1) labels against
    # (N, classes) differ in rank from what in_top_k takes, so squeezing that axis is the same.
    squeezed = len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1
    if squeezed:
        y_true = ops.squeeze(y_true, -1)
    if from_sorted_ids:
        firsts = ops.getitem(y_pred, (Ellipsis, slice(0, k)))
        matches = ops.any(ops.equal(ops.expand_dims(y_true, -1), firsts), axis=-1)
    else:
        matches = ops.in_top_k(y_true, y_pred, k=k)
    matches = ops.cast(matches, floatx())
    return ops.reshape(matches, org_shape) if squeezed else matches


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary labels."""

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold
        self._direction = "up"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max prediction matches the one-hot label."""

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max prediction matches the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label is among the ``k`` largest predictions."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k
        self._direction = "up"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` largest predictions."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids: bool = False):
        super().__init__(fn=sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids
        self._direction = "up"

    def get_config(self) -> dict:
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config

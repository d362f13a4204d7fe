"""Confusion counts at thresholds (Keras' metrics_utils.update_confusion_matrix_variables).

Counts for ``T`` thresholds are one comparison tensor with a leading
threshold axis, summed over the sample axes: no flattening reshape (which a
symbolic batch could not express) and no scatter. Evenly spaced thresholds
(AUC's) follow Keras' bucketed path: a prediction's bucket is
``ceil(p * (T - 1)) - 1`` and it counts toward every threshold index at or
below its bucket, the same counts Keras gets from ``segment_sum`` + reversed
``cumsum``. Other thresholds compare ``y_pred > threshold`` directly.
"""
from __future__ import annotations

import enum
from typing import Any, Sequence

import numpy as np

from frontend import ops
from frontend.backend import epsilon
from frontend.losses.loss import squeeze_or_expand_to_same_rank

Tensor = Any
NEG_INF = -1e10


class ConfusionMatrix(enum.Enum):
    TRUE_POSITIVES = "tp"
    FALSE_POSITIVES = "fp"
    TRUE_NEGATIVES = "tn"
    FALSE_NEGATIVES = "fn"


def parse_init_thresholds(thresholds, default_threshold: float = 0.5) -> list[float]:
    """The thresholds as a list (one default when None); each must lie in [0, 1]."""
    if thresholds is not None:
        listed = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
        bad = [t for t in listed if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    value = default_threshold if thresholds is None else thresholds
    return list(value) if isinstance(value, (list, tuple)) else [value]


def is_evenly_distributed_thresholds(thresholds: Sequence[float]) -> bool:
    """Whether ``thresholds`` are ``i / (n - 1)`` for ``i < n``, n >= 3 (Keras' fast-path test)."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=epsilon()))


def filter_top_k(x: Tensor, k: int) -> Tensor:
    """``x`` where it is among the ``k`` largest of its last axis, ``NEG_INF`` elsewhere.

    Ties go to the lower index (as ``top_k`` on JAX/TF). An element's rank is
    the number of elements greater than it plus the equal ones before it; the
    pairwise comparison is ``(..., C, C)``, fine for class counts.
    """
    n = x.shape[-1]
    xi, xj = ops.expand_dims(x, -1), ops.expand_dims(x, -2)   # [..., i, j]: element i vs element j
    before = np.tril(np.ones((n, n), dtype=bool), -1)         # j < i
    ahead = ops.logical_or(ops.greater(xj, xi), ops.logical_and(ops.equal(xj, xi), before))
    rank = ops.sum(ops.cast(ahead, "int32"), axis=-1)
    keep = ops.cast(ops.less(rank, k), ops.dtype(x))
    return ops.add(ops.multiply(x, keep), ops.multiply(NEG_INF, ops.subtract(1.0, keep)))


def _leading(x: Tensor) -> Tensor:
    """``x`` with a new axis 0, to be compared against thresholds of shape ``(T, 1, ...)``."""
    return ops.expand_dims(x, 0)


def _column(values: np.ndarray, rank: int) -> np.ndarray:
    """``values`` (T,) shaped ``(T, 1, ..., 1)`` to broadcast against ``rank`` data axes."""
    return values.reshape((-1,) + (1,) * rank)


def update_confusion_matrix_variables(variables_to_update: dict, y_true: Tensor, y_pred: Tensor,
                                      thresholds: Sequence[float], top_k: int | None = None,
                                      class_id: int | None = None, sample_weight: Tensor | None = None,
                                      multi_label: bool = False, label_weights: Tensor | None = None,
                                      thresholds_distributed_evenly: bool = False) -> None:
    """Adds this batch's TP/FP/TN/FN counts per threshold to the given Variables.

    ``variables_to_update`` maps :class:`ConfusionMatrix` members to Variables
    of shape ``(T,)``, or ``(T, labels)`` with ``multi_label``.
    """
    if multi_label and label_weights is not None:
        raise ValueError("`label_weights` for multilabel data should be handled outside of "
                         "`update_confusion_matrix_variables` when `multi_label` is True.")
    if not variables_to_update:
        return
    invalid = [k for k in variables_to_update if not isinstance(k, ConfusionMatrix)]
    if invalid:
        raise ValueError(f'Invalid keys: "{invalid}". Valid variable key options are: '
                         f'"{list(ConfusionMatrix)}"')
    dtype = next(iter(variables_to_update.values())).dtype
    y_true = ops.cast(y_true, dtype)
    y_pred = ops.cast(y_pred, dtype)
    thresholds = np.asarray(thresholds, dtype=dtype)
    with_epsilon = bool(thresholds[0] < 0.0 or thresholds[-1] > 1.0)

    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = ops.expand_dims(ops.cast(sample_weight, dtype), axis=-1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        if len(y_pred.shape) == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {tuple(y_pred.shape)}")
        y_true = ops.getitem(y_true, (Ellipsis, class_id, None))
        y_pred = ops.getitem(y_pred, (Ellipsis, class_id, None))

    weights = None   # broadcast against y_pred by multiplication: the batch may be symbolic
    if sample_weight is not None:
        weights = ops.multiply(ops.cast(sample_weight, dtype), ops.ones_like(y_pred))
    if label_weights is not None and not multi_label:
        lw = ops.multiply(ops.cast(label_weights, dtype), ops.ones_like(y_pred))
        weights = lw if weights is None else ops.multiply(weights, lw)

    rank = len(y_pred.shape)
    # Sum over every sample axis; with multi_label keep the label axis (the last).
    axes = list(range(1, rank)) if multi_label else list(range(1, rank + 1))
    if thresholds_distributed_evenly:
        counts = _bucketed_counts(y_true, y_pred, weights, len(thresholds), with_epsilon, axes, dtype)
    else:
        counts = _compared_counts(y_true, y_pred, weights, thresholds, variables_to_update, axes, dtype)
    for key, var in variables_to_update.items():
        var.assign(ops.add(var, counts[key]))


def _bucketed_counts(y_true, y_pred, weights, num_thresholds: int, with_epsilon: bool, axes, dtype):
    """Counts for thresholds ``i / (T - 1)`` from bucket indices (Keras' optimized path)."""
    y_pred = ops.clip(y_pred, 0.0, 1.0)
    y_true = ops.cast(ops.cast(y_true, "bool"), dtype)
    w = ops.ones_like(y_pred) if weights is None else ops.cast(weights, dtype)
    true_labels = ops.multiply(y_true, w)
    false_labels = ops.multiply(ops.subtract(1.0, y_true), w)
    buckets = ops.subtract(ops.ceil(ops.multiply(y_pred, float(num_thresholds - 1))), 1.0)
    if with_epsilon:
        buckets = ops.relu(buckets)
    buckets = ops.cast(buckets, "int32")
    index = _column(np.arange(num_thresholds, dtype=np.int32), len(y_pred.shape))
    at_or_above = ops.cast(ops.greater_equal(_leading(buckets), index), dtype)   # (T, ...samples)
    tp = ops.sum(ops.multiply(at_or_above, _leading(true_labels)), axis=axes)
    fp = ops.sum(ops.multiply(at_or_above, _leading(false_labels)), axis=axes)
    sample_axes = [a - 1 for a in axes]
    total_true = ops.sum(true_labels, axis=sample_axes)
    total_false = ops.sum(false_labels, axis=sample_axes)
    return {ConfusionMatrix.TRUE_POSITIVES: tp, ConfusionMatrix.FALSE_POSITIVES: fp,
            ConfusionMatrix.TRUE_NEGATIVES: ops.subtract(total_false, fp),
            ConfusionMatrix.FALSE_NEGATIVES: ops.subtract(total_true, tp)}


def _compared_counts(y_true, y_pred, weights, thresholds: np.ndarray, wanted: dict, axes, dtype):
    """Counts from ``y_pred > threshold`` for each threshold (Keras' general path)."""
    pred_pos = ops.greater(_leading(y_pred), _column(thresholds, len(y_pred.shape)))
    label_pos = _leading(ops.cast(y_true, "bool"))
    pred_neg, label_neg = ops.logical_not(pred_pos), ops.logical_not(label_pos)
    cells = {ConfusionMatrix.TRUE_POSITIVES: (label_pos, pred_pos),
             ConfusionMatrix.FALSE_POSITIVES: (label_neg, pred_pos),
             ConfusionMatrix.TRUE_NEGATIVES: (label_neg, pred_neg),
             ConfusionMatrix.FALSE_NEGATIVES: (label_pos, pred_neg)}
    zero = np.zeros((), dtype)
    out = {}
    for key in wanted:
        both = ops.logical_and(*cells[key])
        hit = ops.cast(both, dtype) if weights is None else ops.where(both, _leading(weights), zero)
        out[key] = ops.sum(hit, axis=axes)
    return out


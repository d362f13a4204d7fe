"""Confusion-count metrics: TruePositives & co., Precision, Recall and AUC.

State is per-threshold confusion counts (Variables); ``update_state`` adds a
batch's counts (traceable into graph updates), ``result`` is arithmetic on the
counts with Keras' formulas, AUC's Riemann sums and PR interpolation included.
"""
from __future__ import annotations

import enum

import numpy as np

from frontend import ops
from frontend.backend import epsilon
from frontend.metrics.confusion_utils import (NEG_INF, ConfusionMatrix, is_evenly_distributed_thresholds,
                                              parse_init_thresholds, update_confusion_matrix_variables)
from frontend.metrics.metric import Metric, read
from frontend.metrics.reduction import Tensor


class _ConfusionMatrixConditionCount(Metric):
    """One confusion cell, counted at each threshold."""

    _condition: ConfusionMatrix

    def __init__(self, thresholds=None, name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=0.5)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),), initializer="zeros",
                                             name="accumulator")

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        update_confusion_matrix_variables(
            {self._condition: self.accumulator}, y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly, sample_weight=sample_weight)

    def result(self) -> Tensor:
        acc = read(self.accumulator)
        return ops.getitem(acc, 0) if len(self.thresholds) == 1 else acc

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted count of predictions above threshold whose label is positive."""
    _condition = ConfusionMatrix.TRUE_POSITIVES


class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted count of predictions above threshold whose label is negative."""
    _condition = ConfusionMatrix.FALSE_POSITIVES


class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of predictions at or below threshold whose label is negative."""
    _condition = ConfusionMatrix.TRUE_NEGATIVES


class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of predictions at or below threshold whose label is positive."""
    _condition = ConfusionMatrix.FALSE_NEGATIVES


class _PrecisionRecall(Metric):
    """Shared by Precision (TP, FP) and Recall (TP, FN): thresholds, top_k, class_id."""

    _other: ConfusionMatrix
    _other_name: str

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=default)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)
        n = len(self.thresholds)
        self.true_positives = self.add_variable(shape=(n,), initializer="zeros", name="true_positives")
        self._other_var = self.add_variable(shape=(n,), initializer="zeros", name=self._other_name)

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        update_confusion_matrix_variables(
            {ConfusionMatrix.TRUE_POSITIVES: self.true_positives, self._other: self._other_var},
            y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly, top_k=self.top_k,
            class_id=self.class_id, sample_weight=sample_weight)

    def result(self) -> Tensor:
        tp = read(self.true_positives)
        value = ops.divide_no_nan(tp, ops.add(tp, read(self._other_var)))
        return ops.getitem(value, 0) if len(self.thresholds) == 1 else value

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """``TP / (TP + FP)`` at each threshold (one value for one threshold)."""
    _other, _other_name = ConfusionMatrix.FALSE_POSITIVES, "false_positives"

    @property
    def false_positives(self):
        return self._other_var


class Recall(_PrecisionRecall):
    """``TP / (TP + FN)`` at each threshold (one value for one threshold)."""
    _other, _other_name = ConfusionMatrix.FALSE_NEGATIVES, "false_negatives"

    @property
    def false_negatives(self):
        return self._other_var


class AUCCurve(enum.Enum):
    ROC = "ROC"
    PR = "PR"
    PRGAIN = "PRGAIN"

    @staticmethod
    def from_str(key: str) -> "AUCCurve":
        table = {"pr": AUCCurve.PR, "roc": AUCCurve.ROC, "prgain": AUCCurve.PRGAIN}
        if key not in ("pr", "PR", "roc", "ROC", "prgain", "PRGAIN"):
            raise ValueError(f'Invalid AUC curve value: "{key}". Expected values are ["PR", "ROC", "PRGAIN"]')
        return table[key.lower()]


class AUCSummationMethod(enum.Enum):
    INTERPOLATION = "interpolation"
    MAJORING = "majoring"
    MINORING = "minoring"

    @staticmethod
    def from_str(key: str) -> "AUCSummationMethod":
        if key not in ("interpolation", "Interpolation", "majoring", "Majoring", "minoring", "Minoring"):
            raise ValueError(f'Invalid AUC summation method value: "{key}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        return AUCSummationMethod(key.lower())


class AUC(Metric):
    """Area under the ROC, PR or PR-gain curve, from confusion counts at ``num_thresholds``.

    Predictions are bucketed into thresholds ``i / (num_thresholds - 1)``
    (padded by ``-eps`` and ``1 + eps``); the area is a Riemann sum with the
    ``summation_method`` heights, and for ``curve="PR"`` with interpolation,
    Davis & Goadrich's interpolated precision, all as in Keras.
    """

    def __init__(self, num_thresholds: int = 200, curve: str | AUCCurve = "ROC",
                 summation_method: str | AUCSummationMethod = "interpolation", name: str | None = None,
                 dtype=None, thresholds=None, multi_label: bool = False, num_labels: int | None = None,
                 label_weights=None, from_logits: bool = False):
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
                np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        self._thresholds = np.array([0.0 - epsilon()] + list(thresholds) + [1.0 + epsilon()])
        self.curve = curve if isinstance(curve, AUCCurve) else AUCCurve.from_str(curve)
        self.summation_method = (summation_method if isinstance(summation_method, AUCSummationMethod)
                                 else AUCSummationMethod.from_str(summation_method))
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, self.dtype)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def _build(self, shape) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                                 f"{len(shape)}. Full shape received for `y_pred`: {shape}")
            self._num_labels = shape[1]
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        self._build_input_shape = shape
        for cell in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            setattr(self, cell, self.add_variable(shape=var_shape, initializer="zeros", name=cell))
        self._built = True

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        if not self._built:
            self._build(tuple(y_pred.shape))
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        update_confusion_matrix_variables(
            {ConfusionMatrix.TRUE_POSITIVES: self.true_positives,
             ConfusionMatrix.TRUE_NEGATIVES: self.true_negatives,
             ConfusionMatrix.FALSE_POSITIVES: self.false_positives,
             ConfusionMatrix.FALSE_NEGATIVES: self.false_negatives},
            y_true, y_pred, self._thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly, sample_weight=sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights)

    def _counts(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return tuple(read(v) for v in (self.true_positives, self.false_positives,
                                                        self.true_negatives, self.false_negatives))

    def _by_label(self, terms: Tensor) -> Tensor:
        """Sum over thresholds; with multi_label, the (label-weighted) mean over labels."""
        if not self.multi_label:
            return ops.sum(terms)
        by_label = ops.sum(terms, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        return ops.divide_no_nan(ops.sum(ops.multiply(by_label, self.label_weights)),
                                 ops.sum(self.label_weights))

    def interpolate_pr_auc(self) -> Tensor:
        """PR-AUC by Davis & Goadrich interpolation between thresholds (Keras' formula)."""
        tp, fp, _, fn = self._counts()
        head, tail = slice(0, self.num_thresholds - 1), slice(1, None)
        dtp = ops.subtract(tp[head], tp[tail])
        p = ops.add(tp, fp)
        dp = ops.subtract(p[head], p[tail])
        prec_slope = ops.divide_no_nan(dtp, ops.maximum(dp, 0))
        intercept = ops.subtract(tp[tail], ops.multiply(prec_slope, p[tail]))
        safe_p_ratio = ops.where(ops.logical_and(ops.greater(p[head], 0), ops.greater(p[tail], 0)),
                                 ops.divide_no_nan(p[head], ops.maximum(p[tail], 0)),
                                 ops.ones_like(p[tail]))
        increment = ops.divide_no_nan(
            ops.multiply(prec_slope, ops.add(dtp, ops.multiply(intercept, ops.log(safe_p_ratio)))),
            ops.maximum(ops.add(tp[tail], fn[tail]), 0))
        return self._by_label(increment)

    def result(self) -> Tensor:
        if self.curve is AUCCurve.PR and self.summation_method is AUCSummationMethod.INTERPOLATION:
            return self.interpolate_pr_auc()
        tp, fp, tn, fn = self._counts()
        recall = ops.divide_no_nan(tp, ops.add(tp, fn))
        if self.curve is AUCCurve.ROC:
            x, y = ops.divide_no_nan(fp, ops.add(fp, tn)), recall
        elif self.curve is AUCCurve.PR:
            x, y = recall, ops.divide_no_nan(tp, ops.add(tp, fp))
        else:   # PR-gain (Flach & Kull)
            scale = ops.divide_no_nan(ops.add(tp, fn), ops.add(tn, fp))
            recall_gain = ops.subtract(1.0, ops.multiply(scale, ops.divide_no_nan(fn, tp)))
            precision_gain = ops.subtract(1.0, ops.multiply(scale, ops.divide_no_nan(fp, tp)))
            no_tp = ops.equal(tp, 0.0)
            x = ops.maximum(ops.where(no_tp, 0.0, recall_gain), 0.0)
            y = ops.where(no_tp, 1.0, precision_gain)
        head, tail = slice(0, self.num_thresholds - 1), slice(1, None)
        if self.summation_method is AUCSummationMethod.INTERPOLATION:
            heights = ops.divide(ops.add(y[head], y[tail]), 2.0)
        elif self.summation_method is AUCSummationMethod.MINORING:
            heights = ops.minimum(y[head], y[tail])
        else:
            heights = ops.maximum(y[head], y[tail])
        return self._by_label(ops.multiply(ops.subtract(x[head], x[tail]), heights))

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve.value, "summation_method": self.summation_method.value,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config

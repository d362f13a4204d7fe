"""``keras.metrics``: stateful metrics, their functions, ``get``, (de)serialization,
and ``resolve_metric`` (what ``model.compile(metrics=[...])`` does with an identifier).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from frontend.identifiers import resolve_identifier
from frontend import losses as _losses
from frontend.backend import snake_case
from frontend.losses import (binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
                             categorical_hinge, hinge, huber, kl_divergence, log_cosh, mean_absolute_error,
                             mean_absolute_percentage_error, mean_squared_error,
                             mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                             squared_hinge)
from frontend.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                       SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                       TopKCategoricalAccuracy, accuracy, binary_accuracy,
                                       categorical_accuracy, sparse_categorical_accuracy,
                                       sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from frontend.metrics.confusion import (AUC, FalseNegatives, FalsePositives, Precision, Recall,
                                        TrueNegatives, TruePositives)
from frontend.metrics.loss_metrics import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge,
                                           Hinge, KLDivergence, Poisson, SparseCategoricalCrossentropy,
                                           SquaredHinge)
from frontend.metrics.metric import Metric
from frontend.metrics.reduction import Mean, MeanMetricWrapper, Sum
from frontend.metrics.regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError,
                                         MeanAbsolutePercentageError, MeanSquaredError,
                                         MeanSquaredLogarithmicError, RootMeanSquaredError)

CLASSES: tuple[type, ...] = (
    Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, AUC,
    FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy)

# The functions keras.metrics exports: the accuracies and the losses that make sense as metrics.
FUNCTIONS: tuple[Callable, ...] = (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, huber, log_cosh,
    kl_divergence, poisson, binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, hinge, squared_hinge, categorical_hinge)
FUNCTIONS_BY_NAME: dict[str, Callable] = {f.__name__: f for f in FUNCTIONS}

# Keras' lookup table for get(): class names, their snake_case forms, and the short aliases.
# (Functions are not in it: get("mean_squared_error") is the MeanSquaredError metric.)
ALL_OBJECTS_DICT: dict[str, type] = {c.__name__: c for c in CLASSES}
ALL_OBJECTS_DICT.update({snake_case(c.__name__): c for c in CLASSES})
for _alias, _cls in (("bce", BinaryCrossentropy), ("mse", MeanSquaredError), ("mae", MeanAbsoluteError),
                     ("mape", MeanAbsolutePercentageError), ("msle", MeanSquaredLogarithmicError)):
    ALL_OBJECTS_DICT[_alias] = ALL_OBJECTS_DICT[_alias.upper()] = _cls


def serialize(metric: Metric | Callable) -> Any:
    """Keras' config form: ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(metric, Metric):
        return {"module": "keras.metrics", "class_name": type(metric).__name__,
                "config": metric.get_config(), "registered_name": None}
    name = getattr(metric, "__name__", None)
    if name is not None and FUNCTIONS_BY_NAME.get(name) is metric:
        return {"module": "keras.metrics", "class_name": "function", "config": name, "registered_name": name}
    return metric


def deserialize(config: Any, custom_objects: dict | None = None) -> Metric | Callable:
    """The metric a ``serialize`` result (or a Keras config) describes."""
    custom = custom_objects or {}
    if isinstance(config, dict) and config.get("class_name") not in (None, "function"):
        name = config["class_name"]
        cls = custom.get(name) or ALL_OBJECTS_DICT.get(name)
        if not (inspect.isclass(cls) and issubclass(cls, Metric)):
            raise ValueError(f"Could not interpret metric identifier: {config}")
        return cls.from_config(config.get("config") or {})
    name = config.get("config") if isinstance(config, dict) else config
    obj = custom.get(name) or FUNCTIONS_BY_NAME.get(name) or ALL_OBJECTS_DICT.get(name)
    if obj is None:
        raise ValueError(f"Could not interpret metric identifier: {config}")
    return obj


def get(identifier: Any) -> Metric | Callable | None:
    """A metric from a name ("mse", "auc", "Precision"...), a config, a class or a callable."""
    return resolve_identifier(identifier, ALL_OBJECTS_DICT, deserialize, "metric")


def resolve_metric(identifier: Any, y_true_shape: Sequence, y_pred_shape: Sequence,
                   loss: Any = None) -> Metric:
    """The Metric ``compile(metrics=[identifier])`` tracks for one output (Keras' ``get_metric``).

    "accuracy" / "acc" become BinaryAccuracy for a one-unit output,
    SparseCategoricalAccuracy when the labels are sparse (lower rank than the
    output, or a last dim of 1 against several classes), else
    CategoricalAccuracy. Shapes use None for unknown dims.

    ``loss`` is accepted because the compile call site has it at hand, but
    Keras 3 decides from the shapes alone (Keras 2 looked at the loss), so it
    does not change the result. Metric strings Keras 3 does not know, such as
    "crossentropy" (a loss-only shorthand there), raise like Keras:
    "Could not interpret metric identifier: crossentropy".

    The metric is named after a string identifier ("acc" stays "acc"), else
    after the object; plain functions and Loss objects are wrapped in a
    :class:`MeanMetricWrapper`.
    """
    del loss   # see above: Keras 3's rules do not depend on it
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        is_binary, is_sparse = _losses.is_binary_or_sparse_categorical(tuple(y_true_shape),
                                                                       tuple(y_pred_shape))
        cls = BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy
        metric: Any = cls(name=str(identifier))
    else:
        metric = get(identifier)
    name = identifier if isinstance(identifier, str) else _losses.object_name(metric)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric


__all__ = [c.__name__ for c in CLASSES] + [f.__name__ for f in FUNCTIONS] + [
    "get", "serialize", "deserialize", "resolve_metric"]

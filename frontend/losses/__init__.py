"""``keras.losses``: loss functions and classes, ``get``, (de)serialization,
and ``resolve_loss`` (what ``model.compile(loss=...)`` does with an identifier).

Every loss is built from ``horn.ops``, so it computes on arrays and traces
into the compiled train step alike.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from frontend.identifiers import resolve_identifier
from frontend.backend import snake_case
from frontend.losses.hinge import (CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge,
                                   squared_hinge)
from frontend.losses.loss import Loss, LossFunctionWrapper, reduce_weighted_values
from frontend.losses.probabilistic import (BinaryCrossentropy, BinaryFocalCrossentropy,
                                           CategoricalCrossentropy, KLDivergence, Poisson,
                                           SparseCategoricalCrossentropy, binary_crossentropy,
                                           binary_focal_crossentropy, categorical_crossentropy,
                                           kl_divergence, poisson, sparse_categorical_crossentropy)
from frontend.losses.regression import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
                                        MeanAbsolutePercentageError, MeanSquaredError,
                                        MeanSquaredLogarithmicError, cosine_similarity, huber, log_cosh,
                                        mean_absolute_error, mean_absolute_percentage_error,
                                        mean_squared_error, mean_squared_logarithmic_error)
from frontend.ops.nn import check_sparse_labels

CLASSES: tuple[type, ...] = (
    Loss, LossFunctionWrapper, KLDivergence, Poisson, BinaryCrossentropy, BinaryFocalCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, MeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCosh, Huber, Hinge,
    SquaredHinge, CategoricalHinge)
FUNCTIONS: tuple[Callable, ...] = (
    kl_divergence, poisson, binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, mean_squared_error, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_logarithmic_error, cosine_similarity, log_cosh, huber,
    hinge, squared_hinge, categorical_hinge)

# Keras' lookup table: classes and functions under their own names, plus the short aliases.
ALL_OBJECTS_DICT: dict[str, Any] = {o.__name__: o for o in CLASSES + FUNCTIONS}
for _alias, _fn in (("bce", binary_crossentropy), ("kld", kl_divergence), ("mae", mean_absolute_error),
                    ("mse", mean_squared_error), ("mape", mean_absolute_percentage_error),
                    ("msle", mean_squared_logarithmic_error)):
    ALL_OBJECTS_DICT[_alias] = ALL_OBJECTS_DICT[_alias.upper()] = _fn

# Aliases Keras exports for the functions.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy


def serialize_function(fn: Callable) -> Any:
    """A built-in loss function as Keras writes it in configs; other callables are kept as is."""
    name = getattr(fn, "__name__", None)
    if name is not None and ALL_OBJECTS_DICT.get(name) is fn:
        return {"module": "keras.losses", "class_name": "function", "config": name, "registered_name": name}
    return fn


def deserialize_function(config: Any, custom_objects: dict | None = None) -> Callable:
    if callable(config):
        return config
    name = config.get("config") if isinstance(config, dict) else config
    fn = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(name)
    if fn is None:
        raise ValueError(f"Could not interpret loss identifier: {config}")
    return fn


def serialize(loss: Loss | Callable) -> Any:
    """Keras' config form: ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(loss, Loss):
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    return serialize_function(loss)


def deserialize(config: Any, custom_objects: dict | None = None) -> Loss | Callable:
    """The loss a ``serialize`` result (or a Keras config) describes."""
    if isinstance(config, dict) and config.get("class_name") not in (None, "function"):
        name = config["class_name"]
        cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(name)
        if not (inspect.isclass(cls) and issubclass(cls, Loss)):
            raise ValueError(f"Could not interpret loss identifier: {config}")
        return cls.from_config(config.get("config") or {})
    return deserialize_function(config, custom_objects)


def get(identifier: Any) -> Loss | Callable | None:
    """A loss from a name ("mse", "CategoricalCrossentropy"...), a config, a class or a callable."""
    return resolve_identifier(identifier, ALL_OBJECTS_DICT, deserialize, "loss")


def is_binary_or_sparse_categorical(y_true_shape: Sequence, y_pred_shape: Sequence) -> tuple[bool, bool]:
    """Keras' shape test behind "accuracy" and "crossentropy": a 1-unit output is binary; labels of
    lower rank than the output, or with a last dim of 1 against several classes, are sparse."""
    t_last = y_true_shape[-1] if len(y_true_shape) else None
    p_last = y_pred_shape[-1] if len(y_pred_shape) else None
    is_binary = p_last == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (t_last == 1 and p_last is not None and p_last > 1)
    return is_binary, is_sparse


def object_name(obj: Any) -> str:
    """Keras' ``get_object_name``: ``.name``, else the function's or class's name in snake case."""
    if hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "__name__"):
        return snake_case(obj.__name__)
    return snake_case(type(obj).__name__)


def resolve_loss(identifier: Any, y_true_shape: Sequence, y_pred_shape: Sequence) -> Loss | None:
    """What ``compile(loss=identifier)`` uses for one output (Keras' ``compile_utils.get_loss``).

    "crossentropy" / "ce" pick binary, sparse or categorical crossentropy from
    the label and output shapes; a plain function is wrapped in a
    :class:`LossFunctionWrapper` named after the identifier.
    """
    if identifier is None:
        return None
    if str(identifier).lower() in ("crossentropy", "ce"):
        is_binary, is_sparse = is_binary_or_sparse_categorical(tuple(y_true_shape), tuple(y_pred_shape))
        obj: Any = (binary_crossentropy if is_binary else
                    sparse_categorical_crossentropy if is_sparse else categorical_crossentropy)
    else:
        obj = get(identifier)
    if not isinstance(obj, Loss):
        name = identifier if isinstance(identifier, str) else object_name(obj)
        obj = LossFunctionWrapper(obj, name=name)
    return obj


__all__ = [c.__name__ for c in CLASSES] + [f.__name__ for f in FUNCTIONS] + [
    "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD", "bce", "BCE", "get",
    "serialize", "deserialize", "resolve_loss", "is_binary_or_sparse_categorical", "check_sparse_labels",
    "reduce_weighted_values"]

"""Optimizers and learning-rate schedules, as ``keras.optimizers``.

Every optimizer's ``apply`` is one code path for eager numpy updates and for
the compiled training step (see :mod:`frontend.optimizers.base_optimizer`).
``get`` resolves what ``model.compile(optimizer=...)`` accepts: a name, a
config dict or an instance.
"""
from __future__ import annotations

from typing import Any

from frontend.optimizers import schedules
from frontend.optimizers.adadelta import Adadelta
from frontend.optimizers.adagrad import Adagrad
from frontend.optimizers.adam import Adam, AdamW
from frontend.optimizers.adamax import Adamax
from frontend.optimizers.base_optimizer import Optimizer
from frontend.optimizers.lion import Lion
from frontend.optimizers.nadam import Nadam
from frontend.optimizers.rmsprop import RMSprop
from frontend.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion",
           "schedules", "get", "serialize", "deserialize"]

# Keras looks built-in names up case-insensitively ("adam", "Adam", "RMSprop", "rmsprop").
_BUILTIN: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """Keras' config form (``module`` / ``class_name`` / ``config`` / ``registered_name``)."""
    builtin = _BUILTIN.get(type(optimizer).__name__.lower()) is type(optimizer)
    return {"module": "keras.optimizers" if builtin else type(optimizer).__module__,
            "class_name": type(optimizer).__name__, "config": optimizer.get_config(),
            "registered_name": None if builtin else type(optimizer).__name__}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """An optimizer from ``serialize``'s form; ``custom_objects`` are tried before the built-ins."""
    name = config.get("class_name")
    custom = custom_objects or {}
    cls = next((custom[n] for n in (config.get("registered_name"), name) if n in custom), None)
    if cls is None and isinstance(name, str):
        cls = _BUILTIN.get(name.lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


def get(identifier: Any) -> Optimizer | None:
    """An Optimizer from a name ("adam"), a config dict, or an instance (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BUILTIN.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")

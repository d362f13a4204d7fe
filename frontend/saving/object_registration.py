"""Custom-object registration, as ``keras.saving``'s.

``@register_keras_serializable(package="Custom")`` records a class or function
under ``"Custom>ClassName"``; that string is what a saved config carries in
``registered_name``, and what ``load_model`` looks up to rebuild the object.
``custom_objects=`` (an argument) and ``custom_object_scope`` (a context) add
name -> object maps for one load. This module imports nothing heavy, so
activations and initializers can consult it without import cycles.
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

# "Package>Name" -> object, and object -> "Package>Name".
GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}

# Scopes nest per thread: a load on one thread never sees another's custom objects.
_SCOPES = threading.local()


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Registers a class or function so saved models can name it and load it back.

    The registered name is ``f"{package}>{name or obj.__name__}"``; a class must
    have ``get_config`` (its constructor arguments) to be registered.
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"`package` must be a string without '>'. Received: package={package!r}")

    def decorator(obj):
        registered = f"{package}>{name if name is not None else obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method. "
                             f"Received: {obj.__name__}")
        GLOBAL_CUSTOM_OBJECTS[registered] = obj
        GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` was registered under, else its ``__name__`` (as Keras)."""
    return GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def is_registered(obj: Any) -> bool:
    return obj in GLOBAL_CUSTOM_NAMES


def get_custom_objects() -> dict[str, Any]:
    """The live global registry (``"Package>Name" -> object``); writes to it register too."""
    return GLOBAL_CUSTOM_OBJECTS


def _scope_stack() -> list[dict[str, Any]]:
    if not hasattr(_SCOPES, "stack"):
        _SCOPES.stack = []
    return _SCOPES.stack


def active_custom_objects(custom_objects: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a lookup may resolve through: the global registry, the active
    scopes (innermost wins), then ``custom_objects`` given to this call (wins over all)."""
    merged: dict[str, Any] = dict(GLOBAL_CUSTOM_OBJECTS)
    for scope in _scope_stack():
        merged.update(scope)
    merged.update(custom_objects or {})
    return merged


def get_registered_object(name: str | None, custom_objects: dict[str, Any] | None = None) -> Any:
    """The object registered or given under ``name``, or None."""
    if name is None:
        return None
    return active_custom_objects(custom_objects).get(name)


class CustomObjectScope:
    """``with CustomObjectScope({"MyLayer": MyLayer}):`` makes the names resolvable
    by every deserialization inside the block (on this thread)."""

    def __init__(self, *custom_objects: dict[str, Any] | None):
        self._objects: dict[str, Any] = {}
        for objects in custom_objects:
            self._objects.update(objects or {})

    def __enter__(self) -> "CustomObjectScope":
        _scope_stack().append(self._objects)
        return self

    def __exit__(self, *exc) -> None:
        _scope_stack().pop()


def custom_object_scope(*custom_objects: dict[str, Any] | None) -> CustomObjectScope:
    """Keras' spelling of :class:`CustomObjectScope`."""
    return CustomObjectScope(*custom_objects)


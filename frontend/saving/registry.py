"""Which Horn class a Keras config names, and which Keras name a Horn class saves as.

Dispatch is a table per Keras namespace (``keras.layers``, ``keras.initializers``,
...), keyed by class name and built from the Horn module that implements that
namespace, so a new layer is found by being exported, not by a probe. Tables
are rebuilt per lookup (a few hundred names), so namespaces that appear later
in the process (optimizers, losses, metrics) are picked up.
"""
from __future__ import annotations

import inspect
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from frontend.saving import object_registration

# Keras namespace -> Horn module implementing it. Two-part keys are checked first.
_MODULES: dict[str, str] = {
    "layers": "frontend.layers",
    "initializers": "frontend.initializers",
    "regularizers": "frontend.regularizers",
    "constraints": "frontend.constraints",
    "optimizers.schedules": "frontend.optimizers.schedules",
    "optimizers": "frontend.optimizers",
    "losses": "frontend.losses",
    "metrics": "frontend.metrics",
    "activations": "frontend.activations",
}
# Where an unqualified name (legacy configs have no module) is looked for, in order.
_SEARCH_ORDER = ["models", "layers", "initializers", "regularizers", "constraints", "optimizers",
                 "optimizers.schedules", "losses", "metrics", "activations"]
# Keras writes Functional under its private module, with a registered name (it is not exported).
FUNCTIONAL_MODULE = "keras.src.models.functional"


def _module_table(module_name: str) -> dict[str, Any]:
    try:
        if find_spec(module_name) is None:
            return {}
    except ModuleNotFoundError:      # a parent package that does not exist (yet)
        return {}
    module = import_module(module_name)
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    table: dict[str, Any] = {}
    for n in names:
        obj = getattr(module, n, None)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            table[n] = obj
    return table


def _models_table() -> dict[str, Any]:
    from frontend.models import Functional, InputLayer, Sequential
    # Keras 3 configs name "Functional"; older ones "Model" for the same thing.
    return {"Functional": Functional, "Model": Functional, "Sequential": Sequential,
            "InputLayer": InputLayer}


def namespace_table(namespace: str) -> dict[str, Any]:
    """Name -> Horn class (or function) for one Keras namespace."""
    if namespace == "models":
        return _models_table()
    if namespace == "layers":
        return {**_module_table(_MODULES["layers"]), **_models_table()}
    if namespace == "activations":
        from frontend import activations
        return dict(activations._BY_NAME)
    module = _MODULES.get(namespace)
    return _module_table(module) if module else {}


def namespace_of(module: str | None) -> str | None:
    """``"keras.src.layers.core.dense"`` -> ``"layers"``; None for a non-Keras module."""
    if not module or not (module == "keras" or module.startswith("keras.")):
        return None
    parts = [p for p in module.split(".")[1:] if p != "src"]
    if len(parts) >= 2 and ".".join(parts[:2]) in _MODULES:
        return ".".join(parts[:2])
    if parts and (parts[0] in _MODULES or parts[0] == "models"):
        return parts[0]
    return ""      # plain "keras" (Sequential, DTypePolicy): search everywhere


def resolve(class_name: str, module: str | None = None, registered_name: str | None = None,
            custom_objects: dict[str, Any] | None = None) -> Any:
    """The class or function a saved config names.

    Order, as in Keras: a registered or user-given object (by registered name,
    then class name) wins; then the Horn built-in of that name in the namespace
    the ``module`` names; configs without a module (legacy .h5) and plain
    ``"keras"`` search every namespace. Objects from other modules are never
    imported: they must be registered or passed in ``custom_objects``.
    """
    for key in (registered_name, class_name):
        obj = object_registration.get_registered_object(key, custom_objects)
        if obj is not None:
            return obj
    namespace = namespace_of(module)
    if module is None or namespace == "":
        search = _SEARCH_ORDER
    elif namespace is None:
        search = []
    else:
        search = [namespace] + (["models"] if namespace == "layers" else [])
    for ns in search:
        obj = namespace_table(ns).get(class_name)
        if obj is not None:
            return obj
    where = f" (module '{module}')" if module else ""
    raise TypeError(
        f"Could not locate class '{class_name}'{where}: Horn has no built-in class of that name. "
        f"If it is a custom class or function, decorate it with "
        f"`@horn.saving.register_keras_serializable()` or pass "
        f"`custom_objects={{'{class_name}': {class_name}}}` to `load_model`.")


def public_identity(cls: type) -> tuple[str, str, str | None] | None:
    """``(module, class_name, registered_name)`` a built-in Horn class saves under,
    exactly as Keras writes its own class; None for a class Keras would not know."""
    from frontend.models import Functional, Sequential
    if cls is Sequential:
        return "keras", "Sequential", None
    if cls is Functional:
        return FUNCTIONAL_MODULE, "Functional", "Functional"
    for ns in _MODULES:
        if ns == "activations":
            continue
        if namespace_table(ns).get(cls.__name__) is cls:
            return f"keras.{ns}", cls.__name__, None
    return None

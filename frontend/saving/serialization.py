"""Objects <-> Keras 3 config dicts (``keras/src/saving/serialization_lib.py``'s format).

An object serializes as ``{"module", "class_name", "config", "registered_name"}``
plus ``"build_config"`` (the input shape a layer was built on, so the loader can
create its weights before filling them) and ``"compile_config"`` (a compiled
model's ``compile()`` arguments). Values that JSON cannot hold take Keras'
special forms (``__numpy__``, ``__bytes__``, ``__slice__``, ``__ellipsis__``,
``__keras_tensor__``).

Two Keras conventions Horn's own ``get_config`` does not follow are applied
here, on the way out and back: a layer's ``dtype`` is written as a
``DTypePolicy`` config (and read back as a dtype name), and Horn's
``batch_input_shape`` (a Keras 2 key that Keras 3 layers reject) is dropped;
Sequential writes the shape as its InputLayer instead.

The legacy .h5 format uses an older shape (``{"class_name", "config"}``, the
class_name being the registered name); :func:`legacy_scope` switches every
nested layer serialization to it, as Keras' ``use_legacy_config`` does.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import types
import warnings
from typing import Any, Iterator

import numpy as np

from frontend.saving import object_registration, registry

_LEGACY = contextvars.ContextVar("horn_legacy_config", default=False)
_PLAIN = (str, int, float, bool)


@contextlib.contextmanager
def legacy_scope() -> Iterator[None]:
    """Serializes layers in the legacy .h5 ``model_config`` shape inside the block."""
    token = _LEGACY.set(True)
    try:
        yield
    finally:
        _LEGACY.reset(token)


def in_legacy_scope() -> bool:
    return _LEGACY.get()


# -- dtype policies ------------------------------------------------------------------------------
def dtype_policy_config(dtype: str) -> dict:
    """How Keras 3 writes a layer's dtype."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def dtype_from_policy(value: Any, owner: str = "") -> Any:
    """A dtype name from a DTypePolicy config (or a name, returned as is).

    Horn has no mixed precision: a ``mixed_*`` policy loads as its variable
    dtype (float32), with a warning, so the model still loads and predicts.
    """
    if not isinstance(value, dict) or "DTypePolicy" not in str(value.get("class_name", "")):
        return value
    name = (value.get("config") or {}).get("name", "float32")
    if isinstance(name, str) and name.startswith("mixed_"):
        warnings.warn(f"{owner or 'A layer'} was saved with dtype policy '{name}'; Horn has no mixed "
                      "precision and loads it as float32.", stacklevel=3)
        return "float32"
    return name


# -- serialize -----------------------------------------------------------------------------------
def serialize_keras_object(obj: Any) -> Any:
    """``obj`` as JSON-ready Keras config data (see the module docstring)."""
    from frontend.layer import Layer
    from frontend.models.model import Model
    from frontend.tensors import KerasTensor

    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.item()
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__", "config": {k: serialize_keras_object(getattr(obj, k))
                                                      for k in ("start", "stop", "step")}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, KerasTensor):
        history = list(obj._keras_history) if obj._keras_history else None
        if history:
            history[0] = history[0].name
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(obj.shape), "dtype": obj.dtype, "keras_history": history}}
    if isinstance(obj, types.FunctionType):
        return _serialize_function(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj).__name__}: to be "
                        "serializable, a class must implement `get_config()`.")
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj!r} should return a dict. It returned: {config!r}")
    if isinstance(obj, Layer):
        config = keras_layer_config(obj, config)
    if in_legacy_scope() and isinstance(obj, Layer):
        return {"class_name": object_registration.get_registered_name(type(obj)),
                "config": serialize_keras_object(config)}
    module, class_name, registered = _identity(type(obj))
    out = {"module": module, "class_name": class_name, "config": serialize_keras_object(config),
           "registered_name": registered}
    if isinstance(obj, Layer):
        build = build_config(obj)
        if build is not None:
            out["build_config"] = serialize_keras_object(build)
        if isinstance(obj, Model):
            # Keras writes {} for a model never compiled.
            compile_config = getattr(obj, "_compile_config", None)
            compiled = getattr(obj, "compiled", False) and compile_config is not None
            out["compile_config"] = (serialize_compile_config(compile_config, getattr(obj, "optimizer", None))
                                     if compiled else {})
    return out


def serialize_nested(obj: Any) -> Any:
    """``obj`` in the ``{"module", "class_name", "config", ...}`` form even inside
    :func:`legacy_scope`: wrappers (RNN's cell, Bidirectional's layers) nest their layers
    that way in legacy .h5 files too, as Keras' ``serialization_lib`` does."""
    token = _LEGACY.set(False)
    try:
        return serialize_keras_object(obj)
    finally:
        _LEGACY.reset(token)


def _identity(cls: type) -> tuple[str | None, str, str | None]:
    public = registry.public_identity(cls)
    if public is not None and not object_registration.is_registered(cls):
        return public
    # A custom class: Keras writes its module, and its registered name (or the class name).
    module = None if cls.__module__ == "__main__" else cls.__module__
    return module, cls.__name__, object_registration.get_registered_name(cls)


def _serialize_function(fn: types.FunctionType) -> dict:
    from frontend import activations
    if object_registration.is_registered(fn):
        name = object_registration.get_registered_name(fn)
        return {"module": fn.__module__, "class_name": "function", "config": name, "registered_name": name}
    if activations._BY_NAME.get(fn.__name__) is fn:
        return {"module": "keras.activations", "class_name": "function", "config": fn.__name__,
                "registered_name": fn.__name__}
    if fn.__name__ == "<lambda>":
        raise TypeError("A lambda cannot be saved: Horn never writes code into model files. "
                        "Use a named function registered with `@horn.saving.register_keras_serializable()`.")
    return {"module": fn.__module__, "class_name": "function", "config": fn.__name__,
            "registered_name": fn.__name__}


def keras_layer_config(layer, config: dict) -> dict:
    """A Horn layer's ``get_config`` in the form Keras 3's constructor takes."""
    from frontend.models.input_layer import InputLayer
    if isinstance(layer, InputLayer):
        return config
    config = dict(config)
    config.pop("batch_input_shape", None)
    if isinstance(config.get("dtype"), str):
        config["dtype"] = dtype_policy_config(config["dtype"])
    return config


def build_config(layer) -> dict | None:
    """Keras' ``get_build_config``: the shape(s) the layer was built on."""
    from frontend.models.functional import Functional
    from frontend.models.sequential import Sequential
    if isinstance(layer, Functional):
        return {"input_shape": None}
    if isinstance(layer, Sequential):
        shape = layer._input_layer.batch_shape if layer.built and layer._input_layer is not None else None
        return {"input_shape": list(shape)} if shape is not None else None
    if hasattr(layer, "get_build_config"):      # several build arguments (MultiHeadAttention)
        return layer.get_build_config()
    shapes = getattr(layer, "_build_shapes_dict", None)
    if shapes is None and layer.built and hasattr(layer, "_executables"):
        # A subclassed model records no build shape; its first compiled signature is one.
        for key in layer._executables:
            specs = key[1].specs
            shapes = [s for _, s in specs] if len(specs) > 1 else specs[0][1]
            break
    return {"input_shape": shapes} if shapes is not None else None


def serialize_compile_config(config: dict, optimizer: Any = None) -> dict:
    """A compiled model's ``compile()`` arguments, objects as configs (``compile_config``).

    The optimizer is written from the live object, not the argument: ``"adam"``
    would lose a learning rate set since, and Keras always writes the object.
    """
    out = {}
    for key, value in config.items():
        value = optimizer if key == "optimizer" and optimizer is not None else value
        if key == "optimizer" and value is not None and not isinstance(value, (str, dict)):
            from frontend import optimizers
            out[key] = optimizers.serialize(value)
        else:
            out[key] = serialize_keras_object(value)
    return out


# -- deserialize ---------------------------------------------------------------------------------
class TensorRef:
    """A ``__keras_tensor__`` read back: which layer call made the tensor (resolved by
    the functional-model loader, which knows the layers)."""

    def __init__(self, shape: list | None, dtype: str | None, history: list):
        self.shape = shape
        self.dtype = dtype
        self.history = history

    def __repr__(self) -> str:
        return f"TensorRef({self.history})"


def deserialize_keras_object(config: Any, custom_objects: dict[str, Any] | None = None,
                             compile: bool = False) -> Any:
    """The object a serialized config describes.

    ``compile=True`` also runs a model's ``compile_config`` (only the top-level
    model of a file is compiled, as in Keras).
    """
    if config is None or isinstance(config, (int, float, bool)):
        return config
    if isinstance(config, str):
        # Legacy configs name plain functions by string; a custom one resolves here.
        obj = object_registration.get_registered_object(config, custom_objects)
        return obj if obj is not None else config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects) for x in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects) for k, v in config.items()}

    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    special = _SPECIAL.get(class_name)
    if special is not None:
        return special(inner, custom_objects)
    if "DTypePolicy" in str(class_name):
        return dtype_from_policy(config)
    module = config.get("module")
    registered = config.get("registered_name") or class_name
    if class_name == "function":
        return _resolve_function(inner, registered, module, custom_objects)
    if not isinstance(inner, dict):
        raise TypeError(f"Expected 'config' to be a dict for {class_name}, received {inner!r}")
    cls = registry.resolve(class_name, module, registered, custom_objects)
    if isinstance(cls, types.FunctionType):
        return cls
    if not hasattr(cls, "from_config"):
        raise TypeError(f"Unable to reconstruct an instance of '{class_name}': the class has no "
                        "`from_config()` method.")
    return instantiate(cls, inner, config, custom_objects, compile)


def instantiate(cls: type, inner: dict, config: dict, custom_objects: dict[str, Any] | None,
                compile: bool) -> Any:
    """``cls.from_config(inner)``, then build and (optionally) compile as the config says."""
    from frontend.layer import Layer
    if isinstance(cls, type) and issubclass(cls, Layer):
        inner = layer_config_from_keras(inner, config.get("class_name", cls.__name__))
    with object_registration.CustomObjectScope(custom_objects):
        try:
            instance = cls.from_config(inner)
        except TypeError as exc:
            raise TypeError(f"{cls.__name__} could not be rebuilt from its config: {exc}\n"
                            f"config={config}") from exc
        build = config.get("build_config")
        if build and isinstance(instance, Layer) and not instance.built:
            build_from_config(instance, build)
        compile_config = config.get("compile_config")
        if compile and compile_config:
            compile_from_config(instance, compile_config, custom_objects)
    return instance


def layer_config_from_keras(inner: dict, class_name: str) -> dict:
    """A Keras layer config as Horn's constructors take it (the dtype as a name)."""
    if "dtype" in inner:
        inner = dict(inner)
        inner["dtype"] = dtype_from_policy(inner["dtype"], f"Layer '{inner.get('name', class_name)}'")
    return inner


def _as_shape(value: Any) -> Any:
    """JSON lists back to shape tuples; a list of shapes stays a list of tuples."""
    if isinstance(value, list) and value and all(isinstance(v, list) or v is None for v in value) \
            and any(isinstance(v, list) for v in value):
        return [tuple(v) if isinstance(v, list) else v for v in value]
    return tuple(value) if isinstance(value, list) else value


def build_from_config(layer, build: dict) -> None:
    """Keras' ``build_from_config``: create the weights before they are loaded."""
    from frontend.models.model import Model
    if "input_shape" in build and build["input_shape"] is not None:
        shape = _as_shape(build["input_shape"])
        layer.build(shape)
        layer.built = True
        if not isinstance(layer, Model):
            layer._build_shapes_dict = shape
    elif "shapes_dict" in build:
        shapes = {k: _as_shape(v) for k, v in build["shapes_dict"].items()}
        layer.build(**shapes)
        layer.built = True


def compile_from_config(model, compile_config: dict, custom_objects: dict[str, Any] | None) -> None:
    """Keras' ``compile_from_config``: ``compile(**args)``, then build the optimizer
    so the saved optimizer state has variables to load into."""
    if not hasattr(model, "compile"):
        warnings.warn(f"'{model.name}' was saved compiled, but this model class has no `compile()`; "
                      "it is loaded uncompiled.", stacklevel=3)
        return
    args = {}
    for key, value in compile_config.items():
        if key == "optimizer" and isinstance(value, dict):
            from frontend import optimizers
            args[key] = optimizers.deserialize(
                value, custom_objects=object_registration.active_custom_objects(custom_objects))
        else:
            args[key] = deserialize_keras_object(value, custom_objects)
    # Keys Keras records that Horn's compile may not take (jit_compile, run_eagerly, ...).
    params = inspect.signature(model.compile).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        args = {k: v for k, v in args.items() if k in params}
    if args.get("run_eagerly"):
        args["run_eagerly"] = False      # Horn always compiles; eager mode is not a saved property
    model.compile(**args)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "build") and not getattr(optimizer, "built", False):
        optimizer.build(model.trainable_weights)     # the list the train step builds it on


def _resolve_function(name: Any, registered: str, module: str | None,
                      custom_objects: dict[str, Any] | None) -> Any:
    if not isinstance(name, str):
        raise TypeError(f"Expected a function name in the config; received {name!r}")
    for key in (registered, name):
        obj = object_registration.get_registered_object(key, custom_objects)
        if obj is not None:
            return obj
    ns = registry.namespace_of(module)
    tables = [ns] if ns else []
    if ns == "" or module in (None, "builtins"):
        # A bare name (legacy files, "builtins", plain "keras"): Keras searches its built-in
        # function modules. A function from any other module must be registered or given.
        tables += ["activations", "losses", "metrics"]
    for table in tables:
        obj = registry.namespace_table(table).get(name)
        if obj is not None:
            return obj
    raise TypeError(f"Could not locate function '{name}' (module '{module}'). Register it with "
                    f"`@horn.saving.register_keras_serializable()` or pass "
                    f"`custom_objects={{'{name}': {name}}}`.")


def _numpy(inner: dict, _custom) -> np.ndarray:
    return np.array(inner["value"], dtype=inner["dtype"])


def _slice(inner: dict, custom) -> slice:
    return slice(*(deserialize_keras_object(inner[k], custom) for k in ("start", "stop", "step")))


_SPECIAL = {
    "__keras_tensor__": lambda c, _: TensorRef(c["shape"], c["dtype"], c["keras_history"]),
    "__numpy__": _numpy,
    "__tensor__": _numpy,
    "__bytes__": lambda c, _: c["value"].encode("utf-8"),
    "__ellipsis__": lambda c, _: Ellipsis,
    "__slice__": _slice,
    "__lambda__": lambda c, _: _refuse_lambda(),
}


def _refuse_lambda():
    raise ValueError("The file contains a Python lambda (serialized bytecode). Horn does not run "
                     "code from model files; rewrite the lambda as a registered function.")

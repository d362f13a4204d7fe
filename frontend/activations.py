"""``keras.activations``: the activation functions, ``get``, ``serialize`` and
``deserialize``.

Most are the ``horn.ops.nn`` functions themselves; ``relu`` takes Keras'
extra arguments (``negative_slope``, ``max_value``, ``threshold``) and
follows ``keras.src.activations.activations.ReLU.static_call`` step by step.
"""
from __future__ import annotations

from typing import Callable

from frontend import ops
from frontend.ops.core import Tensor, symbolic
from frontend.ops.util import tensor

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "celu", "glu", "sigmoid",
           "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "soft_shrink",
           "tanh", "tanh_shrink", "threshold", "softmax", "log_softmax", "log_sigmoid", "softplus",
           "softsign", "silu", "swish", "mish", "squareplus", "sparse_plus", "sparse_sigmoid",
           "linear", "exponential", "get", "serialize", "deserialize"]


@symbolic
def relu(x: Tensor, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Tensor:
    """``max(x, 0)``; optionally a leaky slope below ``threshold`` and a cap at ``max_value``."""
    x = tensor(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return ops.leaky_relu(x, negative_slope=negative_slope)
        negative_part = ops.relu(-x + threshold) if threshold != 0 else ops.relu(-x)
    clip_max = max_value is not None
    if threshold != 0:
        y = ops.where(ops.greater(x, threshold), x, 0)
    elif max_value == 6:
        y, clip_max = ops.relu6(x), False
    else:
        y = ops.relu(x)
    if clip_max:
        y = ops.clip(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = ops.subtract(y, ops.multiply(negative_slope, negative_part))
    return y


@symbolic
def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    return ops.leaky_relu(x, negative_slope=negative_slope)


@symbolic
def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """Exact (erf) GELU by default: keras.activations.gelu differs from keras.ops.gelu here."""
    return ops.gelu(x, approximate=approximate)


@symbolic
def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.softmax(x, axis=axis)


@symbolic
def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.log_softmax(x, axis=axis)


@symbolic
def linear(x: Tensor) -> Tensor:
    """The identity."""
    return x


@symbolic
def exponential(x: Tensor) -> Tensor:
    return ops.exp(x)


relu6 = ops.relu6
elu = ops.elu
selu = ops.selu
celu = ops.celu
glu = ops.glu
sigmoid = ops.sigmoid
hard_sigmoid = ops.hard_sigmoid
hard_silu = ops.hard_silu
hard_swish = ops.hard_silu
hard_tanh = ops.hard_tanh
hard_shrink = ops.hard_shrink
soft_shrink = ops.soft_shrink
tanh = ops.tanh
tanh_shrink = ops.tanh_shrink
threshold = ops.threshold
log_sigmoid = ops.log_sigmoid
softplus = ops.softplus
softsign = ops.softsign
silu = ops.silu
swish = ops.silu
mish = ops.mish
squareplus = ops.squareplus
sparse_plus = ops.sparse_plus
sparse_sigmoid = ops.sparse_sigmoid

# Keras' lookup table: each function under its own name, plus the two aliases.
_BY_NAME: dict[str, Callable] = {
    fn.__name__: fn for fn in (
        relu, relu6, leaky_relu, elu, selu, gelu, celu, glu, sigmoid, hard_sigmoid, hard_silu,
        hard_tanh, hard_shrink, soft_shrink, tanh, tanh_shrink, threshold, softmax, log_softmax,
        log_sigmoid, softplus, softsign, silu, mish, squareplus, sparse_plus, sparse_sigmoid, linear,
        exponential)
}
_BY_NAME["swish"] = silu
_BY_NAME["hard_swish"] = hard_silu
_NAME_OF = {id(fn): name for name, fn in _BY_NAME.items() if name not in ("swish", "hard_swish")}


def get(identifier) -> Callable:
    """An activation function from a name, a config, a callable, or None (linear)."""
    if identifier is None:
        return linear
    obj = identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _BY_NAME.get(identifier)
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret activation function identifier: {identifier}")


def serialize(activation: Callable):
    """A built-in's name (as Keras writes it in configs); a dict naming anything else."""
    name = _NAME_OF.get(id(activation))
    if name is not None:
        return name
    if hasattr(activation, "get_config"):
        return {"module": type(activation).__module__, "class_name": type(activation).__name__,
                "config": activation.get_config(), "registered_name": None}
    fn_name = getattr(activation, "__name__", None)
    if fn_name is None:
        raise ValueError(f"Unknown activation function '{activation}' cannot be serialized.")
    # A registered function is saved under its "Package>name", as Keras writes it.
    from frontend.saving.object_registration import get_registered_name
    fn_name = get_registered_name(activation)
    return {"module": getattr(activation, "__module__", None), "class_name": "function",
            "config": fn_name, "registered_name": fn_name}


def deserialize(config, custom_objects: dict | None = None) -> Callable:
    """The function a ``serialize`` result (or a Keras config) names; registered functions
    and those of an active ``custom_object_scope`` resolve too."""
    from frontend.saving.object_registration import active_custom_objects
    custom = active_custom_objects(custom_objects)
    name = config
    if isinstance(config, dict):
        inner = config.get("config")
        name = inner if isinstance(inner, str) else config.get("class_name")
    fn = (custom.get(name) or _BY_NAME.get(name)) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"Could not interpret activation function identifier: {config}")
    return fn

"""The Layer: Keras' lifecycle (``__init__`` validates, ``build`` makes weights,
``call`` is a few ops) and the single ``__call__`` that serves all three worlds:

* KerasTensors (functional construction): the layer is traced in isolation
  on proxies of the inputs' types to learn its output types, and a
  :class:`CallNode` records the call so models can replay it;
* TracedTensors (model tracing): ``call`` runs under the tracer and emits IR;
* arrays (eager): ``call`` runs with ops computing through their reference
  implementations.

``training`` resolves from the explicit argument, else the enclosing call's
value, else the layer's default; masks ride on tensors (``_keras_mask``) and
reach ``call(mask=...)`` when its signature takes one.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from frontend import backend
from frontend.input_spec import assert_input_compatibility
from frontend.tensors import KerasTensor, TracedTensor
from frontend.tracing import Tracer, current_training, layer_call, tracing
from frontend.variables import Variable

_LAYER_KWARGS = {"name", "trainable", "dtype", "input_shape", "input_dim", "batch_size",
                 "batch_input_shape", "autocast", "input_length"}


@dataclass
class CallNode:
    """One call of a layer in a functional graph: which tensors went in and came out."""

    layer: "Layer"
    args: tuple
    kwargs: dict
    inputs: list[KerasTensor]         # flattened KerasTensors among args/kwargs
    outputs: list[KerasTensor]
    output_structure: Any


def flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        return [y for e in x for y in flatten(e)]
    if isinstance(x, dict):
        return [y for k in x for y in flatten(x[k])]
    return [x]


def map_structure(fn, x):
    if isinstance(x, list):
        return [map_structure(fn, e) for e in x]
    if isinstance(x, tuple):
        return tuple(map_structure(fn, e) for e in x)
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    return fn(x)


def _shape_of(x):
    return tuple(x.shape) if hasattr(x, "shape") else None


class Layer:
    """Base class of every layer and model."""

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype=None, **kwargs):
        unknown = set(kwargs) - _LAYER_KWARGS
        if unknown:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                             f"{ {k: kwargs[k] for k in sorted(unknown)} }")
        self._tracked: list[Any] = []
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._trainable = trainable
        self.dtype = backend.standardize_dtype(dtype)
        self.built = False
        self.input_spec = None
        self.supports_masking = False
        self._weights_list: list[Variable] = []
        self._inbound_nodes: list[CallNode] = []
        self._build_shapes_dict = None
        shape = kwargs.get("input_shape")
        if shape is None and kwargs.get("input_dim") is not None:
            shape = (kwargs["input_dim"],)
        if kwargs.get("batch_input_shape") is not None:
            self._batch_input_shape = tuple(kwargs["batch_input_shape"])
        elif shape is not None:
            self._batch_input_shape = (kwargs.get("batch_size"),) + tuple(shape)
        else:
            self._batch_input_shape = None

    # -- sublayer tracking ----------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and "_tracked" in self.__dict__:
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(v, Layer) and v is not self and all(v is not t for t in self._tracked):
                    self._tracked.append(v)
        super().__setattr__(name, value)

    @property
    def _sublayers(self) -> list["Layer"]:
        return [t for t in self._tracked if isinstance(t, Layer)]

    # -- weights ----------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable: bool = True,
                   name: str | None = None, regularizer=None, constraint=None, **kwargs) -> Variable:
        from frontend import initializers
        shape = () if shape is None else tuple(int(d) for d in shape)
        init = initializers.get(initializer if initializer is not None else "zeros")
        dtype = backend.standardize_dtype(dtype or self.dtype)
        value = init(shape, dtype=dtype)
        name = name or f"variable_{len(self._weights_list)}"
        var = Variable(value, name=name, trainable=trainable, dtype=dtype, path=f"{self.name}/{name}")
        var.regularizer = regularizer
        var.constraint = constraint
        self._weights_list.append(var)
        return var

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for sub in self._sublayers:
            sub.trainable = value

    @property
    def weights(self) -> list[Variable]:
        out = list(self._weights_list)
        for sub in self._sublayers:
            for w in sub.weights:
                if all(w is not o for o in out):
                    out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        out = [w for w in self._weights_list if w.trainable]
        for sub in self._sublayers:
            out += [w for w in sub.trainable_weights if all(w is not o for o in out)]
        return out

    @property
    def non_trainable_weights(self) -> list[Variable]:
        tw = self.trainable_weights
        return [w for w in self.weights if all(w is not t for t in tw)]

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer '{self.name}' expected {len(mine)} weights, received {len(weights)}")
        for var, value in zip(mine, weights):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"Layer '{self.name}' weight '{var.name}' has shape {var.shape}, "
                                 f"received a value of shape {value.shape}")
        for var, value in zip(mine, weights):
            var.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the layer "
                             "isn't built. You can build it manually via: `layer.build(input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- lifecycle --------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement call()")

    def add_loss(self, loss) -> None:
        """A scalar added to the training objective (collected while the step is traced)."""
        from frontend.tracing import active_tracer
        tracer = loss.tracer if isinstance(loss, TracedTensor) else active_tracer()
        if tracer is not None:
            from frontend.ops.core import convert
            tracer.losses.append(convert(loss, tracer))

    def _add_activity_loss(self, tracer, outputs) -> None:
        # Keras 3: regularizer(output) / batch size, for each tensor output.
        from frontend import ops, regularizers
        reg = regularizers.get(self.activity_regularizer)
        for o in flatten(outputs):
            if isinstance(o, TracedTensor):
                loss = reg(o)
                if len(o.shape):
                    loss = ops.divide(loss, batch_size_of(o, loss.dtype))
                tracer.losses.append(loss)

    @property
    def regularization_losses_of_weights(self):
        """``regularizer(variable)`` for each of this layer's own weights that has one.

        Own weights only: callers walk the layer tree, so sublayers count once.
        """
        from frontend import regularizers
        out = []
        for w in self._weights_list:
            reg = regularizers.get(getattr(w, "regularizer", None))
            if reg is not None:
                out.append(reg(w))
        return out

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Traced, not hand-written: run ``call`` on proxies of ``input_shape``."""
        tracer = Tracer(f"{self.name}_shape")
        tree = _as_shape_tree(input_shape)
        # A shape is itself a tuple: map over the list of shapes, never into a shape's dims.
        proxies = ([tracer.input(s, self.dtype) for s in tree] if isinstance(tree, list)
                   else tracer.input(tree, self.dtype))
        out = self(proxies)
        return map_structure(lambda t: t.shape, out)

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = self._batch_input_shape
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # -- call -------------------------------------------------------------
    def _maybe_build(self, first_arg) -> None:
        if self.built:
            return
        shapes = map_structure(_shape_of, first_arg)
        self.build(shapes)
        self.built = True
        self._build_shapes_dict = shapes

    def _call_signature(self) -> inspect.Signature:
        return inspect.signature(self.call)

    def __call__(self, *args, **kwargs):
        flat = flatten((args, kwargs))
        if any(isinstance(x, KerasTensor) for x in flat):
            return self._functional_call(args, kwargs)
        params = self._call_signature().parameters
        training = kwargs.pop("training", None)
        if training is None:
            training = current_training()
        if "training" in params:
            kwargs["training"] = bool(training) if training is not None else False
        # The mask riding on the inputs: handed to call() when it takes one, and to
        # compute_mask() either way, so a masking-transparent layer (Dense, Dropout, ...
        # supports_masking with no mask argument) passes it on, as in Keras.
        input_mask = kwargs.get("mask")
        if input_mask is None and args:
            masks = [getattr(x, "_keras_mask", None) for x in flatten(args[0])]
            if any(m is not None for m in masks):
                input_mask = masks[0] if len(masks) == 1 else masks
        if "mask" in params and input_mask is not None:
            kwargs["mask"] = input_mask
        if args and not any(isinstance(x, TracedTensor) for x in flatten(args)):
            args = (map_structure(_to_array, args[0]),) + tuple(args[1:])
        assert_input_compatibility(self.input_spec, args[0] if args else None, self.name)
        with layer_call(self, training):
            tracer = _tracer_of(flat)
            scope = tracer.scope(self.name) if tracer is not None else _null()
            # The tracer is made active too, so ops on Variables alone (a kernel reshaped
            # or flipped, BN's rsqrt(moving_variance + eps)) bind them as parameters
            # instead of evaluating eagerly into constants.
            active = tracing(tracer) if tracer is not None else _null()
            with scope, active:
                _reraise_with_layer(self, lambda: self._maybe_build(args[0] if args else None))
                assert_input_compatibility(self.input_spec, args[0] if args else None, self.name)
                outputs = _reraise_with_layer(self, lambda: self.call(*args, **kwargs))
                if tracer is not None and getattr(self, "activity_regularizer", None) is not None:
                    self._add_activity_loss(tracer, outputs)
        if args:
            mask = self.compute_mask(args[0], input_mask)
            if mask is not None:
                for o in flatten(outputs):
                    if isinstance(o, TracedTensor):
                        o._keras_mask = mask
        return outputs

    def _functional_call(self, args, kwargs):
        """Learns output types by tracing on proxies, then records the call for replay."""
        tracer = Tracer(f"{self.name}_spec")
        inputs = [x for x in flatten((args, kwargs)) if isinstance(x, KerasTensor)]

        def proxy(x):
            if isinstance(x, KerasTensor):
                t = tracer.input(x.shape, x.dtype)
                return t
            return x

        p_args = map_structure(proxy, args)
        p_kwargs = map_structure(proxy, kwargs)
        out = self(*p_args, **p_kwargs)
        outputs = []

        def to_keras(t):
            if not isinstance(t, TracedTensor):
                raise TypeError(f"Layer '{self.name}' returned a non-tensor from a functional call: {t!r}")
            kt = KerasTensor(t.shape, t.dtype, name=f"{self.name}_{len(outputs)}")
            kt._keras_history = (self, len(self._inbound_nodes), len(outputs))
            outputs.append(kt)
            return kt

        structure = map_structure(to_keras, out)
        node = CallNode(self, args, kwargs, inputs, outputs, structure)
        self._inbound_nodes.append(node)
        return structure

    # -- graph accessors ----------------------------------------------------
    def _single_node(self, what: str) -> CallNode:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined {what}.")
        return self._inbound_nodes[0]

    @property
    def input(self):
        node = self._single_node("input")
        return node.inputs[0] if len(node.inputs) == 1 else node.inputs

    @property
    def output(self):
        return self._single_node("output").output_structure

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def batch_size_of(x, dtype="float32"):
    """The size of axis 0 as a scalar tensor, also when it is the symbolic batch."""
    from frontend import ops
    if x.shape[0] is not None:
        return ops.cast(ops.convert_to_tensor(x.shape[0]), dtype)
    column = x[(slice(None),) + (0,) * (len(x.shape) - 1)]
    return ops.sum(ops.ones_like(ops.cast(column, dtype)))


def _as_shape_tree(shape):
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _to_array(x):
    if isinstance(x, (np.ndarray, Variable)) or x is None:
        return x
    if isinstance(x, (int, float, bool, list, tuple)) or hasattr(x, "__array__"):
        arr = np.asarray(x)
        return arr.astype(backend.floatx()) if arr.dtype == np.float64 else arr
    return x


def _tracer_of(flat):
    for x in flat:
        if isinstance(x, TracedTensor):
            return x.tracer
    return None


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _reraise_with_layer(layer: Layer, fn):
    """Runs ``fn``; an error from inside a layer's call names the layer (once, innermost)."""
    try:
        return fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if getattr(exc, "_horn_layer_named", False):
            raise
        new = type(exc)(f"Exception encountered when calling {type(layer).__name__}.call() "
                        f"(layer '{layer.name}'): {msg}")
        new._horn_layer_named = True
        raise new from None

"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute,
RepeatVector, Identity, with Keras 3's arguments, messages, configs, and
weight names and order (kernel, then bias) so Keras weights load in order.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from frontend import activations, initializers, ops
from frontend.input_spec import InputSpec
from frontend.layer import Layer
from frontend.random import SeedGenerator, dropout
from frontend.layers.arguments import pop_activity_regularizer

__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
           "Identity"]


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` over the last axis of inputs of any rank >= 2."""

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None,
                 lora_rank: int | None = None, lora_alpha: float | None = None,
                 quantization_config: Any = None, **kwargs):
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units}")
        if lora_rank:
            raise NotImplementedError(f"Dense: LoRA is not supported by Horn. Received: lora_rank={lora_rank}")
        if quantization_config is not None:
            raise NotImplementedError("Dense: quantized layers are not supported by Horn. "
                                      f"Received: quantization_config={quantization_config}")
        self.activity_regularizer = pop_activity_regularizer(kwargs)
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.kernel = None
        self.bias = None
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape) -> None:
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense layer '{self.name}': the last dimension of the inputs must be "
                             f"known. Received: input_shape={tuple(input_shape)}")
        self.kernel = self.add_weight(name="kernel", shape=(in_dim, self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})
        self.built = True

    def call(self, inputs):
        # Rank > 2 inputs stay batched matmuls: (N, ..., in) @ (in, units); merging the
        # batch with the other leading axes is not expressible with a symbolic batch.
        x = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x) if self.activation is not None else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "units": self.units,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": self.kernel_regularizer,
                "bias_regularizer": self.bias_regularizer,
                "kernel_constraint": self.kernel_constraint,
                "bias_constraint": self.bias_constraint,
                "quantization_config": None}


class Activation(Layer):
    """Applies an activation function (by name or callable)."""

    def __init__(self, activation: Any, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Identity at inference; in training, ``keras.random.dropout`` with a counter-based RNG
    (traced: keyed by the step's seed and counter; eager: by this layer's SeedGenerator)."""

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float value "
                             f"between 0 and 1. Received: rate={rate}")
        self.rate = rate
        self.seed = seed
        self.noise_shape = _validate_noise_shape(noise_shape)
        self.supports_masking = True
        self.seed_generator = SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training: bool = False):
        if training and self.rate > 0:
            return dropout(inputs, self.rate, noise_shape=self.noise_shape, seed=self.seed_generator)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


def _validate_noise_shape(noise_shape):
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str):
        raise ValueError("Invalid value received for argument `noise_shape`. Expected a tuple or list "
                         f"of integers. Received: noise_shape={noise_shape}")
    try:
        noise_shape = tuple(noise_shape)
    except TypeError:
        raise ValueError("Invalid value received for argument `noise_shape`. Expected an iterable of "
                         f"integers (e.g., a tuple or list). Received: noise_shape={noise_shape}") from None
    for i, dim in enumerate(noise_shape):
        if dim is None:
            continue
        if not isinstance(dim, int):
            raise ValueError("Invalid value received for argument `noise_shape`. Expected all elements "
                             f"to be integers or None. Received element at index {i}: {dim} "
                             f"(type: {type(dim).__name__})")
        if dim <= 0:
            raise ValueError("Invalid value received for argument `noise_shape`. Expected all "
                             "dimensions to be positive integers or None. Received negative or zero "
                             f"value at index {i}: {dim}")
    return noise_shape


class Flatten(Layer):
    """``(batch, ...) -> (batch, prod(...))``; channels_first inputs are moved to channels last first."""

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        fmt = "channels_last" if data_format is None else str(data_format).lower()
        if fmt not in ("channels_first", "channels_last"):
            raise ValueError('The `data_format` argument must be one of "channels_first", '
                             f'"channels_last". Received: {data_format}')
        self.data_format = fmt
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        shape = ops.shape(inputs)
        rank = len(shape)
        if self.data_format == "channels_first" and rank > 1:
            inputs = ops.transpose(inputs, (0, *range(2, rank), 1))
        flat = math.prod(shape[1:]) if None not in shape[1:] else -1
        # shape[0] is None for the symbolic batch: reshape keeps it symbolic.
        return ops.reshape(inputs, (shape[0], flat))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes the non-batch axes to ``target_shape`` (one ``-1`` is inferred)."""

    def __init__(self, target_shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        if any(isinstance(d, int) and d < -1 for d in target_shape):
            raise ValueError("Each dimension in `target_shape` must be a non-negative integer, or `-1` "
                             f"for a single unknown dimension. Received: target_shape={target_shape}.")
        if target_shape.count(-1) > 1:
            raise ValueError("There must be at most one unknown dimension (-1) in `target_shape`. "
                             f"Received: target_shape={target_shape}.")
        self.target_shape = target_shape
        self.built = True

    def call(self, inputs):
        return ops.reshape(inputs, (ops.shape(inputs)[0],) + self.target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of ``1..rank-1``."""

    def __init__(self, dims: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of "
                             f"indices in `dims` must be consecutive and start from 1. Received dims={dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """``(batch, features) -> (batch, n, features)``."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class Identity(Layer):
    """Returns its inputs unchanged."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

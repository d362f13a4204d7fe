"""Convolution layers: Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D,
Conv1D/2D/3DTranspose, channels-last.

Constructor arguments, defaults, validation messages, ``get_config`` keys and
the names and creation order of weights follow ``keras/src/layers/convolutional``
so weights move between Horn and Keras with ``set_weights(get_weights())``.
Regularizers and constraints are accepted and attached to the Variables
(``Variable.regularizer`` / ``.constraint``) for the training step to apply;
``activity_regularizer`` is kept on the layer for the same reason.
"""
from __future__ import annotations

from typing import Any, Sequence

from frontend import activations, initializers, ops
from frontend.input_spec import InputSpec
from frontend.layer import Layer
from frontend.layers.arguments import (pop_activity_regularizer, standardize_data_format,
                                       standardize_padding, standardize_tuple)

IntOrTuple = int | Sequence[int]


def _positive(name: str, value: int | None, what: str = "argument") -> None:
    if value is not None and value <= 0:
        raise ValueError(f"Invalid value for {what} `{name}`. Expected a strictly positive value. "
                         f"Received {name}={value}.")


def _check_nonzero(kernel_size: tuple[int, ...], strides: tuple[int, ...]) -> None:
    if not all(kernel_size):
        raise ValueError(f"The argument `kernel_size` cannot contain 0. Received kernel_size={kernel_size}.")
    if not all(strides):
        raise ValueError(f"The argument `strides` cannot contains 0. Received strides={strides}")


def _check_strides_dilation(strides: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                         f"Received: strides={strides} and dilation_rate={dilation}")


class _ConvBase(Layer):
    """What every convolution family shares: spatial arguments, activation, bias."""

    rank: int = 2

    def __init__(self, kernel_size: IntOrTuple, strides: IntOrTuple, padding: str,
                 data_format: str | None, dilation_rate: IntOrTuple, activation: Any,
                 use_bias: bool, bias_initializer: Any, bias_regularizer: Any, bias_constraint: Any,
                 allow_causal: bool, **kwargs):
        self.activity_regularizer = pop_activity_regularizer(kwargs)
        super().__init__(**kwargs)
        n = self.rank
        self.kernel_size = standardize_tuple(kernel_size, n, "kernel_size")
        self.strides = standardize_tuple(strides, n, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, n, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=allow_causal)
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = bias_regularizer
        self.bias_constraint = bias_constraint
        self.bias = None
        self.input_spec = InputSpec(min_ndim=n + 2)

    def _set_channel_spec(self, input_shape) -> int:
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{type(self).__name__}: the channel dimension of the inputs must be "
                             f"known. Received input_shape={tuple(input_shape)}")
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={-1: channels})
        return int(channels)

    def _add_bias(self, units: int) -> None:
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, trainable=True,
                                        dtype=self.dtype)

    def _finish(self, outputs):
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)   # (..., units) + (units,): broadcasts on channels
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _base_config(self) -> dict:
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": self.bias_regularizer,
            "activity_regularizer": self.activity_regularizer,
            "bias_constraint": self.bias_constraint,
        })
        return config


# -- regular convolution ---------------------------------------------------------------------
class BaseConv(_ConvBase):
    """N-d convolution with ``groups``; Keras' ``BaseConv``."""

    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: IntOrTuple = 1, groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         allow_causal=self.rank == 1, **kwargs)
        self.filters = filters
        self.groups = groups
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = kernel_constraint
        self.kernel = None
        if filters is not None and filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly positive "
                             f"value. Received filters={filters}.")
        if groups <= 0:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups}.")
        if filters is not None and filters % groups != 0:
            raise ValueError("The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={groups}, filters={filters}.")
        _check_nonzero(self.kernel_size, self.strides)
        _check_strides_dilation(self.strides, self.dilation_rate)

    def build(self, input_shape) -> None:
        channels = self._set_channel_spec(input_shape)
        if channels % self.groups != 0:
            raise ValueError(
                "The number of input channels must be evenly divisible by the number of groups. "
                f"Received groups={self.groups}, but the input has {channels} channels "
                f"(full input shape is {tuple(input_shape)}).")
        # Weight names and order as Keras: kernel, then bias.
        self.kernel = self.add_weight(name="kernel",
                                      shape=self.kernel_size + (channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, trainable=True,
                                      dtype=self.dtype)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        # 'causal' (Conv1D) is the left-only padding Keras applies with ops.pad before a
        # 'valid' conv; ops.conv folds it into the CONV's explicit padding.
        outputs = ops.conv(inputs, self.kernel, strides=self.strides, padding=self.padding,
                                dilation_rate=self.dilation_rate)
        return self._finish(outputs)

    def get_config(self) -> dict:
        config = self._base_config()
        config.update({
            "filters": self.filters,
            "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": self.kernel_regularizer,
            "kernel_constraint": self.kernel_constraint,
        })
        return config


class Conv1D(BaseConv):
    """1D convolution over ``(batch, steps, channels)``; ``padding`` may be ``"causal"``."""

    rank = 1


class Conv2D(BaseConv):
    """2D convolution over ``(batch, height, width, channels)``."""

    rank = 2


class Conv3D(BaseConv):
    """3D convolution over ``(batch, depth, height, width, channels)``."""

    rank = 3


# -- depthwise -------------------------------------------------------------------------------
class BaseDepthwiseConv(_ConvBase):
    """Each input channel convolved with ``depth_multiplier`` filters of its own."""

    def __init__(self, kernel_size: IntOrTuple, strides: IntOrTuple = 1, padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: IntOrTuple = 1, activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 depthwise_constraint: Any = None, bias_constraint: Any = None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         allow_causal=False, **kwargs)
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = depthwise_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.kernel = None
        if depth_multiplier is not None and depth_multiplier <= 0:
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a strictly "
                             f"positive value. Received depth_multiplier={depth_multiplier}.")
        _check_nonzero(self.kernel_size, self.strides)

    def build(self, input_shape) -> None:
        channels = self._set_channel_spec(input_shape)
        # Keras names the depthwise weight "kernel" (not "depthwise_kernel") in this family.
        self.kernel = self.add_weight(name="kernel",
                                      shape=self.kernel_size + (channels, self.depth_multiplier),
                                      initializer=self.depthwise_initializer,
                                      regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint, trainable=True,
                                      dtype=self.dtype)
        self._add_bias(channels * self.depth_multiplier)
        self.built = True

    def call(self, inputs):
        outputs = ops.depthwise_conv(inputs, self.kernel, strides=self.strides,
                                          padding=self.padding, dilation_rate=self.dilation_rate)
        return self._finish(outputs)

    def get_config(self) -> dict:
        config = self._base_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": self.depthwise_regularizer,
            "depthwise_constraint": self.depthwise_constraint,
        })
        return config


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1D convolution over ``(batch, steps, channels)``."""

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2D convolution over ``(batch, height, width, channels)``."""

    rank = 2


# -- separable -------------------------------------------------------------------------------
class BaseSeparableConv(_ConvBase):
    """A depthwise convolution followed by a pointwise (1x1) convolution to ``filters``."""

    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: IntOrTuple = 1, depth_multiplier: int = 1, activation: Any = None,
                 use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, pointwise_regularizer: Any = None,
                 bias_regularizer: Any = None, depthwise_constraint: Any = None,
                 pointwise_constraint: Any = None, bias_constraint: Any = None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         allow_causal=False, **kwargs)
        self.filters = filters
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = depthwise_regularizer
        self.pointwise_regularizer = pointwise_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.pointwise_constraint = pointwise_constraint
        self.depthwise_kernel = None
        self.pointwise_kernel = None
        if depth_multiplier is not None and depth_multiplier <= 0:
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a strictly "
                             f"positive value. Received depth_multiplier={depth_multiplier}.")
        if filters is not None and filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly positive "
                             f"value. Received filters={filters}.")
        if not all(self.kernel_size):
            raise ValueError("The argument `kernel_size` cannot contain 0. Received: "
                             f"kernel_size={self.kernel_size}.")
        if not all(self.strides):
            raise ValueError(f"The argument `strides` cannot contains 0(s). Received: strides={self.strides}")

    def build(self, input_shape) -> None:
        channels = self._set_channel_spec(input_shape)
        # Keras order: depthwise_kernel, pointwise_kernel, bias.
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint, trainable=True, dtype=self.dtype)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel",
            shape=(1,) * self.rank + (self.depth_multiplier * channels, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint, trainable=True, dtype=self.dtype)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        outputs = ops.separable_conv(inputs, self.depthwise_kernel, self.pointwise_kernel,
                                          strides=self.strides, padding=self.padding,
                                          dilation_rate=self.dilation_rate)
        return self._finish(outputs)

    def get_config(self) -> dict:
        config = self._base_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": self.depthwise_regularizer,
            "pointwise_regularizer": self.pointwise_regularizer,
            "depthwise_constraint": self.depthwise_constraint,
            "pointwise_constraint": self.pointwise_constraint,
        })
        return config


class SeparableConv1D(BaseSeparableConv):
    """Separable 1D convolution over ``(batch, steps, channels)``."""

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """Separable 2D convolution over ``(batch, height, width, channels)``."""

    rank = 2


# -- transposed ------------------------------------------------------------------------------
class BaseConvTranspose(_ConvBase):
    """Transposed convolution; kernel ``(*kernel_size, filters, in_channels)`` as Keras."""

    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", output_padding: IntOrTuple | None = None,
                 data_format: str | None = None, dilation_rate: IntOrTuple = 1,
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         allow_causal=False, **kwargs)
        self.filters = filters
        self.output_padding = (None if output_padding is None else
                               standardize_tuple(output_padding, self.rank, "output_padding",
                                                 allow_zero=True))
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = kernel_constraint
        self.kernel = None
        if filters is not None and filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly positive "
                             f"value. Received filters={filters}.")
        if not all(self.kernel_size):
            raise ValueError("The argument `kernel_size` cannot contain 0. Received "
                             f"kernel_size={self.kernel_size}.")
        if not all(self.strides):
            raise ValueError(f"The argument `strides` cannot contains 0. Received strides={self.strides}.")
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        "`output_padding` must be strictly less than `strides` for all dimensions. "
                        f"At dimension {i}, `output_padding` is {op} but `strides` is {s}. "
                        f"Received: output_padding={self.output_padding}, strides={self.strides}")
        _check_strides_dilation(self.strides, self.dilation_rate)

    def build(self, input_shape) -> None:
        channels = self._set_channel_spec(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (self.filters, channels),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, trainable=True,
                                      dtype=self.dtype)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        outputs = ops.conv_transpose(inputs, self.kernel, strides=self.strides,
                                          padding=self.padding, output_padding=self.output_padding,
                                          dilation_rate=self.dilation_rate)
        return self._finish(outputs)

    def get_config(self) -> dict:
        config = self._base_config()
        config.update({
            "filters": self.filters,
            "output_padding": self.output_padding,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": self.kernel_regularizer,
            "kernel_constraint": self.kernel_constraint,
        })
        return config


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1D convolution over ``(batch, steps, channels)``."""

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Transposed 2D convolution over ``(batch, height, width, channels)``."""

    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    """Transposed 3D convolution over ``(batch, depth, height, width, channels)``."""

    rank = 3

    # Keras' Conv3DTranspose alone puts data_format before output_padding positionally.
    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", data_format: str | None = None,
                 output_padding: IntOrTuple | None = None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding=output_padding,
                         data_format=data_format, **kwargs)


# Keras' aliases.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution2DTranspose, Convolution3DTranspose = Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D

__all__ = ["Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
           "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
           "Convolution1D", "Convolution2D", "Convolution3D", "Convolution2DTranspose",
           "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D"]

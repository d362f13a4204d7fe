"""Convolution and pooling ops with ``keras.ops.nn`` names and signatures.

Everything is channels-last, the layout of the IR's CONV and POOL ops:
inputs ``(batch, *spatial, channels)``, kernels ``(*window, in // groups, out)``.
String paddings are turned into explicit ``(low, high)`` pairs here, with the
formulas XLA (and so Keras' numpy and JAX backends) uses, so every later
facet sees one meaning. Transposed convolution is not an op of its own: it is
a CONV over the input with ``lhs_dilation = strides`` and a flipped,
channel-swapped kernel, padded so that shape and values match Keras.
"""
from __future__ import annotations

import math
from typing import Sequence

from frontend.backend import floatx
from frontend.ops.core import Tensor, apply, dtype_of, prepare, symbolic
from ir.dtypes import DType
from ir.attrs import ConvAttrs, PoolAttrs, PoolKind, ReshapeAttrs, SliceAttrs, TransposeAttrs
from ir.opcodes import Op
from ir.ops.window import window_output_size

Pads = tuple[tuple[int, int], ...]


# -- argument normalization ------------------------------------------------------------------
def check_data_format(data_format: str | None, op_name: str) -> None:
    """Horn compiles channels-last only; anything else is refused with what is supported."""
    if data_format is None or data_format == "channels_last":
        return
    if data_format == "channels_first":
        raise ValueError(
            f"{op_name}: data_format='channels_first' is not supported by Horn; only "
            "'channels_last' (inputs shaped (batch, *spatial, channels)) is. Transpose the "
            "input to channels-last first.")
    raise ValueError(f"{op_name}: data_format must be 'channels_last' or 'channels_first'. "
                     f"Received: data_format={data_format!r}")


def spatial_tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """An int or ``n`` ints as a tuple of ``n`` ints (``keras.ops`` accepts both)."""
    if isinstance(value, int):
        return (int(value),) * n
    out = tuple(int(v) for v in value)
    if len(out) == 1 and n > 1:
        out = out * n
    if len(out) != n:
        raise ValueError(f"The `{name}` argument must be an int or a tuple of {n} integers. "
                         f"Received {name}={value}")
    return out


def same_padding(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """XLA's 'SAME': output ``ceil(size / stride)``, the extra (odd) pad on the high side."""
    span = (window - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def explicit_padding(padding: str, sizes: Sequence[int], window: Sequence[int],
                     strides: Sequence[int], dilation: Sequence[int], *,
                     allow_causal: bool = False) -> Pads:
    """``"valid"``, ``"same"`` (or ``"causal"`` in 1-D) as (low, high) pairs per spatial axis."""
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode == "valid":
        return tuple((0, 0) for _ in sizes)
    if mode == "same":
        return tuple(same_padding(s, k, st, d) for s, k, st, d in zip(sizes, window, strides, dilation))
    if mode == "causal" and allow_causal:
        if len(sizes) != 1:
            raise ValueError("padding='causal' is only defined for 1-D convolution. "
                             f"Received an input with {len(sizes)} spatial dimensions.")
        # Everything on the left: output t sees inputs <= t (Keras' Conv1D causal padding).
        return (((window[0] - 1) * dilation[0], 0),)
    allowed = "'valid', 'same'" + (" or 'causal' (1-D)" if allow_causal else "")
    raise ValueError(f"The `padding` argument must be one of {allowed}. Received: padding={padding}")


def _float_operands(*xs: Tensor) -> list[Tensor]:
    """Operands in one floating dtype (CONV is floating only): all-integer operands become floatx."""
    dts = [dtype_of(x) for x in xs]
    dtype = DType.from_any(floatx()) if all(d is not None and not d.is_floating for d in dts) else None
    operands, _ = prepare(*xs, dtype=dtype)
    return operands


def _spatial_shape(x: Tensor, n: int, op_name: str) -> tuple[int, ...]:
    shape = tuple(x.shape)
    if len(shape) != n + 2:
        raise ValueError(f"{op_name}: expected an input of rank {n + 2} (batch, {n} spatial, channels) "
                         f"for a kernel with {n} spatial dims. Received input shape {shape}")
    spatial = shape[1:-1]
    if any(d is None for d in spatial) or shape[-1] is None:
        raise ValueError(f"{op_name}: spatial and channel dimensions must be known. "
                         f"Received input shape {shape}")
    return tuple(int(d) for d in spatial)


def _check_nonempty(op_name: str, in_sp, out_sp, input_shape) -> None:
    if any(o <= 0 for o in out_sp) and all(s > 0 for s in in_sp):
        raise ValueError(
            f"{op_name}: the operation resulted in an empty output (spatial output shape "
            f"{tuple(out_sp)} for input shape {tuple(input_shape)}). This can happen if the input "
            "is too small for the given kernel size, strides, dilation rate, and padding mode.")


# -- data movement helpers (core ops) -------------------------------------------------------
def _reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    return apply(Op.RESHAPE, [x], ReshapeAttrs(tuple(shape)))


def _flip_and_swap_io(kernel: Tensor) -> Tensor:
    """``(*window, a, b)`` -> ``(*window, b, a)`` with every window axis reversed."""
    shape = tuple(kernel.shape)
    n = len(shape) - 2
    flipped = apply(Op.SLICE, [kernel], SliceAttrs(
        starts=tuple(k - 1 for k in shape[:n]) + (0, 0),
        stops=(None,) * (n + 2),
        steps=(-1,) * n + (1, 1)))
    return apply(Op.TRANSPOSE, [flipped], TransposeAttrs(tuple(range(n)) + (n + 1, n)))


# -- convolutions -----------------------------------------------------------------------------
def _conv(inputs: Tensor, kernel: Tensor, strides, padding, dilation_rate, op_name: str,
          groups: int | None = None) -> Tensor:
    n = len(kernel.shape) - 2
    if n < 1:
        raise ValueError(f"{op_name}: the kernel must have rank >= 3 (*window, in, out). "
                         f"Received kernel shape {tuple(kernel.shape)}")
    in_sp = _spatial_shape(inputs, n, op_name)
    window = tuple(int(k) for k in kernel.shape[:n])
    strides = spatial_tuple(strides, n, "strides")
    dilation = spatial_tuple(dilation_rate, n, "dilation_rate")
    channels, kernel_in = int(inputs.shape[-1]), int(kernel.shape[-2])
    if groups is None:
        if channels % kernel_in:
            raise ValueError(
                f"{op_name}: the number of input channels must be evenly divisible by kernel's "
                f"in_channels. Received input channels {channels} and kernel in_channels "
                f"{kernel_in}.")
        groups = channels // kernel_in
    pads = explicit_padding(padding, in_sp, window, strides, dilation, allow_causal=n == 1)
    out_sp = [window_output_size(s, k, st, p, d) for s, k, st, p, d in
              zip(in_sp, window, strides, pads, dilation)]
    _check_nonempty(op_name, in_sp, out_sp, inputs.shape)
    x, w = _float_operands(inputs, kernel)
    return apply(Op.CONV, [x, w], ConvAttrs(strides=strides, padding=pads, dilation=dilation,
                                            lhs_dilation=(1,) * n, groups=groups))


@symbolic
def conv(inputs: Tensor, kernel: Tensor, strides: int | Sequence[int] = 1, padding: str = "valid",
         data_format: str | None = None, dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """N-d convolution (cross-correlation) of channels-last ``inputs`` with ``kernel``.

    ``kernel`` is ``(*window, in_channels // groups, out_channels)``; the group count
    is ``in_channels // kernel.shape[-2]``, as in ``keras.ops.conv``. ``padding`` is
    ``"valid"``, ``"same"`` or, for 1-D, ``"causal"``.
    """
    check_data_format(data_format, "conv")
    return _conv(inputs, kernel, strides, padding, dilation_rate, "conv")


@symbolic
def depthwise_conv(inputs: Tensor, kernel: Tensor, strides: int | Sequence[int] = 1,
                   padding: str = "valid", data_format: str | None = None,
                   dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """Each input channel convolved with its own ``depth_multiplier`` filters.

    ``kernel`` is ``(*window, in_channels, depth_multiplier)``; output channel
    ``c * depth_multiplier + m`` is input channel ``c`` with filter ``m``, which is
    a grouped CONV with ``groups = in_channels`` over the kernel reshaped to
    ``(*window, 1, in_channels * depth_multiplier)``.
    """
    check_data_format(data_format, "depthwise_conv")
    shape = tuple(int(d) for d in kernel.shape)
    if len(shape) < 3:
        raise ValueError(f"depthwise_conv: the kernel must have rank >= 3 "
                         f"(*window, in_channels, depth_multiplier). Received kernel shape {shape}")
    channels = inputs.shape[-1]
    if channels != shape[-2]:
        raise ValueError(
            f"depthwise_conv: the number of input channels must match the kernel's in_channels "
            f"(kernel.shape[-2]). Received input channels {channels} and kernel shape {shape}.")
    flat = _reshape(kernel, shape[:-2] + (1, shape[-2] * shape[-1]))
    return _conv(inputs, flat, strides, padding, dilation_rate, "depthwise_conv", groups=shape[-2])


@symbolic
def separable_conv(inputs: Tensor, depthwise_kernel: Tensor, pointwise_kernel: Tensor,
                   strides: int | Sequence[int] = 1, padding: str = "valid",
                   data_format: str | None = None, dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """A depthwise convolution followed by a 1x1 ("pointwise") convolution, as Keras does."""
    check_data_format(data_format, "separable_conv")
    mid = depthwise_conv(inputs, depthwise_kernel, strides, padding, None, dilation_rate)
    return _conv(mid, pointwise_kernel, 1, "valid", 1, "separable_conv")


def conv_transpose_padding(window: int, stride: int, dilation: int, padding: str,
                           output_padding: int | None) -> tuple[int, int]:
    """The (low, high) padding of the zero-dilated input that gives Keras' output.

    Same arithmetic as Keras' ``_convert_conv_transpose_padding_args_from_keras_to_jax``:
    'valid' yields ``(in - 1) * s + max(k, s)`` outputs (plus ``output_padding``),
    'same' yields ``in * s`` (or ``(in - 1) * s + k % 2 + output_padding``).
    """
    span = (window - 1) * dilation + 1
    mode = padding.lower()
    if mode == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    if mode == "same":
        total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
        low = min(total // 2 + total % 2, span - 1)
        return low, total - low
    raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: padding={padding}")


@symbolic
def conv_transpose(inputs: Tensor, kernel: Tensor, strides: int | Sequence[int] = 1,
                   padding: str = "valid", output_padding: int | Sequence[int] | None = None,
                   data_format: str | None = None, dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """Transposed convolution ("deconvolution"), the gradient of ``conv`` w.r.t. its input.

    ``kernel`` is Keras' ``(*window, out_channels, in_channels)``. Lowered as a CONV
    whose input is zero-dilated by ``strides`` (``lhs_dilation``) with the kernel's
    window reversed and its channel axes swapped, padded as Keras' JAX backend does.
    """
    check_data_format(data_format, "conv_transpose")
    shape = tuple(int(d) for d in kernel.shape)
    n = len(shape) - 2
    if n < 1:
        raise ValueError(f"conv_transpose: the kernel must have rank >= 3 (*window, out, in). "
                         f"Received kernel shape {shape}")
    in_sp = _spatial_shape(inputs, n, "conv_transpose")
    if inputs.shape[-1] != shape[-1]:
        raise ValueError(
            "conv_transpose: the number of input channels must match the kernel's last axis "
            f"(kernel layout (*window, out_channels, in_channels)). Received input channels "
            f"{inputs.shape[-1]} and kernel shape {shape}.")
    strides = spatial_tuple(strides, n, "strides")
    dilation = spatial_tuple(dilation_rate, n, "dilation_rate")
    out_pad = (None,) * n if output_padding is None else spatial_tuple(output_padding, n, "output_padding")
    pads = tuple(conv_transpose_padding(k, s, d, padding, op)
                 for k, s, d, op in zip(shape[:n], strides, dilation, out_pad))
    out_sp = [window_output_size(sz, k, 1, p, d, s) for sz, k, p, d, s in
              zip(in_sp, shape[:n], pads, dilation, strides)]
    _check_nonempty("conv_transpose", in_sp, out_sp, inputs.shape)
    x, w = _float_operands(inputs, kernel)
    w = _flip_and_swap_io(w)
    return apply(Op.CONV, [x, w], ConvAttrs(strides=(1,) * n, padding=pads, dilation=dilation,
                                            lhs_dilation=strides, groups=1))


# -- pooling ------------------------------------------------------------------------------------
def _pool(kind: PoolKind, inputs: Tensor, pool_size, strides, padding: str, data_format,
          op_name: str) -> Tensor:
    check_data_format(data_format, op_name)
    n = len(inputs.shape) - 2
    if n < 1:
        raise ValueError(f"{op_name}: expected an input of rank >= 3 (batch, *spatial, channels). "
                         f"Received input shape {tuple(inputs.shape)}")
    in_sp = _spatial_shape(inputs, n, op_name)
    window = spatial_tuple(pool_size, n, "pool_size")
    strides = window if strides is None else spatial_tuple(strides, n, "strides")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"Invalid padding '{padding}', must be 'same' or 'valid'.")
    pads = explicit_padding(padding, in_sp, window, strides, (1,) * n)
    out_sp = [window_output_size(s, k, st, p) for s, k, st, p in zip(in_sp, window, strides, pads)]
    _check_nonempty(op_name, in_sp, out_sp, inputs.shape)
    dt = dtype_of(inputs)
    if dt is not None and not dt.is_floating:
        # Keras pools integer tensors too; Horn's POOL is floating only, so say so plainly.
        raise TypeError(f"{op_name}: expected a floating-point input. Received dtype {dt.name}; "
                        "cast it first (e.g. ops.cast(x, 'float32')).")
    (x,), _ = prepare(inputs)
    return apply(Op.POOL, [x], PoolAttrs(kind, window, strides, pads))


@symbolic
def max_pool(inputs: Tensor, pool_size: int | Sequence[int], strides: int | Sequence[int] | None = None,
             padding: str = "valid", data_format: str | None = None) -> Tensor:
    """Max over windows of the spatial axes; ``strides`` defaults to ``pool_size``."""
    return _pool(PoolKind.MAX, inputs, pool_size, strides, padding, data_format, "max_pool")


@symbolic
def average_pool(inputs: Tensor, pool_size: int | Sequence[int],
                 strides: int | Sequence[int] | None = None, padding: str = "valid",
                 data_format: str | None = None) -> Tensor:
    """Mean over windows of the spatial axes; with 'same', padded positions are not counted."""
    return _pool(PoolKind.AVG, inputs, pool_size, strides, padding, data_format, "average_pool")


__all__ = ["conv", "depthwise_conv", "separable_conv", "conv_transpose", "max_pool", "average_pool"]

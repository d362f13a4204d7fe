"""Spatial reshaping layers, channels-last: ZeroPadding1D/2D/3D, Cropping1D/2D/3D,
UpSampling1D/2D/3D (UpSampling2D also ``interpolation="bilinear"``).

Arguments, validation messages and ``get_config`` keys follow
``keras/src/layers/reshaping``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from frontend import ops
from frontend.input_spec import InputSpec
from frontend.layer import Layer
from frontend.layers.arguments import standardize_data_format, standardize_tuple

Pairs = tuple[tuple[int, int], ...]


def _pairs(value: Any, rank: int, name: str) -> Pairs:
    """Keras' forms: an int, ``rank`` ints (symmetric) or ``rank`` (low, high) pairs."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((value, value),) * rank
    if not hasattr(value, "__len__"):
        raise ValueError(f"`{name}` should be either an int, a tuple of {rank} ints (symmetric "
                         f"amounts per spatial axis), or a tuple of {rank} tuples of 2 ints "
                         f"((low, high) per spatial axis). Received: {name}={value}.")
    if len(value) != rank:
        raise ValueError(f"`{name}` should have {'two' if rank == 2 else rank} elements. "
                         f"Received: {name}={value}.")
    ordinals = ("1st", "2nd", "3rd")
    return tuple(standardize_tuple(v, 2, f"{ordinals[i]} entry of {name}", allow_zero=True)
                 for i, v in enumerate(value))


# -- zero padding ----------------------------------------------------------------------------
class _ZeroPadding(Layer):
    rank = 2

    def __init__(self, padding: Any, data_format: str | None, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding     # Keras' form, for get_config
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def _pads(self) -> Pairs:
        return self.padding

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0), *self._pads, (0, 0)))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps of ``(batch, steps, channels)``."""

    rank = 1

    def __init__(self, padding: int | Sequence[int] = 1, data_format: str | None = None, **kwargs):
        super().__init__(standardize_tuple(padding, 2, "padding", allow_zero=True), data_format,
                         **kwargs)

    @property
    def _pads(self) -> Pairs:
        return (self.padding,)


class ZeroPadding2D(_ZeroPadding):
    """Zero rows/columns around ``(batch, height, width, channels)``.

    ``padding``: an int, ``(sym_h, sym_w)`` or ``((top, bottom), (left, right))``.
    """

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs):
        super().__init__(_pairs(padding, 2, "padding"), data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around the three spatial axes of ``(batch, d, h, w, channels)``."""

    rank = 3

    def __init__(self, padding: Any = ((1, 1), (1, 1), (1, 1)), data_format: str | None = None,
                 **kwargs):
        super().__init__(_pairs(padding, 3, "padding"), data_format, **kwargs)


# -- cropping --------------------------------------------------------------------------------
class _Cropping(Layer):
    rank = 2

    def __init__(self, cropping: Any, data_format: str | None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = cropping   # Keras' form, for get_config
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def _crops(self) -> Pairs:
        return self.cropping

    def call(self, inputs):
        spatial = tuple(inputs.shape[1:-1])
        crops = self._crops
        if any(d is not None and lo + hi >= d for d, (lo, hi) in zip(spatial, crops)):
            raise ValueError("Values in `cropping` argument should be smaller than the corresponding "
                             f"spatial dimension of the input. Received: inputs.shape="
                             f"{tuple(inputs.shape)}, cropping={self.cropping}")
        starts = (0,) + tuple(lo for lo, _ in crops) + (0,)
        sizes = (-1,) + tuple(d - lo - hi for d, (lo, hi) in zip(spatial, crops)) + (-1,)
        return ops.slice(inputs, starts, sizes)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config


class Cropping1D(_Cropping):
    """Drops ``cropping = (start, end)`` steps of ``(batch, steps, channels)``."""

    rank = 1

    def __init__(self, cropping: int | Sequence[int] = (1, 1), **kwargs):
        super().__init__(standardize_tuple(cropping, 2, "cropping", allow_zero=True), None, **kwargs)

    @property
    def _crops(self) -> Pairs:
        return (self.cropping,)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["data_format"]   # Keras' Cropping1D has no data_format argument
        return config


class Cropping2D(_Cropping):
    """Drops rows/columns at the borders of ``(batch, height, width, channels)``.

    ``cropping``: an int, ``(sym_h, sym_w)`` or ``((top, bottom), (left, right))``.
    """

    rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs):
        super().__init__(_pairs(cropping, 2, "cropping"), data_format, **kwargs)


class Cropping3D(_Cropping):
    """Drops borders along the three spatial axes of ``(batch, d, h, w, channels)``."""

    rank = 3

    def __init__(self, cropping: Any = ((1, 1), (1, 1), (1, 1)), data_format: str | None = None,
                 **kwargs):
        super().__init__(_pairs(cropping, 3, "cropping"), data_format, **kwargs)


# -- up-sampling -----------------------------------------------------------------------------
def _linear_taps(in_size: int, out_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices, weights) pairs with ``out[i] = sum_t w_t[i] * in[idx_t[i]]``.

    The weights are those of Keras' (JAX's) ``image.resize(..., "bilinear")``: a
    triangle kernel at half-pixel centres, renormalized where it leaves the image
    (which clamps at the borders). Up-sampling needs at most two taps per output.
    """
    scale = out_size / in_size
    sample = (np.arange(out_size, dtype=np.float64) + 0.5) / scale - 0.5
    dist = np.abs(sample[None, :] - np.arange(in_size, dtype=np.float64)[:, None])
    w = np.maximum(0.0, 1.0 - dist)
    w = w / np.where(w.sum(axis=0, keepdims=True) != 0, w.sum(axis=0, keepdims=True), 1)
    taps = int((w > 0).sum(axis=0).max())
    order = np.argsort(-w, axis=0, kind="stable")[:taps]            # (taps, out)
    cols = np.arange(out_size)
    return [(order[t].astype(np.int32), w[order[t], cols]) for t in range(taps)]


class _UpSampling(Layer):
    rank = 2

    def __init__(self, size: Any, data_format: str | None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.size = standardize_tuple(size, self.rank, "size")
        self.interpolation = interpolation.lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(
                f"{type(self).__name__}: interpolation='{self.interpolation}' is not supported by "
                "Horn; use 'nearest' or 'bilinear'.")
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        x = inputs
        for i, factor in enumerate(self.size):
            axis = i + 1
            if self.interpolation == "nearest":
                x = ops.repeat(x, factor, axis=axis)
            else:
                x = self._linear_axis(x, axis, factor)
        return x

    @staticmethod
    def _linear_axis(x, axis: int, factor: int):
        """Interpolates one axis: a weighted sum of constant-index gathers."""
        n = int(x.shape[axis])
        bshape = [1] * len(x.shape)
        bshape[axis] = n * factor
        out = None
        for idx, w in _linear_taps(n, n * factor):
            term = ops.multiply(ops.take(x, idx, axis=axis),
                                np.asarray(w, dtype=x.dtype).reshape(bshape))
            out = term if out is None else ops.add(out, term)
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format})
        return config


class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times in ``(batch, steps, channels)``."""

    rank = 1

    def __init__(self, size: int = 2, **kwargs):
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        super().__init__(size, None, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["size"] = self.size[0]
        del config["data_format"]   # Keras' UpSampling1D has neither argument
        return config


class UpSampling2D(_UpSampling):
    """Scales height and width by ``size``: ``"nearest"`` repeats pixels, ``"bilinear"``
    interpolates as Keras' ``image.resize`` does."""

    rank = 2

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs):
        super().__init__(size, data_format, interpolation, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["interpolation"] = self.interpolation
        return config


class UpSampling3D(_UpSampling):
    """Repeats each voxel ``size`` times along the three spatial axes."""

    rank = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: str | None = None, **kwargs):
        super().__init__(size, data_format, **kwargs)


__all__ = ["ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
           "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"]

"""Pooling layers, channels-last: windowed Max/AveragePooling1D/2D/3D and the
global poolings (reductions over every spatial axis).

Arguments, defaults and ``get_config`` keys follow
``keras/src/layers/pooling``; ``strides=None`` means ``pool_size``.
"""
from __future__ import annotations

from typing import Sequence

from frontend import ops
from frontend.input_spec import InputSpec
from frontend.layer import Layer
from frontend.layers.arguments import standardize_data_format, standardize_tuple

IntOrTuple = int | Sequence[int]


class BasePooling(Layer):
    """Max or average over sliding windows of the spatial axes."""

    rank: int = 2
    pool_mode: str = "max"

    def __init__(self, pool_size: IntOrTuple, strides: IntOrTuple | None = None,
                 padding: str = "valid", data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        strides = pool_size if strides is None else strides
        self.strides = standardize_tuple(strides, self.rank, "strides", allow_zero=True)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"Invalid padding '{padding}', must be 'same' or 'valid'.")
        # Keras keeps padding as given in the config and lower-cases it in the op.
        self.padding = padding
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        pool = ops.max_pool if self.pool_mode == "max" else ops.average_pool
        return pool(inputs, pool_size=self.pool_size, strides=self.strides,
                    padding=self.padding.lower())

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding,
                       "strides": self.strides, "data_format": self.data_format})
        return config


class MaxPooling1D(BasePooling):
    """Max over windows of ``(batch, steps, channels)``."""

    rank, pool_mode = 1, "max"

    def __init__(self, pool_size: IntOrTuple = 2, strides: IntOrTuple | None = None,
                 padding: str = "valid", data_format: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(BasePooling):
    """Max over windows of ``(batch, height, width, channels)``."""

    rank, pool_mode = 2, "max"

    def __init__(self, pool_size: IntOrTuple = (2, 2), strides: IntOrTuple | None = None,
                 padding: str = "valid", data_format: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(BasePooling):
    """Max over windows of ``(batch, depth, height, width, channels)``."""

    rank, pool_mode = 3, "max"

    def __init__(self, pool_size: IntOrTuple = (2, 2, 2), strides: IntOrTuple | None = None,
                 padding: str = "valid", data_format: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(BasePooling):
    """Mean over windows of ``(batch, steps, channels)``; 'same' padding is not counted."""

    rank, pool_mode = 1, "average"


class AveragePooling2D(BasePooling):
    """Mean over windows of ``(batch, height, width, channels)``; 'same' padding is not counted."""

    rank, pool_mode = 2, "average"


class AveragePooling3D(BasePooling):
    """Mean over windows of ``(batch, depth, height, width, channels)``."""

    rank, pool_mode = 3, "average"


class BaseGlobalPooling(Layer):
    """A reduction over every spatial axis; ``keepdims`` keeps them with length 1."""

    rank: int = 2

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def _spatial_axes(self) -> list[int]:
        return list(range(1, self.rank + 1))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class _GlobalAverage(BaseGlobalPooling):
    def call(self, inputs):
        return ops.mean(inputs, axis=self._spatial_axes, keepdims=self.keepdims)


class _GlobalMax(BaseGlobalPooling):
    def call(self, inputs):
        return ops.max(inputs, axis=self._spatial_axes, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps of ``(batch, steps, channels)``; honours a ``(batch, steps)`` mask."""

    rank = 1

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        # Masked steps are left out of both the sum and the count, as in Keras.
        mask = ops.expand_dims(ops.cast(mask, "bool"), 2)
        inputs = ops.where(mask, inputs, 0.0)
        count = ops.sum(ops.cast(mask, inputs.dtype), axis=1, keepdims=self.keepdims)
        return ops.divide(ops.sum(inputs, axis=1, keepdims=self.keepdims), count)

    def compute_mask(self, inputs, previous_mask=None):
        return None


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width of ``(batch, height, width, channels)``."""

    rank = 2


class GlobalAveragePooling3D(_GlobalAverage):
    """Mean over the three spatial axes of ``(batch, d, h, w, channels)``."""

    rank = 3


class GlobalMaxPooling1D(_GlobalMax):
    """Max over the steps of ``(batch, steps, channels)``."""

    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width of ``(batch, height, width, channels)``."""

    rank = 2


class GlobalMaxPooling3D(_GlobalMax):
    """Max over the three spatial axes of ``(batch, d, h, w, channels)``."""

    rank = 3


# Keras' aliases.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (GlobalMaxPooling1D, GlobalMaxPooling2D,
                                                     GlobalMaxPooling3D)

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
           "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
           "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
           "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D",
           "GlobalMaxPool2D", "GlobalMaxPool3D"]

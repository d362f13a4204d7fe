"""Preprocessing layers that are plain tensor math, so they compile into the model."""
from __future__ import annotations

from typing import Any

import numpy as np

from frontend import ops
from frontend.layer import Layer


class Rescaling(Layer):
    """``inputs * scale + offset`` in the layer's dtype (e.g. ``scale=1/255``).

    ``scale`` and ``offset`` may be scalars or arrays that broadcast against the
    (channels-last) inputs, e.g. one value per channel.
    """

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset
        self.supports_masking = True

    def call(self, inputs):
        dtype = self.dtype
        # Constants in the layer's dtype, as Keras casts them; a Python float would
        # otherwise be weakly typed and a numpy array float64.
        scale = np.asarray(self.scale, dtype=dtype)
        offset = np.asarray(self.offset, dtype=dtype)
        return ops.add(ops.multiply(ops.cast(inputs, dtype), scale), offset)

    def get_config(self) -> dict:
        config = super().get_config()
        # Arrays are stored as nested lists so the config stays JSON-able.
        config.update({
            "scale": self.scale.tolist() if isinstance(self.scale, np.ndarray) else self.scale,
            "offset": self.offset.tolist() if isinstance(self.offset, np.ndarray) else self.offset,
        })
        return config


__all__ = ["Rescaling"]

"""Masking: marks the time steps whose features all equal ``mask_value`` as masked
(``keras/src/layers/core/masking.py``)."""
from __future__ import annotations

from frontend import ops
from frontend.layer import Layer


class Masking(Layer):
    """Outputs ``inputs`` with masked steps zeroed; the mask (``(batch, time)``, True =
    keep) rides on the output to mask-consuming layers such as LSTM."""

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True
        self.built = True

    def compute_mask(self, inputs, previous_mask=None):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return ops.where(keep, inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}


__all__ = ["Masking"]

"""Embedding: integer ids to rows of a learned ``(input_dim, output_dim)`` table."""
from __future__ import annotations

from typing import Any

from frontend import initializers, ops
from frontend.layer import Layer
from frontend.layers.arguments import pop_activity_regularizer
from frontend.ops.core import dtype_of


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value} "
                         f"(of type {type(value).__name__}).")


class Embedding(Layer):
    """Looks up ``embeddings[ids]``; with ``mask_zero`` the mask is ``ids != 0``.

    One weight, ``embeddings``, as in Keras. Non-integer ids are cast to int32
    first, as Keras does.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, embeddings_constraint: Any = None,
                 mask_zero: bool = False, weights: Any = None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, quantization_config: Any = None, **kwargs):
        _check_positive_int("input_dim", input_dim)
        _check_positive_int("output_dim", output_dim)
        # Keras 3 configs carry these keys (quantization_config always, as null), so a saved
        # Keras Embedding loads; the features themselves are refused, as in Dense.
        if lora_rank:
            raise NotImplementedError(f"Embedding: LoRA is not supported by Horn. Received: lora_rank={lora_rank}")
        if quantization_config is not None:
            raise NotImplementedError("Embedding: quantized layers are not supported by Horn. "
                                      f"Received: quantization_config={quantization_config}")
        kwargs.pop("input_length", None)   # deprecated in Keras 3 and ignored there too
        self.activity_regularizer = pop_activity_regularizer(kwargs)
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = embeddings_regularizer
        self.embeddings_constraint = embeddings_constraint
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self.embeddings = None
        if weights is not None:
            self.build()
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None) -> None:
        if self.built:
            return
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer, name="embeddings",
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint, trainable=True)
        self.built = True

    def call(self, inputs):
        dt = dtype_of(inputs)
        if dt is None or dt.name not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        # GATHER clamps out-of-range ids to [0, input_dim - 1]; Keras' numpy backend raises.
        return ops.cast(ops.take(self.embeddings, inputs, axis=0), self.dtype)

    def compute_mask(self, inputs, previous_mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": self.embeddings_regularizer,
            "activity_regularizer": self.activity_regularizer,
            "embeddings_constraint": self.embeddings_constraint,
            "mask_zero": self.mask_zero,
        })
        return config


__all__ = ["Embedding"]

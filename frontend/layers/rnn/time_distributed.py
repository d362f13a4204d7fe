"""TimeDistributed: applies a layer to every time slice of ``(batch, time, ...)``
(``keras/src/layers/rnn/time_distributed.py``).

The slices go through ``horn.ops.scan`` with no carried state: one loop whose body
is the wrapped layer, so a long (or ``None``) time axis costs no code size, and the
batch axis stays symbolic (merging batch and time into one axis, as a reshape-based
implementation would, is not expressible with a symbolic batch).
"""
from __future__ import annotations

from typing import Any

from frontend.layer import Layer, flatten


class TimeDistributed(Layer):
    """``layer`` applied independently to each ``inputs[:, t]``; weights are shared."""

    def __init__(self, layer: Layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a `keras.layers.Layer` "
                             f"instance. Received: {layer}")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    @staticmethod
    def _child_shape(input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                             f"dimensions, received: {input_shape}")
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape) -> None:
        child = self._child_shape(tuple(input_shape))
        if not self.layer.built:
            self.layer.build(child)
            self.layer.built = True
        self.built = True

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(tuple(input_shape)))
        return (child[0], input_shape[1], *child[1:])

    def call(self, inputs, training: bool = False, mask=None):
        import inspect
        from frontend.ops.loop import scan
        if mask is not None and (len(mask.shape) < 2 or any(
                a is not None and b is not None and a != b for a, b in zip(mask.shape[:2], inputs.shape[:2]))):
            raise ValueError(f"The `mask` passed to the `TimeDistributed` layer has a shape {mask.shape} "
                             f"that is incompatible with the input shape {inputs.shape}. The first two "
                             "dimensions of the mask (batch size and timesteps) must match the input's "
                             f"first two dimensions. Expected mask shape prefix: "
                             f"({inputs.shape[0]}, {inputs.shape[1]}).")
        params = inspect.signature(self.layer.call).parameters
        kwargs = {"training": training} if "training" in params else {}
        use_mask = mask is not None and "mask" in params
        xs = [inputs] + ([mask] if use_mask else [])

        def step(carry, xs_t, consts):
            extra = {"mask": xs_t[1]} if use_mask else {}
            out = self.layer(xs_t[0], **kwargs, **extra)
            return [], flatten(out)

        _, ys = scan(step, [], xs)
        return ys[0] if len(ys) == 1 else ys

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

    def get_config(self) -> dict:
        from frontend.saving.serialization import serialize_nested
        return {**super().get_config(), "layer": serialize_nested(self.layer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Any = None):
        from frontend.saving.serialization import deserialize_keras_object
        config = dict(config)
        config["layer"] = deserialize_keras_object(config["layer"], custom_objects)
        return cls(**config)


__all__ = ["TimeDistributed"]

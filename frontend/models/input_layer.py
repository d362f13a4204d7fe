"""``Input`` and ``InputLayer``: where functional graphs start."""
from __future__ import annotations

from frontend.backend import standardize_dtype
from frontend.layer import CallNode, Layer
from frontend.tensors import KerasTensor


class InputLayer(Layer):
    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 input_tensor=None, sparse=False, ragged=False, optional=False, **kwargs):
        # Keras 3 writes sparse/ragged/optional in every InputLayer config; Horn has dense,
        # required inputs only, and says so rather than ignoring a True.
        for arg, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:
                raise NotImplementedError(f"InputLayer: {arg}=True is not supported by Horn.")
        super().__init__(name=name or None, dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument. Received: shape=None")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.built = True
        tensor = KerasTensor(self.batch_shape, standardize_dtype(dtype), name=self.name)
        tensor._keras_history = (self, 0, 0)
        self._inbound_nodes.append(CallNode(self, (), {}, [], [tensor], tensor))
        self.output_tensor = tensor

    def call(self, x):
        return x

    def get_config(self) -> dict:
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": False}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, tensor=None):
    """A symbolic input for functional models: ``(batch_size,) + shape``, batch None by default."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer.output_tensor

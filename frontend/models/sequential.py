"""``Sequential``: a plain stack of layers; with a known input shape it is also a functional graph."""
from __future__ import annotations

from frontend.layer import Layer
from frontend.models.input_layer import InputLayer, Input
from frontend.models.model import Model
from frontend.tensors import KerasTensor


class Sequential(Model):
    def __init__(self, layers=None, trainable: bool = True, name: str | None = None):
        super().__init__(trainable=trainable, name=name)
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._build_nodes: list[tuple[Layer, object]] = []
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer, rebuild: bool = True) -> None:
        """Appends a layer (or an ``Input`` tensor, which sets the input shape)."""
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise ValueError(f"Only instances of `keras.Layer` can be added to a Sequential model. "
                             f"Received: {layer} (of type {type(layer)})")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError("Sequential model '{}' already has an input; an InputLayer can only "
                                 "come first.".format(self.name))
            self._input_layer = layer
        else:
            if any(layer.name == l.name for l in self._stack):
                raise ValueError(f"All layers added to a Sequential model should have unique names. "
                                 f"Name '{layer.name}' is already the name of a layer in this model. "
                                 f"Update the `name` argument to pass a unique name.")
            self._stack.append(layer)
            self._tracked.append(layer)
        if rebuild:
            self._maybe_rebuild()

    def pop(self) -> Layer:
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        self._tracked.remove(layer)
        self._maybe_rebuild()
        return layer

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def _maybe_rebuild(self) -> None:
        shape = None
        if self._input_layer is not None:
            shape = self._input_layer.batch_shape
        elif self._stack and self._stack[0]._batch_input_shape is not None:
            shape = self._stack[0]._batch_input_shape
        if shape is not None and self._stack:
            self.build(shape)

    def build(self, input_shape=None) -> None:
        """Records the stack as a functional graph on ``Input(batch_shape=input_shape)``."""
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument.")
        # Drop the call records of a previous build so layer.output reflects this one.
        for layer, node in self._build_nodes:
            if node in layer._inbound_nodes:
                layer._inbound_nodes.remove(node)
        self._build_nodes = []
        if self._input_layer is None or self._input_layer.batch_shape != tuple(input_shape):
            self._input_layer = InputLayer(batch_shape=tuple(input_shape))
        x = self._input_layer.output_tensor
        for layer in self._stack:
            x = layer(x)
            self._build_nodes.append((layer, layer._inbound_nodes[-1]))
        self._output_tensor = x
        self.built = True
        self.input_spec = None

    @property
    def inputs(self):
        return [self._input_layer.output_tensor] if self._input_layer is not None else None

    @property
    def outputs(self):
        return [self._output_tensor] if self.built and self._input_layer is not None else None

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self._output_tensor

    def _check_inputs(self, structure) -> None:
        if self._input_layer is not None:
            from frontend.input_spec import InputSpec, assert_input_compatibility
            assert_input_compatibility(InputSpec(shape=self._input_layer.batch_shape), structure, self.name)

    def _run(self, x, training: bool = False):
        if not self.built:
            import numpy as np
            self.build((None,) + np.asarray(x).shape[1:])
        return super()._run(x, training)

    def call(self, inputs, training=None, mask=None):
        x = inputs
        for layer in self._stack:
            x = layer(x)
        return x

    def get_config(self) -> dict:
        """Keras 3's Sequential config: the serialized layers, InputLayer first."""
        from frontend.saving.model_config import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        from frontend.saving.model_config import sequential_from_config
        return sequential_from_config(cls, config, custom_objects)

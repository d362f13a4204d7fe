"""Functional models: a DAG of layer calls recorded from KerasTensors, replayed on real inputs."""
from __future__ import annotations

from frontend.input_spec import InputSpec, assert_input_compatibility
from frontend.layer import CallNode, Layer, flatten, map_structure
from frontend.models.input_layer import InputLayer
from frontend.models.model import Model
from frontend.tensors import KerasTensor


def _node_of(t: KerasTensor) -> CallNode:
    layer, node_index, _ = t._keras_history
    return layer._inbound_nodes[node_index]


class Functional(Model):
    """``Model(inputs, outputs)``: multi-input, multi-output, shared layers, nested models."""

    def __init__(self, inputs, outputs, name: str | None = None, trainable: bool = True, **kwargs):
        Layer.__init__(self, name=name or None, trainable=trainable, **kwargs)
        self._executables = {}
        if isinstance(inputs, dict):
            self._input_keys = list(inputs)
            inputs = list(inputs.values())
        else:
            self._input_keys = None
        for t in flatten(inputs) + flatten(outputs):
            if not isinstance(t, KerasTensor) or t._keras_history is None:
                raise ValueError(f"All `inputs` and `outputs` of a functional model must be tensors made "
                                 f"from keras.Input and layer calls. Received: {t!r}")
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._nodes = self._topological_nodes()
        known = {id(t) for t in flatten(inputs)}
        for node in self._nodes:
            for t in node.inputs:
                if id(t) not in known:
                    raise ValueError(f"Graph disconnected: cannot find the value of tensor {t.name} "
                                     f"(input of layer '{node.layer.name}'). It is not reachable from "
                                     f"the model's inputs.")
            known.update(id(t) for t in node.outputs)
        layers: list[Layer] = []
        for t in flatten(inputs):
            layers.append(t._keras_history[0])
        for node in self._nodes:
            if all(node.layer is not x for x in layers):
                layers.append(node.layer)
        self._functional_layers = layers
        for layer in layers:
            if not isinstance(layer, InputLayer):
                self._tracked.append(layer)
        self.built = True
        self.input_spec = [InputSpec(shape=t.shape) for t in flatten(inputs)]

    def _topological_nodes(self) -> list[CallNode]:
        order: list[CallNode] = []
        seen: set[int] = set()
        inputs = {id(t) for t in flatten(self._inputs_struct)}

        def visit(t: KerasTensor) -> None:
            if id(t) in inputs:
                return
            node = _node_of(t)
            if id(node) in seen:
                return
            seen.add(id(node))
            for x in node.inputs:
                visit(x)
            order.append(node)

        for t in flatten(self._outputs_struct):
            visit(t)
        return [n for n in order if not isinstance(n.layer, InputLayer)]

    # -- accessors ----------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._functional_layers)

    @property
    def inputs(self) -> list[KerasTensor]:
        return flatten(self._inputs_struct)

    @property
    def outputs(self) -> list[KerasTensor]:
        return flatten(self._outputs_struct)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self.outputs]

    def _input_names(self, n: int) -> list[str]:
        return self.input_names

    # -- replay -------------------------------------------------------------
    def _flat_inputs(self, inputs) -> list:
        if isinstance(inputs, dict):
            keys = self._input_keys or self.input_names
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ValueError(f"Model '{self.name}' expects inputs {keys}; missing {missing}")
            return [inputs[k] for k in keys]
        flat = flatten(inputs)
        if len(flat) != len(self.inputs):
            raise ValueError(f'Layer "{self.name}" expects {len(self.inputs)} input(s), but it received '
                             f"{len(flat)} input tensors.")
        return flat

    def _check_inputs(self, structure) -> None:
        assert_input_compatibility(self.input_spec, self._flat_inputs(structure), self.name)

    def _standardize_inputs(self, x):
        structure, _ = super()._standardize_inputs(x)
        flat = self._flat_inputs(structure)
        flat = [a.astype(t.dtype) if a.dtype.name != t.dtype else a for a, t in zip(flat, self.inputs)]
        return flat if len(flat) > 1 else flat[0], flat

    def call(self, inputs, training=None, mask=None):
        env: dict[int, object] = {id(k): v for k, v in zip(self.inputs, self._flat_inputs(inputs))}

        def lookup(x):
            return env[id(x)] if isinstance(x, KerasTensor) else x

        for node in self._nodes:
            args = map_structure(lookup, node.args)
            kwargs = map_structure(lookup, node.kwargs)
            out = node.layer(*args, **kwargs)
            for kt, value in zip(node.outputs, flatten(out)):
                env[id(kt)] = value
        return map_structure(lambda t: env[id(t)], self._outputs_struct)

    def get_config(self) -> dict:
        """Keras 3's functional config: layers with their ``inbound_nodes``, ``input_layers``,
        ``output_layers`` (see :mod:`frontend.saving.model_config`)."""
        from frontend.saving.model_config import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Functional":
        """Rebuilds the model by replaying its layer calls."""
        from frontend.saving.model_config import functional_from_config
        return functional_from_config(cls, config, custom_objects)

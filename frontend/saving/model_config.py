"""Functional and Sequential model configs in Keras 3's format, both ways.

A functional config lists the model's layers in Keras' ``Functional.operations``
order, each with its ``inbound_nodes`` (the calls of that layer that belong to
this model: ``{"args": [...], "kwargs": {...}}`` with ``__keras_tensor__``
references ``[layer_name, node_index, tensor_index]``), plus ``input_layers``
and ``output_layers``. The order is not cosmetic: Keras names the weight groups
of a ``.keras`` file by position in that list (``layers/dense``,
``layers/dense_1``...), so Horn reproduces ``keras/src/ops/function.py``'s
``map_graph`` ordering (layers by decreasing depth, ties by first DFS visit).

Node indices follow Keras exactly, including its one asymmetry: a nested
Functional model's calls are numbered from 1 in ``input_layers`` /
``output_layers`` (Keras counts a construction node it no longer creates) but
from 0 inside ``inbound_nodes``.
"""
from __future__ import annotations

from typing import Any

from frontend.layer import CallNode, Layer, flatten, map_structure
from frontend.saving.serialization import (TensorRef, deserialize_keras_object, dtype_policy_config,
                                           serialize_keras_object)
from frontend.tensors import KerasTensor


def _node_of(t: KerasTensor) -> CallNode:
    layer, node_index, _ = t._keras_history
    return layer._inbound_nodes[node_index]


def _is_functional(layer: Layer) -> bool:
    from frontend.models.functional import Functional
    return isinstance(layer, Functional)


def keras_graph(model) -> tuple[list[Layer], set[int]]:
    """``(operations, own_node_ids)`` as Keras' ``map_graph`` computes them."""
    flat_inputs = {id(t) for t in model.inputs}
    finished: set[int] = set()
    in_progress: set[int] = set()
    order: list[CallNode] = []
    first_visit: dict[int, int] = {}

    def visit(t: KerasTensor) -> None:
        node = _node_of(t)
        if id(node) in finished:
            return
        is_input = not node.inputs
        if not is_input and id(t) in flat_inputs:
            finished.add(id(node))
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {t.name} from layer '{node.layer.name}' is part of a cycle.")
        first_visit.setdefault(id(node.layer), len(first_visit))
        in_progress.add(id(node))
        if not is_input:
            for x in node.inputs:
                visit(x)
        finished.add(id(node))
        in_progress.discard(id(node))
        order.append(node)

    for t in model.outputs:
        visit(t)

    in_graph = {id(n) for n in order}
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, Layer] = {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for parent in (_node_of(x) for x in node.inputs):
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    own = set(in_graph)
    # Inputs not connected to any output still belong to the model (Keras keeps them).
    for t in model.inputs:
        layer = t._keras_history[0]
        if id(layer) not in layer_depth and not _node_of(t).inputs:
            layer_depth[id(layer)] = 0
            layers[id(layer)] = layer
            first_visit[id(layer)] = -1
            own.add(id(_node_of(t)))
    ids = sorted(layer_depth, key=lambda i: (-layer_depth[i], first_visit[i]))
    return [layers[i] for i in ids], own


def keras_layers(model) -> list[Layer]:
    """The layers Keras lists for ``model`` (and names weight groups after): a functional
    model's in ``Functional.operations`` order (InputLayers included), else ``model.layers``."""
    from frontend.models.functional import Functional
    if isinstance(model, Functional):
        return keras_graph(model)[0]
    return model.layers


# -- functional: save ----------------------------------------------------------------------------
def functional_config(model) -> dict:
    """``Functional.get_config()`` in Keras 3's format."""
    operations, own = keras_graph(model)
    new_index: dict[int, int] = {}
    for layer in operations:
        kept = 1 if _is_functional(layer) else 0
        for node in layer._inbound_nodes:
            if id(node) in own:
                new_index[id(node)] = kept
                kept += 1

    def serialize_tensor(x):
        if not isinstance(x, KerasTensor):
            return x
        layer, node_index, tensor_index = x._keras_history
        foreign = sum(1 for n in layer._inbound_nodes[:node_index] if id(n) not in own)
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(x.shape), "dtype": x.dtype,
                           "keras_history": [layer.name, node_index - foreign, tensor_index]}}

    layer_configs = []
    for layer in operations:
        nodes = [{"args": serialize_keras_object(map_structure(serialize_tensor, list(node.args))),
                  "kwargs": serialize_keras_object(map_structure(serialize_tensor, dict(node.kwargs)))}
                 for node in layer._inbound_nodes if id(node) in own and node.inputs]
        entry = serialize_keras_object(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = nodes
        layer_configs.append(entry)

    def ref(t: KerasTensor) -> list:
        layer, node_index, tensor_index = t._keras_history
        return [layer.name, new_index[id(layer._inbound_nodes[node_index])], tensor_index]

    inputs = model._inputs_struct
    if model._input_keys is not None:
        inputs = dict(zip(model._input_keys, flatten(inputs)))
    return {"name": model.name, "trainable": model.trainable, "layers": layer_configs,
            "input_layers": map_structure(ref, inputs),
            "output_layers": map_structure(ref, model._outputs_struct)}


# -- functional: load ----------------------------------------------------------------------------
class _NodeNotReady(Exception):
    """A node refers to a layer call that has not been replayed yet."""


def deserialize_layer(layer_data: dict, custom_objects: dict[str, Any] | None) -> Layer:
    """One entry of a model's ``layers`` list (Keras 3 or legacy form) as a Horn layer."""
    if not isinstance(layer_data, dict) or "class_name" not in layer_data:
        raise ValueError(f"Invalid layer entry in a model config: {layer_data!r}")
    if "module" not in layer_data:
        layer_data = _legacy_layer_entry(layer_data)
    layer = deserialize_keras_object(layer_data, custom_objects)
    if not isinstance(layer, Layer):
        raise ValueError(f"The config entry for '{layer_data.get('name')}' did not describe a layer: "
                         f"it gave {type(layer).__name__}.")
    return layer


def _legacy_layer_entry(layer_data: dict) -> dict:
    """The rewrites Keras applies to legacy (.h5 / Keras 2) layer configs."""
    config = dict(layer_data.get("config") or {})
    if layer_data["class_name"] == "InputLayer" and "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    axis = config.get("axis")
    if isinstance(axis, list) and len(axis) == 1:
        config["axis"] = int(axis[0])
    return {**layer_data, "config": config}


def _resolve_tensor(ref: TensorRef, created: dict[str, Layer]) -> KerasTensor:
    name, node_index, tensor_index = ref.history
    layer = created.get(name)
    if layer is None:
        raise ValueError(f"Invalid Functional model configuration: unknown layer '{name}'.")
    if len(layer._inbound_nodes) <= node_index:
        raise _NodeNotReady(name)
    return layer._inbound_nodes[node_index].outputs[tensor_index]


def _deserialize_node(node_data: Any, created: dict[str, Layer],
                      custom_objects: dict[str, Any] | None) -> tuple[list, dict]:
    if isinstance(node_data, list):
        # Keras 2: a list of [layer_name, node_index, tensor_index(, kwargs)].
        tensors, kwargs = [], {}
        for entry in node_data:
            tensors.append(_resolve_tensor(TensorRef(None, None, entry[:3]), created))
            kwargs = entry[3] if len(entry) > 3 else kwargs
        return [tensors[0] if len(tensors) == 1 else tensors], dict(kwargs)
    args = deserialize_keras_object(node_data.get("args", []), custom_objects)
    kwargs = deserialize_keras_object(node_data.get("kwargs", {}), custom_objects)

    def resolve(x):
        return _resolve_tensor(x, created) if isinstance(x, TensorRef) else x

    return map_structure(resolve, list(args)), map_structure(resolve, dict(kwargs))


def functional_from_config(cls, config: dict, custom_objects: dict[str, Any] | None = None):
    """Rebuilds a functional model by replaying its layer calls (Keras' algorithm:
    a call whose inputs do not exist yet waits for a later pass)."""
    created: dict[str, Layer] = {}
    pending: dict[str, list] = {}
    for layer_data in config["layers"]:
        name = layer_data.get("name") or (layer_data.get("config") or {}).get("name")
        created[name] = deserialize_layer(layer_data, custom_objects)
        pending[name] = list(layer_data.get("inbound_nodes") or [])
    while any(pending.values()):
        progressed = False
        for name, queue in pending.items():
            while queue:
                try:
                    args, kwargs = _deserialize_node(queue[0], created, custom_objects)
                except _NodeNotReady:
                    break
                created[name](*args, **kwargs)
                queue.pop(0)
                progressed = True
        if not progressed:
            stuck = sorted(n for n, q in pending.items() if q)
            raise ValueError("Invalid Functional model configuration: the graph has loops or "
                             f"disconnected nodes; the calls of layers {stuck} could not be resolved.")

    def tensor(entry: list) -> KerasTensor:
        name, node_index, tensor_index = entry[:3]
        layer = created.get(name)
        if layer is None:
            raise ValueError(f"Invalid Functional model configuration: unknown layer '{name}'.")
        if _is_functional(layer):
            node_index -= 1
        return layer._inbound_nodes[node_index].outputs[tensor_index]

    def tensors(spec: Any) -> Any:
        if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
            return tensor(spec)
        if isinstance(spec, dict):
            return {k: tensors(v) for k, v in spec.items()}
        return [tensors(v) for v in spec]

    return cls(inputs=tensors(config["input_layers"]), outputs=tensors(config["output_layers"]),
               name=config.get("name"), trainable=config.get("trainable", True))


# -- sequential ----------------------------------------------------------------------------------
def sequential_config(model) -> dict:
    """``Sequential.get_config()`` in Keras 3's format (the InputLayer first)."""
    layers = [model._input_layer] if model._input_layer is not None else []
    config = {"name": model.name, "trainable": model.trainable, "dtype": dtype_policy_config(model.dtype),
              "layers": [serialize_keras_object(layer) for layer in layers + list(model._stack)]}
    if model.built and model._input_layer is not None:
        config["build_input_shape"] = list(model._input_layer.batch_shape)
    return config


def sequential_from_config(cls, config: dict, custom_objects: dict[str, Any] | None = None):
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError("A Sequential model configuration must be a dictionary containing the 'name' "
                         f"and 'layers' keys. Received: config={config}")
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for layer_data in config["layers"]:
        model.add(deserialize_layer(layer_data, custom_objects))
    shape = config.get("build_input_shape")
    if not model.built and isinstance(shape, (list, tuple)) and model.layers:
        model.build(tuple(shape))
    return model

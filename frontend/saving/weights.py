"""Keras 3's weights layout (``model.weights.h5`` inside a ``.keras``, and ``.weights.h5``).

Keras walks the model as a tree of "saveables" and gives each a group named by
how it is reached, not by its (auto-generated) name: the root's variables are
``vars/0, vars/1, ...``; a model's layers are the container ``layers`` whose
items are named after their class (``layers/dense``, ``layers/dense_1``,
``layers/sequential/layers/conv2d``); other sublayers are named after the
attribute holding them; a compiled model's optimizer is ``optimizer/vars``.
Each ``vars`` group carries the object's name as an attribute. A layer's own
variables are numbered trainable first, then non-trainable, each in creation
order (``keras/src/saving/saving_lib.py``: ``_save_state``,
``_save_container_state``; ``Layer.save_own_variables``). An object reached
twice is stored once, where first reached.

Loading walks the Horn model the same way and checks every count and shape
before assigning anything, so a mismatched file leaves the model untouched.
"""
from __future__ import annotations

import re
import warnings
from typing import Any, Iterator

import numpy as np

from frontend.layer import Layer
from frontend.saving.model_config import keras_layers

# Horn's bookkeeping attributes that hold layers or graph records; Keras' walk
# skips its own equivalents (the attributes of a bare Layer) the same way.
_INTERNAL_ATTRS = frozenset({
    "_tracked", "_functional_layers", "_stack", "_input_layer", "_build_nodes", "_nodes",
    "_inbound_nodes", "_inputs_struct", "_outputs_struct", "_output_tensor", "_executables",
    "_weights_list", "output_tensor",
})


def keras_snake_case(name: str) -> str:
    """``keras.src.utils.naming.to_snake_case``: the group name of a class."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _name_key(name: str) -> str:
    # Keras visits private attributes after public ones.
    return f"~{name}" if name.startswith("_") else name


def own_variables(obj: Any) -> list:
    """The variables stored in ``obj``'s own ``vars`` group, in Keras' order."""
    if isinstance(obj, Layer):
        own = list(obj._weights_list)
        return [v for v in own if v.trainable] + [v for v in own if not v.trainable]
    return list(getattr(obj, "variables", []))


def _holds_layers(value: Any) -> bool:
    if isinstance(value, Layer):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(_holds_layers(v) for v in value)


def children(obj: Any) -> Iterator[tuple[str, Any]]:
    """``(attribute, child)`` pairs in Keras' walk order (``_walk_saveable``)."""
    from frontend.models.functional import Functional
    from frontend.models.model import Model
    from frontend.models.sequential import Sequential
    if not isinstance(obj, Layer):
        return
    if isinstance(obj, (Functional, Sequential)):
        yield "layers", keras_layers(obj)
    attrs = {k: v for k, v in vars(obj).items() if k not in _INTERNAL_ATTRS and _holds_layers(v)}
    if isinstance(obj, Model):
        # Keras' walk also meets a model's public ``layers`` property, in name order; for a
        # subclassed model it numbers the layers no attribute reached first.
        if not isinstance(obj, (Functional, Sequential)):
            attrs["layers"] = obj.layers
        if getattr(obj, "optimizer", None) is not None:
            attrs["optimizer"] = obj.optimizer
    for name in sorted(attrs, key=_name_key):
        yield name, attrs[name]


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def walk(obj: Any, path: str = "", visited: set[int] | None = None) -> Iterator[tuple[str, Any]]:
    """Every saveable under ``obj`` with its group path, each once, in Keras' order."""
    visited = set() if visited is None else visited
    if id(obj) in visited:
        return
    visited.add(id(obj))
    yield path, obj
    for attr, child in children(obj):
        if isinstance(child, (list, tuple, dict)):
            yield from _walk_container(child, _join(path, attr), visited, set())
        else:
            yield from walk(child, _join(path, attr), visited)


def _walk_container(container, path: str, visited: set[int], seen: set[int]) -> Iterator[tuple[str, Any]]:
    if id(container) in seen:
        return
    seen.add(id(container))
    used: dict[str, int] = {}

    def unique(name: str) -> str:
        if name in used:
            used[name] += 1
            return f"{name}_{used[name]}"
        used[name] = 0
        return name

    for item in (container.values() if isinstance(container, dict) else container):
        if isinstance(item, Layer):
            yield from walk(item, _join(path, unique(keras_snake_case(type(item).__name__))), visited)
        elif isinstance(item, (list, tuple, dict)):
            yield from _walk_container(item, _join(path, unique("container")), visited, seen)


def _group_path(path: str) -> str:
    return _join(path, "vars")


def save_weights_to_h5(model, h5file) -> None:
    """Writes ``model``'s state into an open, empty ``h5py.File``."""
    for path, obj in walk(model):
        group = h5file.create_group(_group_path(path))
        name = getattr(obj, "name", None)
        if isinstance(name, str):
            group.attrs["name"] = name
        for i, var in enumerate(own_variables(obj)):
            group[str(i)] = np.asarray(var)


def _describe(obj: Any) -> str:
    if isinstance(obj, Layer):
        return f"layer '{obj.name}' ({type(obj).__name__})"
    return f"optimizer '{getattr(obj, 'name', type(obj).__name__)}'"


def load_weights_from_h5(model, h5file, source: str = "the weights file", skip_mismatch: bool = False) -> None:
    """Fills ``model``'s state from an open ``h5py.File`` in Keras 3's layout.

    Every count and shape is checked first; only then is anything assigned.
    ``skip_mismatch=True`` turns a layer's count or shape mismatch into a
    warning and leaves that layer (or variable) as it is.
    """
    assignments: list[tuple[Any, np.ndarray]] = []
    for path, obj in walk(model):
        group_path = _group_path(path)
        group = h5file[group_path] if group_path in h5file else None
        stored = sorted(group.keys(), key=int) if group is not None else []
        mine = own_variables(obj)
        if not isinstance(obj, Layer):
            # Optimizer state: a mismatch is skipped with a warning (as Keras), never fatal.
            if len(stored) != len(mine):
                warnings.warn(f"Skipping variable loading for {_describe(obj)}, because it has "
                              f"{len(mine)} variables whereas the saved optimizer has {len(stored)} "
                              "variables.", stacklevel=3)
                continue
        elif len(stored) != len(mine):
            hint = (" The layer was never built, so it has no variables yet: build the model (call "
                    "it on data or call build()) before loading.") if not obj.built and not mine else ""
            _mismatch(f"Cannot load {source} into {_describe(obj)} (group '{group_path}'): the layer "
                      f"expects {len(mine)} variables {[v.name for v in mine]}, but the file has "
                      f"{len(stored)}.{hint}", skip_mismatch)
            continue
        for i, var in enumerate(mine):
            value = np.asarray(group[str(i)])
            if tuple(value.shape) != tuple(var.shape):
                _mismatch(f"Cannot load {source} into {_describe(obj)}: variable '{var.name}' (stored at "
                          f"'{group_path}/{i}') expects shape {tuple(var.shape)}, but the file holds "
                          f"shape {tuple(value.shape)}.", skip_mismatch)
                continue
            assignments.append((var, value))
    for var, value in assignments:
        var.assign(value.astype(var.dtype, copy=False))


def _mismatch(message: str, skip: bool) -> None:
    if not skip:
        raise ValueError(message)
    warnings.warn(message + " Skipped (skip_mismatch=True).", stacklevel=4)

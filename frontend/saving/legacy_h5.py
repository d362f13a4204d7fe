"""Keras' legacy HDF5 format (a path ending in ``.h5`` / ``.hdf5``).

A model file has root attributes ``model_config`` (JSON: the model config in
the legacy shape, layers as ``{"class_name", "config"}``), ``training_config``
(when compiled), ``keras_version`` and ``backend``; a ``model_weights`` group
with a ``layer_names`` attribute and one group per layer holding a
``weight_names`` attribute and a dataset per weight, named by the weight's
path (``dense/kernel``, ``inner/dense_2/kernel``); and ``optimizer_weights``.
A weights-only file is the ``model_weights`` group's content at the root.

Loading is by order, as in Keras: the i-th layer with weights takes the i-th
group with weights, each layer's weights in legacy order (trainable, then
non-trainable). Counts and shapes are all checked before anything is assigned.
(``keras/src/legacy/saving/legacy_h5_format.py``.)
"""
from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

from frontend.layer import Layer
from frontend.saving import object_registration
from frontend.saving.atomic import atomic_path
from frontend.saving.keras_archive import KERAS_VERSION, check_exists, h5py_module, json_default
from frontend.saving.model_config import keras_layers
from frontend.saving.serialization import (compile_from_config, deserialize_keras_object, legacy_scope,
                                           serialize_compile_config, serialize_keras_object)
from frontend.saving.weights import own_variables

BACKEND = "horn"
# HDF5 object headers hold at most 64 KiB; longer name lists are split as Keras splits them.
_HEADER_LIMIT = 64512


# -- attributes ------------------------------------------------------------------------------------
def _save_names(group, name: str, data: list[bytes]) -> None:
    too_long = [x for x in data if len(x) > _HEADER_LIMIT]
    if too_long:
        raise RuntimeError(f"These names are too long to store in an HDF5 header: {too_long}")
    array = np.asarray(data)
    chunks = 1
    parts = np.array_split(array, chunks)
    while any(p.nbytes > _HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(array, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part
    else:
        group.attrs[name] = data


def _load_names(group, name: str) -> list[str]:
    def decode(values):
        return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]
    if name in group.attrs:
        return decode(group.attrs[name])
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out += decode(group.attrs[f"{name}{i}"])
        i += 1
    return out


def _text_attr(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if hasattr(value, "decode") else str(value)


# -- weights in legacy order -----------------------------------------------------------------------
def _sublayers(layer: Layer) -> list[Layer]:
    from frontend.models.functional import Functional
    from frontend.models.sequential import Sequential
    if isinstance(layer, (Functional, Sequential)):
        return keras_layers(layer)
    return layer._sublayers


def legacy_weights(layer: Layer) -> list[tuple[str, Any]]:
    """``(path, variable)`` for ``layer.trainable_weights + layer.non_trainable_weights``
    as Keras orders them, paths as Keras names them (``outer/inner/kernel``)."""
    seen: set[int] = set()
    trainable, frozen = [], []

    def visit(l: Layer, prefix: str, parent_trainable: bool) -> None:
        active = parent_trainable and l.trainable
        for var in own_variables(l):
            if id(var) in seen:
                continue
            seen.add(id(var))
            (trainable if active and var.trainable else frozen).append((f"{prefix}{l.name}/{var.name}", var))
        for sub in _sublayers(l):
            visit(sub, f"{prefix}{l.name}/", active)

    visit(layer, "", True)
    return trainable + frozen


def _save_subset(group, weights: list[tuple[str, Any]]) -> None:
    _save_names(group, "weight_names", [name.encode("utf8") for name, _ in weights])
    for name, var in weights:
        value = np.asarray(var)
        dataset = group.create_dataset(name, value.shape, dtype=value.dtype)
        if value.shape:
            dataset[:] = value
        else:
            dataset[()] = value


def save_weights_to_group(group, model) -> None:
    layers = keras_layers(model)
    _save_names(group, "layer_names", [layer.name.encode("utf8") for layer in layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    # Sorted, so group names grow strictly (Keras avoids h5 prefix clashes this way).
    for layer in sorted(layers, key=lambda l: l.name):
        _save_subset(group.create_group(layer.name), legacy_weights(layer))
    top = [(f"{model.name}/{v.name}", v) for v in own_variables(model)]
    _save_subset(group.create_group("top_level_model_weights"), top)


def load_weights_from_group(group, model, source: str, skip_mismatch: bool = False) -> None:
    layers = [layer for layer in keras_layers(model) if legacy_weights(layer)]
    names = [n for n in _load_names(group, "layer_names")
             if n in group and _load_names(group[n], "weight_names")]
    if len(names) != len(layers):
        raise ValueError(f"Layer count mismatch when loading weights from {source}: the model has "
                         f"{len(layers)} layers with weights {[l.name for l in layers]}, the file has "
                         f"{len(names)} {names}.")
    assignments = []
    for layer, name in zip(layers, names):
        weights = legacy_weights(layer)
        stored = _load_names(group[name], "weight_names")
        if len(stored) != len(weights):
            _mismatch(f"Weight count mismatch for layer '{layer.name}' ({type(layer).__name__}; "
                      f"'{name}' in {source}): the layer expects {len(weights)} weights "
                      f"{[n for n, _ in weights]}, the file has {len(stored)} {stored}.", skip_mismatch)
            continue
        for (path, var), stored_name in zip(weights, stored):
            value = np.asarray(group[name][stored_name])
            if tuple(value.shape) != tuple(var.shape):
                _mismatch(f"Shape mismatch loading {source} into layer '{layer.name}' "
                          f"({type(layer).__name__}): weight '{path}' expects shape {tuple(var.shape)}, "
                          f"the file's '{name}/{stored_name}' has shape {tuple(value.shape)}.",
                          skip_mismatch)
                continue
            assignments.append((var, value))
    if "top_level_model_weights" in group:
        stored = _load_names(group["top_level_model_weights"], "weight_names")
        mine = own_variables(model)
        if len(stored) != len(mine):
            _mismatch(f"Weight count mismatch for the top-level weights of model '{model.name}': it "
                      f"expects {len(mine)}, {source} has {len(stored)}.", skip_mismatch)
        else:
            assignments += [(v, np.asarray(group["top_level_model_weights"][n])) for v, n in zip(mine, stored)]
    for var, value in assignments:
        var.assign(value.astype(var.dtype, copy=False))


def _mismatch(message: str, skip: bool) -> None:
    if not skip:
        raise ValueError(message)
    warnings.warn(message + " Skipped (skip_mismatch=True).", stacklevel=4)


# -- model files ---------------------------------------------------------------------------------
def _training_config(model) -> dict | None:
    optimizer = getattr(model, "optimizer", None)
    compile_config = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or optimizer is None or compile_config is None:
        return None
    config = serialize_compile_config({k: v for k, v in compile_config.items() if k != "optimizer"})
    config["optimizer_config"] = {"class_name": object_registration.get_registered_name(type(optimizer)),
                                  "config": serialize_keras_object(optimizer.get_config())}
    return config


def save_model(model, path: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Writes ``model`` as a legacy HDF5 file, atomically."""
    h5py = h5py_module()
    with legacy_scope():
        model_config = {"class_name": object_registration.get_registered_name(type(model)),
                        "config": model.get_config()}
    training = _training_config(model) if include_optimizer else None
    with atomic_path(path, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["keras_version"] = KERAS_VERSION
            f.attrs["backend"] = BACKEND
            f.attrs["model_config"] = json.dumps(model_config, default=json_default).encode("utf8")
            if training is not None:
                f.attrs["training_config"] = json.dumps(training, default=json_default).encode("utf8")
            save_weights_to_group(f.create_group("model_weights"), model)
            if training is not None and model.optimizer.variables:
                group = f.create_group("optimizer_weights")
                variables = list(model.optimizer.variables)
                opt_name = getattr(model.optimizer, "name", "optimizer")
                names = [str(getattr(v, "path", None) or f"{opt_name}/variable_{i}")
                         for i, v in enumerate(variables)]
                _save_subset(group, list(zip(names, variables)))


def save_weights(model, path: str, overwrite: bool = True) -> None:
    """A legacy weights-only HDF5 file (what Keras 2's ``save_weights("x.h5")`` wrote)."""
    h5py = h5py_module()
    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        save_weights_to_group(f, model)


def _open(path: str):
    h5py = h5py_module()
    check_exists(path, "HDF5 (`.h5`) file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"The file {path!r} is not a readable HDF5 file: it may be truncated or "
                         f"corrupt, or be a `.keras` zip archive ({exc}).") from exc


def load_weights(model, path: str, skip_mismatch: bool = False) -> None:
    """Weights from a legacy HDF5 model file or weights-only file."""
    with _open(path) as f:
        group = f
        if "layer_names" not in f.attrs and "model_weights" in f:
            group = f["model_weights"]
        load_weights_from_group(group, model, path, skip_mismatch)


def load_model(path: str, custom_objects: dict[str, Any] | None = None, compile: bool = True):
    """The model in a legacy HDF5 file."""
    with _open(path) as f:
        raw = _text_attr(f.attrs.get("model_config"))
        if raw is None:
            raise ValueError(f"No model config found in the file at {path!r}: it may be a weights-only "
                             "file; build the model and use `model.load_weights()` instead.")
        model = deserialize_keras_object(json.loads(raw), custom_objects)
        load_weights_from_group(f["model_weights"], model, path)
        training = _text_attr(f.attrs.get("training_config"))
        if compile and training is not None and hasattr(model, "compile"):
            _compile(model, json.loads(training), custom_objects)
            if "optimizer_weights" in f and model.optimizer is not None:
                stored = _load_names(f["optimizer_weights"], "weight_names")
                mine = list(model.optimizer.variables)
                if len(stored) != len(mine):
                    warnings.warn(f"Optimizer state in {path!r} not restored: it has {len(stored)} "
                                  f"variables, the optimizer {len(mine)}.", stacklevel=2)
                else:
                    for var, name in zip(mine, stored):
                        var.assign(np.asarray(f["optimizer_weights"][name]).astype(var.dtype))
    return model


def _compile(model, training: dict, custom_objects: dict[str, Any] | None) -> None:
    """``compile()`` from a legacy ``training_config`` (optimizer under ``optimizer_config``)."""
    config = {k: v for k, v in training.items() if k != "optimizer_config"}
    if training.get("optimizer_config"):
        config["optimizer"] = dict(training["optimizer_config"])
    compile_from_config(model, config, custom_objects)

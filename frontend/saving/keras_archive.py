"""The ``.keras`` file: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

``config.json`` is the model serialized as Keras 3 does (with ``build_config``
and, when compiled, ``compile_config``); ``model.weights.h5`` holds the
variables in Keras 3's layout (:mod:`frontend.saving.weights`). Members are
stored uncompressed, in Keras' order.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from frontend.saving.atomic import atomic_path
from frontend.saving.serialization import deserialize_keras_object, serialize_keras_object
from frontend.saving.weights import load_weights_from_h5, save_weights_to_h5

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"
# The Keras release whose file format Horn writes (and is tested against); Keras
# records its own version here and does not read it back.
KERAS_VERSION = "3.15.1"


def h5py_module():
    """h5py, or an error that says how to get it (it is the ``saving`` extra)."""
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("Saving and loading Keras files needs h5py: "
                          "`pip install horn[saving]` (or `pip install h5py`).") from exc
    return h5py


def json_default(obj: Any) -> Any:
    """JSON for the numpy values a config may still hold."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable: {obj!r}")


def save(model, path: str, overwrite: bool = True) -> None:
    """Writes ``model`` to ``path`` (a ``.keras`` file), atomically."""
    h5py = h5py_module()
    config = json.dumps(serialize_keras_object(model), default=json_default)
    metadata = json.dumps({"keras_version": KERAS_VERSION,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    with atomic_path(path, overwrite) as tmp:
        weights = io.BytesIO()
        with h5py.File(weights, "w") as f:
            save_weights_to_h5(model, f)
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(METADATA_FILENAME, metadata)
            zf.writestr(CONFIG_FILENAME, config)
            zf.writestr(WEIGHTS_FILENAME, weights.getvalue())


def check_exists(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found: filepath={path}. Please ensure the file is an "
                                f"accessible {what}.")


def _open(path: str) -> zipfile.ZipFile:
    check_exists(path, "`.keras` zip file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"The file {path!r} is not a valid `.keras` file: it is not a zip archive "
                         "(it may be truncated, corrupt, or a file of another format, e.g. a legacy "
                         "HDF5 model, which should end in `.h5`).")
    try:
        return zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile as exc:
        raise ValueError(f"The file {path!r} is not a valid `.keras` file: {exc}") from exc


def _read(zf: zipfile.ZipFile, member: str, path: str) -> bytes:
    if member not in zf.namelist():
        raise ValueError(f"The file {path!r} is not a valid `.keras` file: it has no {member} "
                         f"(members: {zf.namelist()}).")
    try:
        return zf.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"The file {path!r} is corrupt: reading {member} failed ({exc}).") from exc


def _weights_file(data: bytes, path: str):
    h5py = h5py_module()
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as exc:
        raise ValueError(f"The file {path!r} is corrupt: its {WEIGHTS_FILENAME} is not a readable "
                         f"HDF5 file ({exc}).") from exc


def load(path: str, custom_objects: dict[str, Any] | None = None, compile: bool = True):
    """The model in a ``.keras`` file, with its weights (and optimizer state when compiled)."""
    with _open(path) as zf:
        raw = _read(zf, CONFIG_FILENAME, path)
        try:
            config = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"The file {path!r} is corrupt: {CONFIG_FILENAME} is not valid JSON "
                             f"({exc}).") from exc
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"The file {path!r} has no model config in {CONFIG_FILENAME}.")
        if not compile:
            config["compile_config"] = None
        model = deserialize_keras_object(config, custom_objects, compile=compile)
        if WEIGHTS_FILENAME not in zf.namelist() and "model.weights.npz" in zf.namelist():
            raise NotImplementedError(f"{path!r} stores its weights as .npz (weights_format='npz'); "
                                      "Horn reads the default h5 weights format only.")
        with _weights_file(_read(zf, WEIGHTS_FILENAME, path), path) as f:
            load_weights_from_h5(model, f, source=path)
    return model


def load_weights(model, path: str, skip_mismatch: bool = False) -> None:
    """Only the weights of a ``.keras`` file, into an existing model."""
    with _open(path) as zf, _weights_file(_read(zf, WEIGHTS_FILENAME, path), path) as f:
        load_weights_from_h5(model, f, source=path, skip_mismatch=skip_mismatch)

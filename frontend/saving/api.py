"""``save_model`` / ``load_model`` / ``save_weights`` / ``load_weights``: the format
follows the path's extension, as in Keras 3 (``.keras``, ``.weights.h5``, and
legacy HDF5 for any other ``.h5`` / ``.hdf5``)."""
from __future__ import annotations

import os
import warnings
import zipfile
from typing import Any

from frontend.saving import keras_archive, legacy_h5
from frontend.saving.weights import load_weights_from_h5, save_weights_to_h5

_LEGACY_SUFFIXES = (".h5", ".hdf5")


def save_model(model, filepath: str | os.PathLike, overwrite: bool = True, zipped: bool | None = None,
               include_optimizer: bool = True) -> None:
    """Saves ``model``: ``.keras`` (the Keras 3 format) or ``.h5`` (legacy HDF5).

    The write is atomic: the file is complete or the previous one is untouched.
    """
    path = os.fspath(filepath)
    if not model.built:
        warnings.warn("You are saving a model that has not yet been built. It might not contain any "
                      "weights yet. Consider building the model first by calling it on some data.",
                      stacklevel=3)
    if zipped is False:
        raise ValueError("zipped=False (an unzipped .keras directory) is not supported by Horn; "
                         "save to a `.keras` file.")
    if path.endswith(".keras"):
        keras_archive.save(model, path, overwrite)
    elif path.endswith(_LEGACY_SUFFIXES):
        legacy_h5.save_model(model, path, overwrite, include_optimizer)
    else:
        raise ValueError("Invalid filepath extension for saving. Please add either a `.keras` "
                         "extension for the native Keras format (recommended) or a `.h5` extension "
                         f"for the legacy HDF5 format. Received: filepath={path}")


def load_model(filepath: str | os.PathLike, custom_objects: dict[str, Any] | None = None,
               compile: bool = True, safe_mode: bool = True):
    """Loads a model saved by Horn or by Keras (``.keras`` or legacy ``.h5``), or an ONNX model.

    ``custom_objects`` maps names to custom classes or functions (registered
    ones are found without it); ``compile=False`` skips the saved ``compile()``.
    ``safe_mode`` is accepted for Keras compatibility: Horn never runs code
    stored in a file (lambdas are always refused). A ``.onnx`` file is read by
    :func:`frontend.onnx_import.load_onnx` (it holds no ``compile()`` to restore).
    """
    path = os.fspath(filepath)
    if path.endswith(".onnx"):
        from frontend.onnx_import import load_onnx
        return load_onnx(path)
    if path.endswith(".keras"):
        return keras_archive.load(path, custom_objects, compile)
    if path.endswith(_LEGACY_SUFFIXES):
        return legacy_h5.load_model(path, custom_objects, compile)
    keras_archive.check_exists(path, "`.keras` zip file or `.h5` file")
    if zipfile.is_zipfile(path):
        return keras_archive.load(path, custom_objects, compile)
    if keras_archive.h5py_module().is_hdf5(path):
        return legacy_h5.load_model(path, custom_objects, compile)
    raise ValueError(f"File format not supported: filepath={path}. Horn, like Keras 3, loads "
                     "`.keras` files and legacy HDF5 (`.h5`) files.")


def _require_built(model, what: str) -> None:
    if not model.built:
        raise ValueError(f"You are {what} a model that has not yet been built. Try building the model "
                         "first by calling it on some data or by using `build()`.")


def save_weights(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """``.weights.h5`` (Keras 3 layout) or another ``.h5`` (legacy layout), atomically."""
    path = os.fspath(filepath)
    _require_built(model, "saving the weights of")
    if path.endswith(".weights.h5"):
        h5py = keras_archive.h5py_module()
        from frontend.saving.atomic import atomic_path
        with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
            save_weights_to_h5(model, f)
    elif path.endswith(_LEGACY_SUFFIXES):
        legacy_h5.save_weights(model, path, overwrite)
    else:
        raise ValueError("The filename must end in `.weights.h5` (or `.h5` for the legacy format). "
                         f"Received: filepath={path}")


def load_weights(model, filepath: str | os.PathLike, skip_mismatch: bool = False) -> None:
    """Weights from ``.weights.h5``, ``.keras`` or a legacy ``.h5``, into ``model``."""
    path = os.fspath(filepath)
    _require_built(model, "loading weights into")
    if path.endswith(".keras"):
        keras_archive.load_weights(model, path, skip_mismatch)
    elif path.endswith(".weights.h5"):
        h5py = keras_archive.h5py_module()
        keras_archive.check_exists(path, "`.weights.h5` file")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise ValueError(f"The file {path!r} is not a readable HDF5 file ({exc}).") from exc
        with f:
            load_weights_from_h5(model, f, source=path, skip_mismatch=skip_mismatch)
    elif path.endswith(_LEGACY_SUFFIXES):
        legacy_h5.load_weights(model, path, skip_mismatch)
    else:
        raise ValueError("File format not supported for weights: expected `.weights.h5`, `.keras` or "
                         f"`.h5`. Received: filepath={path}")

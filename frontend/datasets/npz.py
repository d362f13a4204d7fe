"""Reading dataset pickles without letting a file run code.

IMDB and Reuters store ragged sequences as numpy object arrays, which only a
pickle stream can hold; the CIFAR batches are pickled dicts. Rebuilding either
needs three globals (``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``),
so the unpickler allows exactly those, as Keras' ``npz_utils`` does, and a
tampered file cannot reach ``os.system`` through ``__reduce__``.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

_ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                      ("numpy.core.multiarray", "_reconstruct"),
                      ("numpy._core.multiarray", "_reconstruct")})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python containers, nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Refusing to deserialize `{module}.{name}` while loading a "
                                     "dataset. The file may be corrupted or malicious.")


def _read_npy(fp: IO[bytes]) -> np.ndarray:
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)  # numeric arrays never unpickle
    except ValueError:
        fp.seek(0)
        version = np.lib.format.read_magic(fp)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(fp)
        elif version[0] in (2, 3):
            # 3.0 differs from 2.0 only in the header's text encoding, not its length field.
            np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"Unsupported .npy format version {version}")
        return RestrictedUnpickler(fp).load()


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of an ``.npz`` file, object arrays included, as a dict."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[:-4]] = _read_npy(io.BytesIO(raw.read()))
    return arrays


def load_pickle(fp: IO[bytes], encoding: str = "bytes"):
    """A restricted unpickle of a stream (the CIFAR batches were pickled by Python 2)."""
    return RestrictedUnpickler(fp, encoding=encoding).load()

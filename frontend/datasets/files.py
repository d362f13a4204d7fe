"""Finding, downloading and verifying dataset files.

Search order for a file: ``$HORN_DATA_DIR/<subdir>/<name>``, then the cache
(``$HORN_HOME/datasets`` or ``~/.horn/datasets``), then Keras' own cache
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``, where Keras keeps the file
under its own name), then a download into the cache. Every file is checked
against its published checksum before use: a 64-digit hash is SHA-256, a
32-digit one MD5, as Keras' ``get_file`` decides. A download is written to a
temporary file and renamed only once verified, so no truncated file is ever
left behind.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    root = os.environ.get("HORN_HOME") or os.path.join(os.path.expanduser("~"), ".horn")
    return Path(root) / "datasets"


def keras_cache_dir() -> Path:
    root = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(root) / "datasets"


def hash_algorithm(file_hash: str) -> str:
    """``"sha256"`` for a 64-digit hash, else ``"md5"`` (Keras' ``resolve_hasher``)."""
    return "sha256" if len(file_hash) == 64 else "md5"


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def candidate_paths(name: str, subdir: str, keras_path: str | None = None) -> list[Path]:
    """Where a local copy is looked for, in order."""
    paths = []
    if os.environ.get("HORN_DATA_DIR"):
        paths.append(Path(os.environ["HORN_DATA_DIR"]) / subdir / name)
    paths.append(cache_dir() / subdir / name)
    paths.append(keras_cache_dir() / (keras_path or f"{subdir}/{name}"))
    return paths


def get_file(name: str, subdir: str, file_hash: str, urls: list[str], *,
             keras_path: str | None = None) -> Path:
    """A verified local copy of ``subdir/name``, downloading it if no copy exists.

    ``file_hash`` is the published SHA-256 (64 hex digits) or MD5 (32).
    ``keras_path`` is the file's path inside Keras' cache when Keras names it
    differently (default ``subdir/name``).
    """
    algorithm = hash_algorithm(file_hash)
    candidates = candidate_paths(name, subdir, keras_path)
    for path in candidates:
        if path.is_file():
            digest = file_digest(path, algorithm)
            if digest != file_hash:
                raise ValueError(f"Dataset file {path} is corrupt: {algorithm} {digest}, expected "
                                 f"{file_hash}. Delete it to download a fresh copy.")
            return path
    target = cache_dir() / subdir / name
    errors = []
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only home: say where the file could go instead
        errors.append(f"cannot create {target.parent}: {exc}")
        urls = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        os.close(fd)
        try:
            urllib.request.urlretrieve(url, tmp)
            digest = file_digest(Path(tmp), algorithm)
            if digest != file_hash:
                raise ValueError(f"{algorithm} {digest}, expected {file_hash}")
            os.replace(tmp, target)
            return target
        except Exception as exc:  # try the next mirror; report all failures together
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    where = []
    if not os.environ.get("HORN_DATA_DIR"):
        where.append(f"$HORN_DATA_DIR/{subdir}/{name} (set HORN_DATA_DIR to a folder of your choice)")
    where += [str(p) for p in candidates]
    raise OSError(f"Could not find or download {subdir}/{name}. Put the file ({algorithm} {file_hash}) "
                  "at one of:\n  " + "\n  ".join(where) +
                  "\nor check your network. Tried:\n  " + "\n  ".join(errors or ["no download source"]))


def read_idx(path: Path) -> np.ndarray:
    """Reads a gzipped IDX file (the MNIST format): magic, dims, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    arr = np.frombuffer(data, np.uint8, offset=offset)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims}, file holds {arr.size} values")
    return arr.reshape(dims)

"""Finding, downloading and verifying dataset files.

Search order for a file: ``$HORN_DATA_DIR/<subdir>/<name>``, then the cache
(``$HORN_HOME/datasets`` or ``~/.horn/datasets``, then Keras' own
``~/.keras/datasets``), then a download into the cache. Every file is checked
against its published MD5 before use; a download is written to a temporary
file and renamed only once verified, so no truncated file is ever left behind.
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


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def get_file(name: str, subdir: str, md5: str, urls: list[str]) -> Path:
    """A verified local copy of ``name``, downloading it if no copy exists."""
    candidates = []
    if os.environ.get("HORN_DATA_DIR"):
        candidates.append(Path(os.environ["HORN_DATA_DIR"]) / subdir / name)
    candidates.append(cache_dir() / subdir / name)
    candidates.append(Path(os.path.expanduser("~")) / ".keras" / "datasets" / subdir / name)
    for path in candidates:
        if path.is_file():
            digest = _md5(path)
            if digest != md5:
                raise ValueError(f"Dataset file {path} is corrupt: md5 {digest}, expected {md5}. "
                                 f"Delete it to download a fresh copy.")
            return path
    target = cache_dir() / subdir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        os.close(fd)
        try:
            urllib.request.urlretrieve(url, tmp)
            digest = _md5(Path(tmp))
            if digest != md5:
                raise ValueError(f"md5 {digest}, expected {md5}")
            os.replace(tmp, target)
            return target
        except Exception as exc:  # try the next mirror; report all failures together
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError(f"Could not find or download {subdir}/{name}. Set HORN_DATA_DIR to a folder "
                  f"holding {subdir}/{name}, or check your network. Tried:\n  " + "\n  ".join(errors))


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

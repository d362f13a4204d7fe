"""Atomic file replacement: a crash mid-save never leaves a truncated checkpoint.

The content is written to a temporary file in the destination's directory (the
same filesystem, so the final rename is atomic), flushed to disk, and renamed
over the destination with ``os.replace``; the directory entry is then synced.
On any failure the temporary file is removed and the previous file, if any, is
untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

# mkstemp creates files 0600; a saved model should get the mode any new file gets.
# (Reading the umask means setting it; this runs once, at import, before threads save.)
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:       # some platforms cannot open directories; the rename is still atomic
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[str]:
    """Yields a temporary path to write; on success it replaces ``path``.

    ``overwrite=False`` refuses to replace an existing file (checked before any
    work is done).
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"File {path!r} already exists and overwrite=False.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_path(directory, directory=True)

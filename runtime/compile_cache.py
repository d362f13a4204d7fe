"""An opt-in on-disk cache of compiled machine code (off unless a folder is set).

The folder is, first found: ``HORN_CACHE_DIR``, then :func:`set_cache_dir`
(``horn.config.set_cache_dir``). An entry is the object file MCJIT made of a
module, keyed by a SHA-256 of everything that decides that code: the LLVM IR
text as handed to the JIT, the LLVM optimization level, the target (triple, CPU
name, CPU features), the llvmlite and LLVM versions, the pipeline switches of
``runtime.jit`` and this format's version. A hit skips LLVM's optimization and
machine-code generation; the IR is still parsed (MCJIT needs a module to load
the object for). The optimized IR text is stored next to the object so
``JitLibrary.optimized_ir`` means the same on a hit.

Writes go to a temporary file in the same folder and are renamed into place, so
a reader (another process too) sees a whole entry or none. An unreadable or
unwritable folder only costs the cache, never the compile: the error is
warned about once and compiling goes on uncached.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

CACHE_ENV = "HORN_CACHE_DIR"
FORMAT = "horn-jit-1"

_settings: dict[str, Path | None] = {"dir": None}
_warned: set[str] = set()


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Cache compiled code under ``path`` (None: no cache, unless ``HORN_CACHE_DIR`` is set)."""
    _settings["dir"] = None if path is None else Path(path)


def get_cache_dir() -> Path | None:
    """The folder in use: ``HORN_CACHE_DIR``, else :func:`set_cache_dir`'s, else None (off)."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env) if env else _settings["dir"]


def cache_key(llvm_ir: str, opt_level: int, tm: llvm.TargetMachine, extra: str = "") -> str:
    """The entry name of ``llvm_ir`` compiled at ``opt_level`` by ``tm``."""
    from codegen.target import Target
    host = Target.host()
    h = hashlib.sha256()
    for part in (FORMAT, llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)), tm.triple,
                 host.cpu, host.features, str(opt_level), extra):
        h.update(part.encode())
        h.update(b"\0")
    h.update(llvm_ir.encode())
    return h.hexdigest()


def load(key: str) -> tuple[bytes, str] | None:
    """(object file, optimized IR) of ``key``, or None when the cache is off or has no entry."""
    root = get_cache_dir()
    if root is None:
        return None
    obj_path = root / f"{key}.o"
    try:
        data = obj_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn(root, exc)
        return None
    # The object is stored after its own SHA-256: a damaged file is a miss (and is
    # rewritten), never machine code loaded into this process.
    digest, obj = data[:32], data[32:]
    if len(data) <= 32 or hashlib.sha256(obj).digest() != digest:
        return None
    try:
        ir = (root / f"{key}.ll").read_text()
    except OSError:
        ir = ""
    return obj, ir


def store(key: str, obj: bytes, optimized_ir: str) -> None:
    """Writes the entry atomically (the IR first: an object on disk means a whole entry)."""
    root = get_cache_dir()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        _atomic_write(root / f"{key}.ll", optimized_ir.encode())
        _atomic_write(root / f"{key}.o", hashlib.sha256(obj).digest() + obj)
    except OSError as exc:
        _warn(root, exc)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _warn(root: Path, exc: OSError) -> None:
    if str(root) not in _warned:
        _warned.add(str(root))
        warnings.warn(f"Horn's compile cache at {root} is not usable ({exc}); compiling without it.",
                      RuntimeWarning, stacklevel=3)

"""The one way a graph becomes native code for this machine: passes, memory plan, codegen.

Model predict, the trainer's steps, the ONNX importer and the command line
all come through :func:`optimize_graph` and :func:`compile_graph_for_host`,
so the optimization level and the IR dumps mean the same everywhere.

The level is, first found: the ``opt_level`` argument, the ``HORN_OPT_LEVEL``
environment variable, :func:`set_optimization_level` (``horn.config``), and
3. The IR dump folder is the ``dump_dir`` argument, ``HORN_DUMP_IR_DIR``
(``HORN_DUMP_IR``), or :func:`set_dump_ir_dir`; each graph writes
``<dir>/<graph name>/NN_<pass>.hir`` after every pass.
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

OPT_LEVEL_ENV = "HORN_OPT_LEVEL"
INPLACE_ENV = "HORN_INPLACE"

_settings: dict[str, object] = {"opt_level": None, "dump_dir": None}


def set_optimization_level(level: int | None) -> None:
    """The level (0-3) compiled code gets when neither an argument nor ``HORN_OPT_LEVEL`` says;
    None goes back to the default, 3."""
    from passes.pipeline import check_opt_level
    _settings["opt_level"] = None if level is None else check_opt_level(level)


def get_optimization_level() -> int:
    """The level compiled code gets now (``HORN_OPT_LEVEL``, else the set one, else 3)."""
    return resolve_opt_level(None)


@contextlib.contextmanager
def optimization_level(level: int) -> Iterator[None]:
    """``with optimization_level(0): ...``: the level, set for the block only."""
    old = _settings["opt_level"]
    set_optimization_level(level)
    try:
        yield
    finally:
        _settings["opt_level"] = old


def configured_level() -> int | None:
    """What :func:`set_optimization_level` set (None: nothing); cheap, for keys of compiled caches.

    Not the environment: reading ``os.environ`` costs microseconds, and caches
    are looked up on every predict call. ``HORN_OPT_LEVEL`` is read when a
    graph is compiled.
    """
    return _settings["opt_level"]  # type: ignore[return-value]


def set_dump_ir_dir(path: str | os.PathLike | None) -> None:
    """Write the IR after every pass under ``path`` (None: stop, unless ``HORN_DUMP_IR_DIR`` is set)."""
    _settings["dump_dir"] = None if path is None else Path(path)


def get_dump_ir_dir() -> Path | None:
    from passes.pass_manager import DUMP_ENV, DUMP_ENV_ALIASES
    for name in (DUMP_ENV, *DUMP_ENV_ALIASES):
        if os.environ.get(name):
            return Path(os.environ[name])
    return _settings["dump_dir"]  # type: ignore[return-value]


def resolve_opt_level(opt_level: int | None) -> int:
    """The argument, else ``HORN_OPT_LEVEL``, else :func:`set_optimization_level`'s, else 3."""
    from passes.pipeline import DEFAULT_OPT_LEVEL, check_opt_level
    if opt_level is not None:
        return check_opt_level(opt_level)
    env = os.environ.get(OPT_LEVEL_ENV, "").strip()
    if env:
        try:
            return check_opt_level(int(env))
        except ValueError:
            raise ValueError(f"{OPT_LEVEL_ENV} must be one of 0, 1, 2, 3. Received: {env!r}") from None
    if _settings["opt_level"] is not None:
        return int(_settings["opt_level"])  # type: ignore[call-overload]
    return DEFAULT_OPT_LEVEL


def llvm_opt_level(opt_level: int) -> int:
    """LLVM's level for Horn's: -O0 -> 0, -O1 and -O2 -> 2, -O3 -> 3."""
    return {0: 0, 1: 2, 2: 2, 3: 3}[opt_level]


def optimize_graph(graph, *, opt_level: int | None = None, training: bool = False,
                   dump_dir: str | os.PathLike | None = None):
    """Runs the pipeline of the level on ``graph`` (consumed) and returns the optimized graph."""
    from passes.pass_manager import PassManager
    from passes.pipeline import pipeline
    level = resolve_opt_level(opt_level)
    root = Path(dump_dir) if dump_dir is not None else get_dump_ir_dir()
    folder = None if root is None else root / _file_name(graph.name)
    return PassManager(pipeline(level, training=training), dump_dir=folder).run(graph)


def compile_graph_for_host(graph, *, opt_level: int | None = None, training: bool = False,
                           run_passes: bool = True, dump_dir: str | os.PathLike | None = None):
    """``graph`` through the pipeline (unless ``run_passes`` is False: it already went through),
    the memory plan and LLVM, as an :class:`~runtime.executable.Executable`.

    From -O1 on, intermediates share the arena, and inference graphs
    (``training=False``) run what depends only on weights in a prologue, once
    per weight version. ``HORN_DISABLE_PASSES`` takes ``memory_planning`` and
    ``hoisting`` too. ``HORN_INPLACE=1`` turns on in-place elementwise kernels
    (off by default: see ``codegen.cpu.compiler.compile_graph``).
    """
    from runtime.executable import Executable
    level = resolve_opt_level(opt_level)
    if run_passes:
        graph = optimize_graph(graph, opt_level=level, training=training, dump_dir=dump_dir)
    from passes.pass_manager import DISABLE_ENV
    from passes.memory_planning import PASS_NAME
    disabled = {s.strip() for s in os.environ.get(DISABLE_ENV, "").split(",")}
    planned = level >= 1 and PASS_NAME not in disabled
    return Executable(graph, opt_level=llvm_opt_level(level), reuse_memory=planned,
                      inplace=planned and os.environ.get(INPLACE_ENV) == "1",
                      hoist=level >= 1 and not training and "hoisting" not in disabled)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "graph"

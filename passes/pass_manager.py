"""Running a pipeline of passes: verification, IR dumps, timing, bisecting.

A pass is a plain function ``fn(graph, *, options...) -> PassResult``. A
pipeline is one readable list of :class:`Pass` records, and
:class:`PassManager` runs it.

Ownership: a pass may rewrite the graph it is given in place and return it,
or return a new graph (shape inference rebuilds). Either way the caller must
continue with the returned graph and treat the one it passed in as consumed;
``graph.copy()`` first if the original is still needed.

Environment variables (read when a PassManager is constructed):

``HORN_DUMP_IR_DIR=<dir>`` (or ``HORN_DUMP_IR=<dir>``)
    Write the printed IR to ``<dir>/00_input.hir`` and, after the pass at
    pipeline position ``NN`` (from 01), to ``<dir>/NN_<pass>.hir``. An explicit
    ``dump_dir`` argument wins over the variables. (``runtime.compile`` gives
    each compiled graph its own sub-folder, named after the graph.)
``HORN_DISABLE_PASSES=constant_folding,dce``
    Skip the named passes, for bisecting a miscompile down to one pass.
    Skipped passes appear in the report as skipped and write no dump.
"""
from __future__ import annotations

import inspect
import os
import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from ir.gc_pause import gc_paused
from ir.graph import Graph
from ir.printer import print_graph
from ir.verifier import VerificationError, verify as verify_graph

DUMP_ENV = "HORN_DUMP_IR_DIR"
DUMP_ENV_ALIASES = ("HORN_DUMP_IR",)     # the first name this variable had
DUMP_SUFFIX = ".hir"
DISABLE_ENV = "HORN_DISABLE_PASSES"

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class PassResult:
    """What every pass returns: the graph to continue with, and whether it differs."""

    graph: Graph
    changed: bool


PassFn = Callable[[Graph], PassResult]


@dataclass(frozen=True)
class Pass:
    """One pipeline entry: a file-name-safe ``name`` and the function to run."""

    name: str
    fn: PassFn
    enabled: bool = True

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"A pass name must be an identifier (it names dump files). "
                             f"Received: name={self.name!r}")


def make_pass(fn: Callable[..., PassResult], *, name: str | None = None, enabled: bool = True,
              **options: Any) -> Pass:
    """A :class:`Pass` running ``fn`` with keyword ``options`` bound; named after ``fn`` by default.

    Options are checked against ``fn``'s signature here, so a misspelt option
    fails when the pipeline is written instead of being silently ignored.
    """
    try:
        inspect.signature(fn).bind(None, **options)
    except TypeError as exc:
        raise TypeError(f"pass {name or fn.__name__}: {exc}") from None
    return Pass(name or fn.__name__, partial(fn, **options) if options else fn, enabled)


@dataclass(frozen=True)
class PassRecord:
    """One row of :attr:`PassManager.report`."""

    name: str
    seconds: float | None     # None when timing is off or the pass was skipped
    changed: bool
    skipped: str | None       # why it did not run, or None
    nodes: int                # node count after the pass


class PassManager:
    """Runs ``pipeline`` in order, verifying (and optionally dumping) after each pass."""

    def __init__(self, pipeline: Sequence[Pass], *, verify: bool = True,
                 dump_dir: str | Path | None = None, timing: bool = True):
        for p in pipeline:
            if not isinstance(p, Pass):
                raise TypeError(f"A pipeline holds Pass records. Received: {p!r}")
        self.pipeline = list(pipeline)
        self.verify = verify
        if dump_dir is None:
            dump_dir = next((os.environ[n] for n in (DUMP_ENV, *DUMP_ENV_ALIASES) if os.environ.get(n)),
                            None)
        self.dump_dir = None if dump_dir is None else Path(dump_dir)
        self.timing = timing
        self.disabled = frozenset(
            s.strip() for s in os.environ.get(DISABLE_ENV, "").split(",") if s.strip())
        self.report: list[PassRecord] = []

    def run(self, graph: Graph) -> Graph:
        """Runs the pipeline on ``graph`` (which may be modified) and returns the result.

        Raises VerificationError naming the pass after which the graph broke,
        or saying the input graph was broken before any pass ran.
        """
        with gc_paused():      # ir/gc_pause.py: passes allocate much and free little until the end
            return self._run(graph)

    def _run(self, graph: Graph) -> Graph:
        self.report = []
        self._dump(graph, "00_input")
        self._check(graph, "in the input graph, before any pass")
        for i, p in enumerate(self.pipeline, start=1):
            skipped = ("disabled" if not p.enabled
                       else DISABLE_ENV if p.name in self.disabled else None)
            if skipped:
                self.report.append(PassRecord(p.name, None, False, skipped, len(graph)))
                continue
            start = time.perf_counter()
            result = p.fn(graph)
            seconds = time.perf_counter() - start if self.timing else None
            if not isinstance(result, PassResult):
                raise TypeError(f"pass {p.name} must return a PassResult, "
                                f"returned {type(result).__name__}")
            graph = result.graph
            self.report.append(PassRecord(p.name, seconds, result.changed, None, len(graph)))
            # Dump before verifying, so a broken graph can be inspected.
            self._dump(graph, f"{i:02d}_{p.name}")
            self._check(graph, f"after pass {p.name}")
        return graph

    def format_report(self) -> str:
        """The last run as a table: pass, time, changed, node count."""
        rows = [("pass", "time (ms)", "changed", "nodes")]
        total = 0.0
        for r in self.report:
            ms = "-" if r.seconds is None else f"{r.seconds * 1e3:.3f}"
            total += r.seconds or 0.0
            changed = f"skipped ({r.skipped})" if r.skipped else ("yes" if r.changed else "no")
            rows.append((r.name, ms, changed, str(r.nodes)))
        rows.append(("total", f"{total * 1e3:.3f}" if self.timing else "-", "", ""))
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:<{widths[2]}}  {d:>{widths[3]}}"
                         .rstrip() for a, b, c, d in rows)

    def _check(self, graph: Graph, where: str) -> None:
        if not self.verify:
            return
        try:
            verify_graph(graph)
        except VerificationError as exc:
            raise VerificationError(f"{where}: {exc}") from exc

    def _dump(self, graph: Graph, stem: str) -> None:
        if self.dump_dir is None:
            return
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        path = self.dump_dir / f"{stem}{DUMP_SUFFIX}"
        # Write then rename, so a crash never leaves a half-written dump behind.
        tmp = path.with_suffix(f"{DUMP_SUFFIX}.tmp")
        tmp.write_text(print_graph(graph) + "\n")
        os.replace(tmp, path)

"""``with gc_paused():`` runs a block with Python's cyclic garbage collector off.

Compiling allocates hundreds of thousands of small objects that live until the
compile ends (graph nodes, llvmlite instructions and their cached strings). Each
of them pushes the collector towards another collection, and most collections
then walk everything alive in the process (numpy, the models, the modules) and
free nothing. Measured on convnet-S's train step: ``compile_graph`` took 0.7-0.9 s
CPU with the collector on and 0.42-0.45 s with it paused, the deferred collection
included. Nothing is leaked: the collector runs again when the outermost block
exits, and reference counting frees acyclic garbage as usual inside it.
``HORN_DISABLE_PASSES=gc_pause`` leaves the collector alone (for measuring).
"""
from __future__ import annotations

import contextlib
import gc
import os
from typing import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The block runs with the collector off; it is switched back on after the outermost
    block only if it was on when that block began (nesting and callers that disabled it
    themselves are respected)."""
    if "gc_pause" in os.environ.get("HORN_DISABLE_PASSES", ""):     # the bisecting switch of passes/
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

"""The standard pipelines, one readable list per optimization level.

Kept apart from pass_manager.py because the passes import PassResult from
there; listing them here avoids an import cycle.

=====  =========================================================================
-O0    shape inference only (and LLVM -O0, every intermediate in its own memory)
-O1    + canonicalize, constant folding, CSE, DCE (and reuse in the arena)
-O2    + fusion (``passes.fusion``, when that module exists)
-O3    + everything: BatchNorm folding for inference (``passes.fold_batchnorm``,
       when it exists), and LLVM -O3
=====  =========================================================================

Optional passes are looked up by module, so a pipeline lists them before they
are written; ``HORN_DISABLE_PASSES`` turns any pass off by name for bisecting.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Callable

from passes.canonicalize import canonicalize
from passes.constant_folding import constant_folding
from passes.cse import cse
from passes.dce import dce
from passes.pass_manager import Pass, make_pass
from passes.shape_inference import shape_inference

OPT_LEVELS = (0, 1, 2, 3)
DEFAULT_OPT_LEVEL = 3


def check_opt_level(opt_level: object) -> int:
    """``opt_level`` as an int in 0..3, or a ValueError saying what was expected."""
    if isinstance(opt_level, bool) or not isinstance(opt_level, int) or opt_level not in OPT_LEVELS:
        raise ValueError(f"The optimization level must be one of 0, 1, 2, 3. Received: {opt_level!r}")
    return opt_level


def pipeline(opt_level: int, *, training: bool = False) -> list[Pass]:
    """The passes of ``-O<opt_level>``; ``training`` graphs skip inference-only rewrites."""
    opt_level = check_opt_level(opt_level)
    passes = [make_pass(shape_inference)]
    if opt_level == 0:
        return passes
    passes += [make_pass(canonicalize), make_pass(constant_folding)]
    if opt_level >= 3 and not training:
        # Before CSE: folding turns the BatchNorm chain into weight-only arithmetic that
        # hoisting runs once per weight version.
        passes += _optional("passes.fold_batchnorm", "fold_batchnorm")
    passes += [make_pass(canonicalize, name="canonicalize_2"), make_pass(cse), make_pass(dce)]
    if opt_level >= 2:
        passes += _optional("passes.fusion", "fusion")
    return passes


def default_pipeline() -> list[Pass]:
    """The inference pipeline at the default level (-O3)."""
    return pipeline(DEFAULT_OPT_LEVEL)


def _optional(module: str, name: str) -> list[Pass]:
    """``[Pass(name)]`` when ``module`` exists; an error in it is not hidden."""
    if importlib.util.find_spec(module) is None:
        return []
    fn: Callable = getattr(importlib.import_module(module), name)
    return [make_pass(fn, name=name)]

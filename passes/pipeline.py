"""The standard pipelines, each one readable list of passes.

Kept apart from pass_manager.py because the passes import PassResult from
there; listing them here avoids an import cycle.
"""
from __future__ import annotations

from passes.constant_folding import constant_folding
from passes.dce import dce
from passes.pass_manager import Pass, make_pass
from passes.shape_inference import shape_inference


def default_pipeline() -> list[Pass]:
    """Shape inference, then constant folding, then DCE to drop what folding left dead."""
    return [
        make_pass(shape_inference),
        make_pass(constant_folding),
        make_pass(dce),
    ]

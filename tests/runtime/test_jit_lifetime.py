"""Regression: a compiled library must not take shared LLVM state down when it is collected."""
from __future__ import annotations

import gc

import numpy as np

from ir import DType, Graph, Op, TensorType
from runtime.executable import Executable


def _matmul_graph(dtype: DType) -> Graph:
    g = Graph()
    a = g.add_input(TensorType(dtype, (None, 3)), "a")
    b = g.add_input(TensorType(dtype, (3, 2)), "b")
    g.set_outputs([g.add_node(Op.MATMUL, [a, b]).output])
    return g


def test_compile_after_an_executable_was_collected() -> None:
    # MCJIT owns (and frees) the target machine it is built with; a cached one shared by all
    # libraries dangled after the first was collected and the next compile aborted the process.
    for dtype in (DType.float32, DType.float64, DType.float32):
        exe = Executable(_matmul_graph(dtype))
        a, b = np.ones((4, 3), dtype.numpy), np.ones((3, 2), dtype.numpy)
        np.testing.assert_array_equal(exe(a, b)[0], np.full((4, 2), 3, dtype.numpy))
        del exe
        gc.collect()

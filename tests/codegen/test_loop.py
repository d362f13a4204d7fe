"""CPU codegen of scan: a native loop calling the compiled body, against the interpreter.

Awkward shapes (batch 1 and primes, T = 1, primes and 0, symbolic N and T), both
directions, integer carries and bool sequences, a loop in a loop; one executable
serves every length; the generated code does not grow with T.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from codegen.cpu.compiler import compile_graph
from ir import BATCH, DType, Graph, Op, SymDim, TensorType
from ir.attrs import ScanAttrs
from runtime.executable import Executable
from tests.codegen.harness import check_compiled, random_array
from tests.ir.test_regions import nested_graph
from tests.ir.test_scan import counter_graph, rnn_graph

T = SymDim("T")


def _inputs(g: Graph, batch: int, length: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [random_array(tuple(batch if d == BATCH else length if isinstance(d, SymDim) else d
                               for d in v.shape), v.dtype, rng, -1.0, 1.0) for v in g.inputs]


@pytest.mark.parametrize("reverse", [False, True])
def test_symbolic_t_one_executable_every_length(reverse):
    g = rnn_graph(units=5, feat=3, reverse=reverse)
    exe = Executable(g)
    for batch, length in [(1, 1), (7, 13), (2, 0), (3, 31), (1, 2)]:
        check_compiled(g, _inputs(g, batch, length, length), executable=exe, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch,length", [(1, 1), (3, 5), (13, 7)])
def test_static_t(batch, length):
    g = rnn_graph(units=4, feat=3, length=length)
    check_compiled(g, _inputs(g, batch, length), rtol=1e-5, atol=1e-5)


def test_float64_wide_units():
    g = rnn_graph(units=67, feat=31, dtype=DType.float64)
    exe = Executable(g)
    for batch, length in [(1, 3), (5, 2)]:
        check_compiled(g, _inputs(g, batch, length), executable=exe, rtol=1e-12, atol=1e-12)


def test_integer_carry_bool_sequence_and_passthrough_outputs():
    g = counter_graph()
    exe = Executable(g)
    for batch, length in [(1, 1), (3, 5), (2, 0)]:
        check_compiled(g, _inputs(g, batch, length), executable=exe)


def test_loop_in_a_loop():
    g = nested_graph()
    exe = Executable(g)
    for batch, length in [(1, 1), (3, 4)]:
        check_compiled(g, _inputs(g, batch, length), executable=exe, rtol=1e-5, atol=1e-5)


def test_carry_that_passes_through_and_invariant_returned_per_step():
    """Body outputs that are body inputs (no kernel writes them) are copied by the body function."""
    b = Graph("step")
    h = b.add_input(TensorType(DType.float32, (BATCH, 2)), "h")
    x = b.add_input(TensorType(DType.float32, (BATCH, 3)), "x_t")
    k = b.add_input(TensorType(DType.float32, (BATCH, 2)), "k")
    b.set_outputs([h, k, x, h])
    g = Graph("main")
    ins = [g.add_input(TensorType(DType.float32, s), n) for s, n in
           [((BATCH, 2), "h0"), ((BATCH, T, 3), "x"), ((BATCH, 2), "k")]]
    g.set_outputs(g.add_node(Op.SCAN, ins, ScanAttrs(b, 1, 1, 1, reverse=True)).outputs)
    exe = Executable(g)
    for batch, length in [(1, 1), (5, 3)]:
        check_compiled(g, _inputs(g, batch, length), executable=exe)


def _normalized(ir: str) -> str:
    return re.sub(r"\d+", "0", ir)


def test_code_does_not_grow_with_t():
    """Two static lengths give the same LLVM IR up to the numbers in it (trip count, strides)."""
    short = compile_graph(rnn_graph(length=3)).llvm_ir
    long = compile_graph(rnn_graph(length=3000)).llvm_ir
    assert _normalized(short) == _normalized(long)
    assert '@"body_scan"' in short and short.count("define ") == long.count("define ")

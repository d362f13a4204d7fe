"""SLICE reversing a whole symbolic axis, ``(-1, None, -1)``: the one slice a symbolic
(non-batch) axis takes besides the whole axis. Every facet: shape rule, reference,
VJP (finite differences), CPU lowering and ONNX mapping, each against the
interpreter (or numpy) at lengths 1, 2, 7 and batches 1, 3 through one graph.
"""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import ReduceAttrs, SliceAttrs
from ir.shapes import SymDim
from passes.autodiff import gradients
from runtime.executable import Executable

T = SymDim("T")
F64 = DType.float64
REVERSE_T = SliceAttrs((0, -1, 2), (None, None, None), (1, -1, -3))   # N whole, T reversed, 5 by -3


def _graph(dtype: DType = F64, grad: bool = False) -> Graph:
    g = Graph("reverse_t")
    x = g.add_input(TensorType(dtype, (BATCH, T, 5)), "x")
    y = g.add_node(Op.SLICE, [x], REVERSE_T).output
    if not grad:
        g.set_outputs([y])
    else:
        u = g.add_input(y.type, "u")
        prod = g.add_node(Op.MUL, [y, u]).output
        loss = g.add_node(Op.REDUCE_SUM, [prod], ReduceAttrs((0, 1, 2))).output
        g.set_outputs([loss, *gradients(g, loss, [x])])
    verify(g)
    return g


def _want(x: np.ndarray) -> np.ndarray:
    return x[:, ::-1, 2::-3]


SIZES = [(1, 1), (1, 7), (3, 2), (3, 7)]


def test_shape_rule_keeps_the_symbolic_axis_and_rejects_other_bounds():
    g = _graph()
    assert g.outputs[0].shape == (BATCH, T, 1)
    bad = Graph("bad")
    x = bad.add_input(TensorType(F64, (BATCH, T)), "x")
    for attrs in [SliceAttrs((0, -2), (None, None), (1, -1)), SliceAttrs((0, 0), (None, None), (1, -1)),
                  SliceAttrs((0, -1), (None, None), (1, -2))]:
        with pytest.raises(ValueError, match=r"symbolic size T can only be taken whole \(0, None, 1\) or "
                                             r"whole and reversed \(-1, None, -1\)"):
            bad.add_node(Op.SLICE, [x], attrs)


@pytest.mark.parametrize("batch,length", SIZES)
def test_reference_and_cpu_lowering(batch, length):
    g = _graph(DType.float32)
    exe = Executable(g)
    x = np.random.default_rng(length).standard_normal((batch, length, 5)).astype("float32")
    (ref,) = interpret(g, [x])
    np.testing.assert_array_equal(ref, _want(x))
    np.testing.assert_array_equal(exe(x)[0], ref)


def test_vjp_reverses_the_cotangent_back_and_compiles():
    g = _graph(grad=True)
    exe = Executable(g, opt_level=0)
    for batch, length in SIZES:
        rng = np.random.default_rng(batch * 10 + length)
        x, u = rng.standard_normal((batch, length, 5)), rng.standard_normal((batch, length, 1))
        loss, dx = interpret(g, [x, u])
        want = np.zeros_like(x)
        want[:, ::-1, 2::-3] = u                      # the cotangent put back where it was read
        np.testing.assert_allclose(dx, want, rtol=0, atol=0)
        v, eps = rng.standard_normal(x.shape), 1e-6
        fd = (interpret(g, [x + eps * v, u])[0] - interpret(g, [x - eps * v, u])[0]) / (2 * eps)
        assert abs(float(np.sum(dx * v)) - float(fd)) < 1e-7
        for got, ref in zip(exe(x, u), (loss, dx)):
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_onnx_mapping_runs_in_onnxruntime_at_every_length():
    from codegen.onnx import graph_to_onnx
    from tests.codegen.onnx_harness import run, session
    g = _graph(DType.float32)
    sess = session(graph_to_onnx(g))
    for batch, length in SIZES:
        x = np.random.default_rng(length).standard_normal((batch, length, 5)).astype("float32")
        np.testing.assert_array_equal(run(sess, [x])[0], interpret(g, [x])[0])


def test_frontend_flip_and_getitem_on_a_symbolic_length():
    """ops.flip and ``x[:, ::-1]`` emit it; other slices of a None length name it as such."""
    import horn
    from frontend.tracing import Tracer
    from frontend import ops
    tr = Tracer("t")
    x = tr.input((None, None, 3), "float32", "x")
    flipped = ops.flip(x, axis=1)
    assert flipped.shape == (None, None, 3)
    assert tr.graph.nodes[-1].attrs == SliceAttrs((0, -1, 0), (None, None, None), (1, -1, 1))
    assert x[:, ::-1].shape == (None, None, 3)
    with pytest.raises(ValueError, match=r"a length given as None\) can only be taken whole \(`:`\) "
                                         r"or whole and reversed \(`::-1`\)"):
        x[:, 1:]
    with pytest.raises(ValueError, match=r"axis 1 has symbolic size .* \(a length given as None\)"):
        horn.ops.slice(x, (0, 1, 0), (-1, 2, 3))
    with pytest.raises(ValueError, match=r"\(the batch\) can only be taken whole"):
        x[1:]
    with pytest.raises(ValueError, match=r"split needs a static size, but that dimension is a symbolic "
                                         r"length \(declared None\)"):
        ops.split(x, 2, axis=1)


def test_printer_parser_round_trip():
    from ir.parser import parse_graph
    from ir.printer import print_graph
    text = print_graph(_graph())
    assert "starts=[0,-1,2], stops=[none,none,none], steps=[1,-1,-3]" in text
    assert print_graph(parse_graph(text)) == text

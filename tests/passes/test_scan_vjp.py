"""The VJP of scan against finite differences in float64 (tests/passes/test_autodiff.py's method).

``y = sum(final carries * u_c) + sum(stacked outputs * u_y)`` with random cotangent
inputs ``u``; for a random direction ``v`` of each differentiated input
``<dy/dx, v>`` must equal ``(y(x + eps v) - y(x - eps v)) / (2 eps)``, all through
the reference interpreter, over both directions, lengths 1 and 5 (T symbolic or
static), batches 1 and 3, a masked LSTM-like body with two carries, and weights as
invariants (their cotangents accumulate over the steps). Then DCE, the structure
of the gradient graph, and the compiled gradient against the interpreter.
"""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, SymDim, TensorType, interpret, verify
from ir.attrs import ReduceAttrs, ScanAttrs
from passes.autodiff import gradients
from passes.dce import dce

F64 = DType.float64
T = SymDim("T")
EPS = 1e-6


def rnn_body(units: int, feat: int, masked: bool) -> Graph:
    """An LSTM-like step: two carries (h, c), x_t, optional bool mask_t; invariants W, U, b."""
    b = Graph("step")
    h = b.add_input(TensorType(F64, (BATCH, units)), "h")
    c = b.add_input(TensorType(F64, (BATCH, units)), "c")
    x = b.add_input(TensorType(F64, (BATCH, feat)), "x_t")
    m = b.add_input(TensorType(DType.bool, (BATCH, 1)), "m_t") if masked else None
    w = b.add_input(TensorType(F64, (feat, units)), "w")
    u = b.add_input(TensorType(F64, (units, units)), "u")
    bias = b.add_input(TensorType(F64, (units,)), "b")

    def op(o, *xs):
        return b.add_node(o, list(xs)).output
    z = op(Op.ADD, op(Op.ADD, op(Op.MATMUL, x, w), op(Op.MATMUL, h, u)), bias)
    gate = op(Op.SIGMOID, z)
    c2 = op(Op.ADD, op(Op.MUL, gate, c), op(Op.TANH, z))
    h2 = op(Op.MUL, op(Op.SIGMOID, c2), op(Op.TANH, c2))
    if m is not None:
        h2 = op(Op.SELECT, m, h2, h)
        c2 = op(Op.SELECT, m, c2, c)
    b.set_outputs([h2, c2, h2, op(Op.SIN, op(Op.MUL, x, x))])
    return b


def scan_loss_graph(units: int, feat: int, length, masked: bool, reverse: bool) -> Graph:
    g = Graph("main")
    h0 = g.add_input(TensorType(F64, (BATCH, units)), "h0")
    c0 = g.add_input(TensorType(F64, (BATCH, units)), "c0")
    x = g.add_input(TensorType(F64, (BATCH, length, feat)), "x")
    seqs = [x]
    if masked:
        seqs.append(g.add_input(TensorType(DType.bool, (BATCH, length, 1)), "mask"))
    w = g.add_input(TensorType(F64, (feat, units)), "w")
    u = g.add_input(TensorType(F64, (units, units)), "u")
    b = g.add_input(TensorType(F64, (units,)), "b")
    body = rnn_body(units, feat, masked)
    node = g.add_node(Op.SCAN, [h0, c0, *seqs, w, u, b], ScanAttrs(body, 2, len(seqs), 3, reverse))
    terms = []
    for v in node.outputs:
        cot = g.add_input(v.type, f"u_{v.name}")
        prod = g.add_node(Op.MUL, [v, cot]).output
        terms.append(g.add_node(Op.REDUCE_SUM, [prod], ReduceAttrs(tuple(range(v.type.rank)))).output)
    y = terms[0]
    for t in terms[1:]:
        y = g.add_node(Op.ADD, [y, t]).output
    g.set_outputs([y])
    return g


def _inputs(g: Graph, batch: int, length: int, rng) -> dict[str, np.ndarray]:
    out = {}
    for v in g.inputs:
        shape = tuple(batch if d == BATCH else length if isinstance(d, SymDim) else d for d in v.shape)
        out[v.name] = (rng.random(shape) < 0.7) if v.dtype is DType.bool else rng.standard_normal(shape)
    return out


DIFF = ["h0", "c0", "x", "w", "u", "b"]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("length,static", [(1, False), (5, False), (5, True)])
def test_scan_vjp_matches_finite_differences(reverse, masked, length, static):
    units, feat = 3, 2
    g = scan_loss_graph(units, feat, length if static else T, masked, reverse)
    y = g.outputs[0]
    wrt = [next(v for v in g.inputs if v.name == n) for n in DIFF]
    grads = gradients(g, y, wrt)
    g.set_outputs([y, *grads])
    verify(g)
    for batch in (1, 3):
        rng = np.random.default_rng(batch + 10 * length)
        xs = _inputs(g, batch, length, rng)
        got = interpret(g, xs)
        for name, grad in zip(DIFF, got[1:]):
            v = rng.standard_normal(xs[name].shape)
            plus, minus = dict(xs), dict(xs)
            plus[name] = xs[name] + EPS * v
            minus[name] = xs[name] - EPS * v
            fd = (interpret(g, plus)[0] - interpret(g, minus)[0]) / (2 * EPS)
            np.testing.assert_allclose(np.sum(grad * v), fd, rtol=1e-6, atol=1e-7,
                                       err_msg=f"d y / d {name} (batch {batch}, T {length})")


def test_gradient_graph_structure_and_dce():
    """One saving forward scan replaces the original (which DCE drops) and one backward scan
    runs the other way, with the weight cotangents as accumulating carries."""
    g = scan_loss_graph(3, 2, T, masked=False, reverse=False)
    y = g.outputs[0]
    wrt = [next(v for v in g.inputs if v.name == n) for n in ("w", "u")]
    grads = gradients(g, y, wrt)
    g.set_outputs([y, *grads])
    verify(dce(g).graph)
    scans = [n for n in g.nodes if n.op is Op.SCAN]
    assert len(scans) == 2
    fwd, back = scans
    assert not fwd.attrs.reverse and back.attrs.reverse
    # forward: h, c carries; 2 step outputs + 2 saved carries stacked
    assert len(fwd.outputs) == 2 + 4
    # backward: the h, c cotangents and the w, u accumulators (b's was pruned: unused),
    # and no dx stacked output (x's cotangent was not asked for)
    assert back.attrs.num_carry == 4 and len(back.outputs) == 4
    assert back.attrs.body.inputs[2].type == TensorType(F64, (2, 3))


def test_compiled_gradient_matches_interpreter():
    from runtime.executable import Executable

    g = scan_loss_graph(3, 2, T, masked=True, reverse=True)
    y = g.outputs[0]
    wrt = [next(v for v in g.inputs if v.name == n) for n in DIFF]
    g.set_outputs([y, *gradients(g, y, wrt)])
    g = dce(g).graph
    exe = Executable(g)
    for batch, length in ((1, 1), (3, 7)):
        xs = _inputs(g, batch, length, np.random.default_rng(length))
        want = interpret(g, xs)
        got = exe(*(xs[v.name] for v in g.inputs))
        for w, r in zip(want, got):
            np.testing.assert_allclose(r, w, rtol=1e-10, atol=1e-10)

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
    # forward: h, c carries; 2 step outputs + 2 saved carries + the saved pre-activation
    # x W + h U + b (checkpoints) stacked
    assert len(fwd.outputs) == 2 + 4 + 1
    assert fwd.outputs[-1].type == TensorType(F64, (BATCH, T, 3))
    assert not any(n.op is Op.MATMUL and n.inputs[0] is back.attrs.body.inputs[4]
                   for n in back.attrs.body.nodes)               # h U is not recomputed
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


def _tiled_sum(widths, order, pads_fn=None) -> Graph:
    """x (N, sum(widths)) cut into slices, each through its own op, padded back and summed."""
    from ir.attrs import PadAttrs, SliceAttrs
    g = Graph("tiles")
    total = sum(widths)
    x = g.add_input(TensorType(F64, (BATCH, total)), "x")
    padded, at = [], 0
    for k, w in enumerate(widths):
        s = g.add_node(Op.SLICE, [x], SliceAttrs((0, at), (None, at + w), (1, 1))).output
        s = g.add_node((Op.SIN, Op.TANH, Op.NEG)[k % 3], [s]).output
        lo, hi = pads_fn(k, at, w) if pads_fn else (at, total - at - w)
        padded.append(g.add_node(Op.PAD, [s], PadAttrs(((0, 0), (lo, hi)))).output)
        at += w
    acc = padded[order[0]]
    for k in order[1:]:
        acc = g.add_node(Op.ADD, [acc, padded[k]]).output
    g.set_outputs([g.add_node(Op.MUL, [acc, x]).output])
    return g


@pytest.mark.parametrize("widths,order", [((5, 4, 3), (2, 0, 1)), ((1, 7), (0, 1)), ((3, 3, 3, 3), (3, 2, 1, 0))])
def test_pads_to_concat_rewrites_a_tiled_sum(widths, order):
    from passes.vjp.loop import pads_to_concat
    g = _tiled_sum(widths, order)
    xs = {"x": np.random.default_rng(len(widths)).standard_normal((3, sum(widths)))}
    want = interpret(g, xs)
    assert pads_to_concat(g) == 1
    verify(g)
    ops = [n.op for n in g.nodes]
    assert Op.CONCAT in ops and Op.PAD not in ops and Op.ADD not in ops
    for batch in (1, 3):
        xs = {"x": np.random.default_rng(batch).standard_normal((batch, sum(widths)))}
        np.testing.assert_allclose(interpret(g, xs)[0], interpret(_tiled_sum(widths, order), xs)[0])
    np.testing.assert_allclose(interpret(g, {"x": np.random.default_rng(len(widths)).standard_normal(
        (3, sum(widths)))})[0], want[0])


@pytest.mark.parametrize("pads_fn", [
    lambda k, at, w: (at, 12 - at - w) if k == 0 else (4, 1),     # overlapping, the end uncovered
    lambda k, at, w: (0, 12 - w),                                                  # all at the start
])
def test_pads_to_concat_leaves_other_sums(pads_fn):
    from passes.vjp.loop import pads_to_concat
    g = _tiled_sum((5, 7), (0, 1), pads_fn)
    assert pads_to_concat(g) == 0
    assert [n.op for n in g.nodes].count(Op.PAD) == 2


def gate_body(units: int, feat: int) -> Graph:
    """An LSTM step in Keras' layout: z = x_t + h U split into four gates; carries (h, c, out)
    where ``out`` (the last output, as Keras' RNN carries it) is overwritten, never read."""
    from ir.attrs import SliceAttrs
    b = Graph("lstm_step")
    h = b.add_input(TensorType(F64, (BATCH, units)), "h")
    c = b.add_input(TensorType(F64, (BATCH, units)), "c")
    b.add_input(TensorType(F64, (BATCH, units)), "out")
    x = b.add_input(TensorType(F64, (BATCH, 4 * units)), "x_t")
    u = b.add_input(TensorType(F64, (units, 4 * units)), "u")

    def op(o, *xs, attrs=None):
        return b.add_node(o, list(xs), attrs).output
    z = op(Op.ADD, x, op(Op.MATMUL, h, u))
    i, f, g, o = (op(Op.SLICE, z, attrs=SliceAttrs((0, k * units), (None, (k + 1) * units), (1, 1)))
                  for k in range(4))
    c2 = op(Op.ADD, op(Op.MUL, op(Op.SIGMOID, f), c), op(Op.MUL, op(Op.SIGMOID, i), op(Op.TANH, g)))
    h2 = op(Op.MUL, op(Op.SIGMOID, o), op(Op.TANH, c2))
    b.set_outputs([h2, c2, h2])
    return b


def test_lstm_gates_backward_body_concatenates_and_skips_unread_carry():
    units = 3
    g = Graph("main")
    h0, c0, o0 = (g.add_input(TensorType(F64, (BATCH, units)), n) for n in ("h0", "c0", "o0"))
    x = g.add_input(TensorType(F64, (BATCH, T, 4 * units)), "x")
    u = g.add_input(TensorType(F64, (units, 4 * units)), "u")
    node = g.add_node(Op.SCAN, [h0, c0, o0, x, u], ScanAttrs(gate_body(units, 4 * units), 3, 1, 1, False))
    cot = g.add_input(node.outputs[2].type, "u_out")
    prod = g.add_node(Op.MUL, [node.outputs[2], cot]).output
    y = g.add_node(Op.REDUCE_SUM, [prod], ReduceAttrs((0, 1))).output
    names = ["h0", "c0", "o0", "x", "u"]
    wrt = [next(v for v in g.inputs if v.name == n) for n in names]
    g.set_outputs([y, *gradients(g, y, wrt)])
    g = dce(g).graph
    verify(g)
    fwd, back = [n for n in g.nodes if n.op is Op.SCAN]
    # h, c and z = x_t + h U saved; the unread "out" carry is not
    assert len(fwd.outputs) == 3 + 3 and fwd.outputs[-1].type == TensorType(F64, (BATCH, T, 12))
    body_ops = [n.op for n in back.attrs.body.nodes]
    assert Op.CONCAT in body_ops and Op.PAD not in body_ops
    # the backward step reads the saved z, not x (no longer a sequence of it), and only
    # multiplies for the cotangents (dz U^T and h^T dz): no recomputed h U
    assert all(v is not x for v in back.inputs)
    assert body_ops.count(Op.MATMUL) == 2
    for batch, length in ((1, 1), (3, 5)):
        rng = np.random.default_rng(batch + length)
        xs = _inputs(g, batch, length, rng)
        got = interpret(g, xs)
        np.testing.assert_array_equal(got[3], 0.0)          # d y / d o0
        for name, grad in zip(names, got[1:]):
            v = rng.standard_normal(xs[name].shape)
            plus, minus = dict(xs), dict(xs)
            plus[name] = xs[name] + EPS * v
            minus[name] = xs[name] - EPS * v
            fd = (interpret(g, plus)[0] - interpret(g, minus)[0]) / (2 * EPS)
            np.testing.assert_allclose(np.sum(grad * v), fd, rtol=1e-6, atol=1e-7, err_msg=name)


def test_without_checkpoints_the_backward_step_recomputes(monkeypatch):
    """``CHECKPOINT_PRODUCTS`` off: no saved pre-activation, h U recomputed, same gradients."""
    import passes.vjp.loop as vjp_loop
    monkeypatch.setattr(vjp_loop, "CHECKPOINT_PRODUCTS", False)
    g = scan_loss_graph(3, 2, T, masked=True, reverse=True)
    y = g.outputs[0]
    wrt = [next(v for v in g.inputs if v.name == n) for n in DIFF]
    g.set_outputs([y, *gradients(g, y, wrt)])
    g = dce(g).graph
    verify(g)
    fwd, back = [n for n in g.nodes if n.op is Op.SCAN]
    assert len(fwd.outputs) == 2 + 4
    assert [n.op for n in back.attrs.body.nodes].count(Op.MATMUL) >= 3
    monkeypatch.setattr(vjp_loop, "CHECKPOINT_PRODUCTS", True)
    g2 = scan_loss_graph(3, 2, T, masked=True, reverse=True)
    y2 = g2.outputs[0]
    g2.set_outputs([y2, *gradients(g2, y2, [next(v for v in g2.inputs if v.name == n) for n in DIFF])])
    xs = _inputs(g, 3, 4, np.random.default_rng(0))
    for a, b in zip(interpret(g, xs), interpret(g2, xs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

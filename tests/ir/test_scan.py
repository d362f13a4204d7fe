"""The scan op: shape rule and reference semantics against plain numpy loops.

Also home to the small scan graphs other tests (codegen, passes) reuse.
"""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, IRTypeError, Op, SymDim, TensorType, interpret, verify
from ir.attrs import CastAttrs, ScanAttrs

F32 = DType.float32
T = SymDim("T")


def rnn_body(units: int, feat: int, dtype: DType = F32, name: str = "step") -> Graph:
    """h' = tanh(x_t @ w + h @ u); outputs (h', h', x_t * 2): a carry, its sequence, a passthrough-ish."""
    b = Graph(name)
    h = b.add_input(TensorType(dtype, (BATCH, units)), "h")
    x = b.add_input(TensorType(dtype, (BATCH, feat)), "x_t")
    w = b.add_input(TensorType(dtype, (feat, units)), "w")
    u = b.add_input(TensorType(dtype, (units, units)), "u")
    z = b.add_node(Op.ADD, [b.add_node(Op.MATMUL, [x, w]).output, b.add_node(Op.MATMUL, [h, u]).output])
    h2 = b.add_node(Op.TANH, [z.output]).output
    two = b.add_constant(np.asarray(2, dtype.numpy))
    b.set_outputs([h2, h2, b.add_node(Op.MUL, [x, two]).output])
    return b


def rnn_graph(units: int = 4, feat: int = 3, length=T, reverse: bool = False,
              dtype: DType = F32) -> Graph:
    g = Graph("main")
    h0 = g.add_input(TensorType(dtype, (BATCH, units)), "h0")
    x = g.add_input(TensorType(dtype, (BATCH, length, feat)), "x")
    w = g.add_input(TensorType(dtype, (feat, units)), "w")
    u = g.add_input(TensorType(dtype, (units, units)), "u")
    node = g.add_node(Op.SCAN, [h0, x, w, u], ScanAttrs(rnn_body(units, feat, dtype), 1, 1, 2, reverse))
    g.set_outputs(node.outputs)
    return g


def counter_graph(length=T) -> Graph:
    """Two carries (an int32 step counter and a float sum), a float and a bool sequence."""
    b = Graph("count")
    k = b.add_input(TensorType(DType.int32, (BATCH,)), "k")
    s = b.add_input(TensorType(F32, (BATCH, 2)), "s")
    x = b.add_input(TensorType(F32, (BATCH, 2)), "x_t")
    m = b.add_input(TensorType(DType.bool, (BATCH, 2)), "m_t")
    one = b.add_constant(np.int32(1))
    k2 = b.add_node(Op.ADD, [k, one]).output
    s2 = b.add_node(Op.SELECT, [m, b.add_node(Op.ADD, [s, x]).output, s]).output
    kf = b.add_node(Op.CAST, [k], CastAttrs(F32)).output
    b.set_outputs([k2, s2, kf, m])
    g = Graph("main")
    k0 = g.add_input(TensorType(DType.int32, (BATCH,)), "k0")
    s0 = g.add_input(TensorType(F32, (BATCH, 2)), "s0")
    xs = g.add_input(TensorType(F32, (BATCH, length, 2)), "x")
    ms = g.add_input(TensorType(DType.bool, (BATCH, length, 2)), "m")
    g.set_outputs(g.add_node(Op.SCAN, [k0, s0, xs, ms], ScanAttrs(b, 2, 2, 0)).outputs)
    return g


def numpy_rnn(h0, x, w, u, reverse):
    h, ys, twos = h0, [None] * x.shape[1], [None] * x.shape[1]
    order = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in order:
        h = np.tanh(x[:, t] @ w + h @ u)
        ys[t], twos[t] = h, x[:, t] * 2
    return h, np.stack(ys, 1), np.stack(twos, 1)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("batch,length", [(1, 1), (3, 7), (2, 13)])
def test_reference_matches_numpy_loop(reverse, batch, length):
    g = verify(rnn_graph(reverse=reverse))
    rng = np.random.default_rng(length)
    ins = [rng.standard_normal(s).astype(np.float32) for s in ((batch, 4), (batch, length, 3), (3, 4), (4, 4))]
    got = interpret(g, ins)
    want = numpy_rnn(*ins, reverse)
    assert got[1].shape == (batch, length, 4)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_output_types_follow_the_body_and_t():
    g = rnn_graph(length=T)
    assert [str(v.type) for v in g.outputs] == ["f32[N,4]", "f32[N,T,4]", "f32[N,T,3]"]
    g = rnn_graph(length=5)
    assert [str(v.type) for v in g.outputs] == ["f32[N,4]", "f32[N,5,4]", "f32[N,5,3]"]


def test_zero_length_passes_carries_through():
    """T = 0 is defined in the IR (Keras layers require T >= 1 and check it themselves)."""
    g = counter_graph()
    k0 = np.array([3, 4], np.int32)
    s0 = np.ones((2, 2), np.float32)
    k, s, kf, m = interpret(g, [k0, s0, np.zeros((2, 0, 2), np.float32), np.zeros((2, 0, 2), bool)])
    np.testing.assert_array_equal(k, k0)
    np.testing.assert_array_equal(s, s0)
    assert kf.shape == (2, 0) and kf.dtype == np.float32 and m.shape == (2, 0, 2) and m.dtype == bool


def test_integer_carry_and_bool_sequence():
    g = counter_graph()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    m = rng.random((3, 5, 2)) < 0.5
    k, s, kf, mm = interpret(g, [np.zeros(3, np.int32), np.zeros((3, 2), np.float32), x, m])
    np.testing.assert_array_equal(k, [5, 5, 5])
    np.testing.assert_allclose(s, np.where(m, x, 0).sum(1), rtol=1e-6)
    np.testing.assert_array_equal(kf, np.tile(np.arange(5, dtype=np.float32), (3, 1)))
    np.testing.assert_array_equal(mm, m)


def _scan_on(body, operands, **kw):
    g = Graph("main")
    vals = [g.add_input(t, f"in{i}") for i, t in enumerate(operands)]
    attrs = ScanAttrs(body, **kw)
    return g.add_node(Op.SCAN, vals, attrs)


def test_shape_rule_errors_name_what_is_wrong():
    body = rnn_body(4, 3)
    f = lambda *s: TensorType(F32, s)  # noqa: E731
    good = [f(BATCH, 4), f(BATCH, T, 3), f(3, 4), f(4, 4)]
    _scan_on(body, good, num_carry=1, num_sequences=1, num_invariants=2)
    with pytest.raises(IRTypeError, match="at least one sequence"):
        _scan_on(body, good, num_carry=1, num_sequences=0, num_invariants=3)
    with pytest.raises(IRTypeError, match=r"expected 4 operands"):
        _scan_on(body, good[:3], num_carry=1, num_sequences=1, num_invariants=2)
    with pytest.raises(IRTypeError, match=r"inputs must be \[carries, sequence slices, invariants\]"):
        _scan_on(body, [f(BATCH, 4), f(BATCH, T, 5), f(3, 4), f(4, 4)], num_carry=1, num_sequences=1,
                 num_invariants=2)
    with pytest.raises(IRTypeError, match="batch-major"):
        _scan_on(body, [f(BATCH, 4), f(3), f(3, 4), f(4, 4)], num_carry=1, num_sequences=1,
                 num_invariants=2)
    # a carry whose new value has another type
    bad = Graph("bad")
    h = bad.add_input(f(BATCH, 4), "h")
    bad.add_input(f(BATCH, 3), "x_t")
    bad.set_outputs([bad.add_node(Op.CAST, [h], CastAttrs(DType.float64)).output])
    with pytest.raises(IRTypeError, match="outputs must start with the new carries"):
        _scan_on(bad, [f(BATCH, 4), f(BATCH, T, 3)], num_carry=1, num_sequences=1, num_invariants=0)
    # a per-step output that is not batch-first
    bad = Graph("bad")
    h = bad.add_input(f(BATCH, 4), "h")
    bad.add_input(f(BATCH, 3), "x_t")
    bad.set_outputs([h, bad.add_constant(np.zeros(2, np.float32))])
    with pytest.raises(IRTypeError, match="must be batch-first"):
        _scan_on(bad, [f(BATCH, 4), f(BATCH, T, 3)], num_carry=1, num_sequences=1, num_invariants=0)


def test_body_with_params_is_rejected():
    body = rnn_body(4, 3)
    body.add_param(TensorType(F32, (4,)), "stray")
    f = lambda *s: TensorType(F32, s)  # noqa: E731
    with pytest.raises(IRTypeError, match="invariant operands"):
        _scan_on(body, [f(BATCH, 4), f(BATCH, T, 3), f(3, 4), f(4, 4)], num_carry=1, num_sequences=1,
                 num_invariants=2)

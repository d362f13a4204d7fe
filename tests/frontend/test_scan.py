"""``horn.ops.scan``: eager (a Python loop) and traced (one Op.SCAN) agree; captures of
weights and of tensors computed before the loop; reverse; nesting; compiled models
that predict and train through a scan; errors that name the layer."""
from __future__ import annotations

import numpy as np
import pytest

import horn
from frontend import layers, ops
from frontend.layer import Layer
from frontend.ops.loop import scan
from frontend.tracing import Tracer, tracing
from frontend.variables import Variable
from ir import Op, interpret, verify


def _rnn(x, h0, w, u, mask, reverse):
    def step(carry, xs, consts):
        (h,), (x_t,), (scale,) = carry, xs, consts
        h2 = ops.tanh(ops.matmul(x_t, w) + ops.matmul(h, u)) * mask
        return [h2], [h2 * scale, ops.sum(x_t, axis=-1)]
    return scan(step, [h0], [x], constants=[np.float32(0.5)], reverse=reverse)


def _numpy(x, h0, w, u, mask, reverse):
    h, ys, ss = h0, [None] * x.shape[1], [None] * x.shape[1]
    for t in (range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])):
        h = np.tanh(x[:, t] @ w + h @ u) * mask
        ys[t], ss[t] = h * 0.5, x[:, t].sum(-1)
    return h, np.stack(ys, 1), np.stack(ss, 1)


@pytest.mark.parametrize("reverse", [False, True])
def test_eager_traced_and_numpy_agree_with_captures(reverse):
    rng = np.random.default_rng(0)
    w = Variable(rng.standard_normal((3, 4)).astype("float32"), name="w")
    u = Variable(rng.standard_normal((4, 4)).astype("float32") * 0.5, name="u")
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    h0 = rng.standard_normal((2, 4)).astype("float32")
    m = (rng.random((2, 4)) < 0.7).astype("float32")
    want = _numpy(x, h0, w.numpy(), u.numpy(), m, reverse)

    (h,), (ys, ss) = _rnn(x, h0, w, u, m, reverse)
    for a, b in zip((h, ys, ss), want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    tr = Tracer()
    with tracing(tr):
        xi, hi, mi = tr.input((None, None, 3), name="x"), tr.input((None, 4), name="h0"), \
            tr.input((None, 4), name="m")
        mask = mi * 1.0                        # computed before the loop: captured
        (h,), (ys, ss) = _rnn(xi, hi, w, u, mask, reverse)
    tr.graph.set_outputs([h.value, ys.value, ss.value])
    g = verify(tr.graph)
    (scan_node,) = [n for n in g.nodes if n.op is Op.SCAN]
    # invariants: the 0.5 constant, then captures w, u and the mask (each once)
    assert scan_node.attrs.num_invariants == 4
    assert {p.name for p in g.params} == {"w", "u"}
    assert not scan_node.attrs.body.params
    assert str(g.inputs[0].type) == "f32[N,T_x,3]"
    for a, b in zip(interpret(g, [x, h0, m]), want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_step_returning_outer_values_and_arrays():
    """A step may return a captured value or an array as a per-step output."""
    tr = Tracer()
    with tracing(tr):
        x = tr.input((None, None, 2), name="x")
        bias = ops.ones_like(ops.sum(x, axis=1)) * 3.0   # x[:, 0] needs a static T
        _, (a, b) = scan(lambda c, xs, k: (c, [bias, xs[0] + 1.0]), [], [x])
    tr.graph.set_outputs([a.value, b.value])
    xs = np.arange(12, dtype="float32").reshape(2, 3, 2)
    got_a, got_b = interpret(verify(tr.graph), [xs])
    np.testing.assert_array_equal(got_a, np.full((2, 3, 2), 3.0, "float32"))
    np.testing.assert_array_equal(got_b, xs + 1)


def test_nested_scan_captures_through_two_levels():
    rng = np.random.default_rng(1)
    w = Variable(rng.standard_normal((2, 2)).astype("float32"), name="w")

    def model(x):
        def outer(c, xs, k):
            def inner(c2, ys, k2):
                return [ops.tanh(ops.matmul(c2[0], w) + ys[0])], []
            (h,), _ = scan(inner, [c[0]], [x])           # x: captured from two levels up
            return [h + xs[0]], [h]
        return scan(outer, [x[:, 0] * 0.0], [x])

    x = rng.standard_normal((3, 4, 2)).astype("float32")
    (h_e,), (y_e,) = model(x)
    tr = Tracer()
    with tracing(tr):
        xi = tr.input((None, 4, 2), name="x")
        (h,), (y,) = model(xi)
    tr.graph.set_outputs([h.value, y.value])
    got = interpret(verify(tr.graph), [x])
    np.testing.assert_allclose(got[0], h_e, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], y_e, rtol=1e-5, atol=1e-6)


class _TinyRNN(Layer):
    """The kind of layer the recurrent layers are: weights used inside a step function."""

    def __init__(self, units, go_backwards=False, **kw):
        super().__init__(**kw)
        self.units, self.go_backwards = units, go_backwards

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))
        self.recurrent = self.add_weight(name="recurrent", shape=(self.units, self.units),
                                         initializer="orthogonal")

    def call(self, x):
        h0 = ops.zeros_like(ops.matmul(ops.sum(x, axis=1), self.kernel))

        def step(c, xs, k):
            h = ops.tanh(ops.matmul(xs[0], self.kernel) + ops.matmul(c[0], self.recurrent))
            return [h], [h]
        (h,), (ys,) = scan(step, [h0], [x], reverse=self.go_backwards)
        return ops.concatenate([h, ops.mean(ys, axis=1)], axis=-1)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_model_predicts_like_eager_and_trains(go_backwards):
    horn.utils.set_random_seed(0) if hasattr(horn.utils, "set_random_seed") else None
    model = horn.models.Sequential([horn.layers.Input((None, 3)), _TinyRNN(4, go_backwards),
                                    layers.Dense(1)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7, 3)).astype("float32")
    eager = model.layers[-1](model.layers[0](x))
    np.testing.assert_allclose(model.predict(x, verbose=0), eager, rtol=1e-5, atol=1e-5)
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")[:, None]
    model.compile(optimizer="adam", loss="mse")
    hist = model.fit(x, y, epochs=5, batch_size=6, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_errors_name_the_layer():
    class Bad(Layer):
        def call(self, x):
            return scan(lambda c, xs, k: ([ops.sum(c[0], axis=-1)], []), [x[:, 0]], [x])[0][0]

    tr = Tracer()
    with tracing(tr):
        x = tr.input((None, 3, 2), name="x")
        with pytest.raises(ValueError, match=r"layer 'bad'.*carry 0 is f32\[N,2\] but the step returned "
                                             r"f32\[N\]"):
            Bad(name="bad")(x)
    with pytest.raises(ValueError, match="at least one sequence"):
        scan(lambda c, xs, k: (c, []), [np.zeros(2)], [])
    with pytest.raises(ValueError, match="T = 0"):
        scan(lambda c, xs, k: (c, []), [np.zeros((2, 1))], [np.zeros((2, 0, 1))])
    with pytest.raises(TypeError, match=r"must return \(new_carry, ys_t\)"):
        scan(lambda c, xs, k: c, [np.zeros((2, 1))], [np.zeros((2, 3, 1))])


def test_exported_as_horn_ops_scan():
    assert horn.ops.scan is scan


# -- symbolic sequence length: compile once, serve any length, like the batch ---------------------

def test_none_length_compiles_once_for_every_length():
    model = horn.models.Sequential([horn.layers.Input((None,), dtype="int32"),
                                    layers.Embedding(50, 3), _TinyRNN(4), layers.Dense(1)])
    rng = np.random.default_rng(0)
    exes = set()
    for length in (7, 2, 13, 1):
        x = rng.integers(0, 50, (5, length)).astype("int32")
        eager = model.layers[-1](model.layers[1](model.layers[0](x)))
        np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), eager, rtol=1e-5, atol=1e-5)
        exes.update(id(e) for e in model._executables.values())
    assert len(exes) == 1                                      # the same Executable object
    (exe,) = model._executables.values()
    assert [str(v.type) for v in exe.graph.inputs] == ["i32[N,T_input]"]
    model.compile(optimizer="sgd", loss="mse")
    for length in (3, 8):
        x = rng.integers(0, 50, (4, length)).astype("int32")
        model.fit(x, rng.standard_normal((4, 1)).astype("float32"), epochs=1, verbose=0)
    assert len(model._train_steps) == 1


def test_declared_static_length_stays_static():
    model = horn.models.Sequential([horn.layers.Input((6, 3)), _TinyRNN(2)])
    model.predict(np.zeros((2, 6, 3), "float32"), verbose=0)
    (exe,) = model._executables.values()
    assert str(exe.graph.inputs[0].type) == "f32[N,6,3]"
    with pytest.raises(ValueError, match="expected shape|incompatible|shape"):
        model.predict(np.zeros((2, 5, 3), "float32"), verbose=0)


def test_two_inputs_get_two_length_symbols():
    from frontend.tracing import seq_dim
    tr = Tracer()
    a = tr.input((None, None, 2), name="a")
    b = tr.input((None, None, 2), name="b")
    assert a.value.shape[1] == seq_dim("a", 1) != b.value.shape[1]
    assert a.value.shape[0] == b.value.shape[0]                # one batch

"""SimpleRNN, LSTM, GRU, RNN(cell), Bidirectional, TimeDistributed and Masking against
real Keras 3 (numpy backend) on the same weights: every option the issue lists,
eager, traced (one SCAN op, interpreted, symbolic batch and sequence length), masks,
dropout (Horn's masks handed to Keras), stateful calls, configs, and gradients
through the loop checked by finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import horn
from horn import layers as L
from frontend.layer import flatten
from frontend.tracing import Tracer
from ir import verify
from ir.interpreter import interpret
from tests.frontend.layer_harness import assert_close, keras_or_skip
from tests.frontend.rnn_harness import as_list, check_layer, trace

B, T, F, U = 3, 5, 6, 4
RNG = np.random.default_rng(7)
X = RNG.uniform(-1, 1, (B, T, F)).astype("float32")
X7 = RNG.uniform(-1, 1, (B, 7, F)).astype("float32")
# Each row keeps a different prefix / pattern; row 2 has a masked first step.
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]], bool)

OPTIONS = [
    {},
    {"return_sequences": True},
    {"go_backwards": True},
    {"go_backwards": True, "return_sequences": True},
    {"return_state": True},
    {"return_state": True, "return_sequences": True, "go_backwards": True},
    {"use_bias": False},
    {"activation": "relu"},
    {"unroll": True},
]
LAYER_OPTIONS = (
    [("SimpleRNN", o) for o in OPTIONS]
    + [("LSTM", o) for o in OPTIONS + [{"unit_forget_bias": False}, {"recurrent_activation": "hard_sigmoid"},
                                        {"bias_initializer": "random_normal", "unit_forget_bias": False}]]
    + [("GRU", o) for o in OPTIONS + [{"recurrent_activation": "hard_sigmoid"},
                                       {"bias_initializer": "random_normal"}]]
    + [("GRU", {**o, "reset_after": False}) for o in OPTIONS + [{"bias_initializer": "random_normal"}]]
)


def _ids(cases):
    return [f"{n}-" + ("-".join(f"{k}={v}" for k, v in o.items()) or "default") for n, o in cases]


@pytest.mark.keras
@pytest.mark.parametrize("name,opts", LAYER_OPTIONS, ids=_ids(LAYER_OPTIONS))
def test_recurrent_layer_matches_keras(name, opts):
    x = X7 if opts.get("go_backwards") else X
    # A symbolic length too, go_backwards with return_sequences included (a reversed whole
    # symbolic axis puts the outputs in processing order).
    check_layer(lambda: getattr(L, name)(U, **opts), [x],
                keras_make=lambda k: getattr(k.layers, name)(U, **opts))


MASKED = [(n, o) for n in ("SimpleRNN", "LSTM", "GRU")
          for o in ({}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
                    {"return_state": True})]


@pytest.mark.keras
@pytest.mark.parametrize("name,opts", MASKED, ids=_ids(MASKED))
def test_masked_steps_keep_state_like_keras(name, opts):
    check_layer(lambda: getattr(L, name)(U, **opts), [X], call_kwargs={"mask": MASK},
                keras_make=lambda k: getattr(k.layers, name)(U, **opts))


@pytest.mark.keras
@pytest.mark.parametrize("zero_output", [False, True])
def test_rnn_wrapper_with_cell_and_zero_output_for_mask(zero_output):
    make = lambda m: m.RNN(m.LSTMCell(U), return_sequences=True, zero_output_for_mask=zero_output)  # noqa: E731
    check_layer(lambda: make(L), [X], call_kwargs={"mask": MASK}, keras_make=lambda k: make(k.layers))
    check_layer(lambda: make(L), [X], keras_make=lambda k: make(k.layers))


@pytest.mark.keras
@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_initial_state(name):
    n_states = 2 if name == "LSTM" else 1
    states = [RNG.uniform(-1, 1, (B, U)).astype("float32") for _ in range(n_states)]
    layer, eager = check_layer(lambda: getattr(L, name)(U, return_state=True), [X],
                               call_kwargs={"initial_state": states},
                               keras_make=lambda k: getattr(k.layers, name)(U, return_state=True))
    # Traced: the initial states are graph inputs.
    tracer = Tracer("init_state")
    xs = tracer.input((None, T, F), "float32", "x")
    ss = [tracer.input((None, U), "float32", f"s{i}") for i in range(n_states)]
    tracer.graph.set_outputs([t.value for t in flatten(layer(xs, initial_state=ss))])
    assert_close(interpret(verify(tracer.graph), [X, *states]), eager, 1e-5, 1e-6, "traced initial_state")


class _Minimal:
    """Keras' documented MinimalRNNCell, written once per framework."""

    @staticmethod
    def make(m, ops):
        class MinimalRNNCell(m.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.state_size = units

            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
                self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                        name="recurrent_kernel")

            def call(self, inputs, states):
                h = ops.matmul(inputs, self.kernel)
                out = ops.tanh(h + ops.matmul(states[0], self.recurrent_kernel))
                return out, [out]
        return MinimalRNNCell(U)


@pytest.mark.keras
def test_custom_cell():
    from frontend import ops as hops
    check_layer(lambda: L.RNN(_Minimal.make(L, hops), return_sequences=True), [X], config=False,
                keras_make=lambda k: k.layers.RNN(_Minimal.make(k.layers, k.ops), return_sequences=True))


def _dropout_parity(name, opts, training_masks):
    """Horn draws its masks; Keras is handed the same ones (it reuses a mask already set on
    its cell, as Horn does), so the training-mode outputs must agree."""
    keras = keras_or_skip()
    layer = getattr(L, name)(U, return_sequences=True, **opts)
    layer(X)
    layer.cell.get_dropout_mask(X[:, 0])
    layer.cell.get_recurrent_dropout_mask(np.zeros((B, U), "float32"))
    dp, rdp = layer.cell._dropout_mask, layer.cell._recurrent_dropout_mask
    k = getattr(keras.layers, name)(U, return_sequences=True, **opts)
    k(X)
    k.set_weights(layer.get_weights())
    k.cell._dropout_mask, k.cell._recurrent_dropout_mask = dp, rdp
    want = np.asarray(k(X, training=True))
    layer.cell._dropout_mask, layer.cell._recurrent_dropout_mask = dp, rdp
    got = np.asarray(layer(X, training=True))
    assert_close(got, want, 1e-5, 1e-6, "dropout parity")
    assert layer.cell._dropout_mask is None and layer.cell._recurrent_dropout_mask is None  # reset per call
    # Masks actually drop something, and inference is untouched.
    assert not np.allclose(got, np.asarray(layer(X))), "training with dropout equals inference"
    assert_close(np.asarray(layer(X)), np.asarray(k(X)), 1e-5, 1e-6, "inference after dropout")
    if training_masks:
        n = getattr(layer.cell, "dropout_mask_count", None)
        for m in (dp, rdp):
            assert m is None or (len(m) if isinstance(m, list) else 1) == (n or 1)


DROPOUT = [("SimpleRNN", {"dropout": 0.3}), ("SimpleRNN", {"dropout": 0.3, "recurrent_dropout": 0.4}),
           ("LSTM", {"dropout": 0.3}), ("LSTM", {"dropout": 0.3, "recurrent_dropout": 0.4}),
           ("LSTM", {"recurrent_dropout": 0.4}),
           ("GRU", {"dropout": 0.3}), ("GRU", {"dropout": 0.3, "recurrent_dropout": 0.4}),
           ("GRU", {"dropout": 0.3, "recurrent_dropout": 0.4, "reset_after": False})]


@pytest.mark.keras
@pytest.mark.parametrize("name,opts", DROPOUT, ids=_ids(DROPOUT))
def test_dropout_masks_match_keras(name, opts):
    _dropout_parity(name, opts, training_masks=True)


@pytest.mark.parametrize("name,opts", DROPOUT, ids=_ids(DROPOUT))
def test_traced_dropout_is_one_mask_per_call(name, opts):
    """Training graph: masks come from the step's RNG before the loop; the same seed gives
    the same output, another counter another one, and inference ignores dropout."""
    layer = getattr(L, name)(U, return_sequences=True, **opts)
    layer(X)
    graph = trace(layer, [(T, F)], ["float32"], training=True)
    from ir.opcodes import Op
    assert [n.op for n in graph.nodes].count(Op.SCAN) == 1
    body = next(n for n in graph.nodes if n.op is Op.SCAN).attrs.body
    assert Op.RANDOM_UNIFORM not in [n.op for n in body.nodes], "dropout masks drawn inside the loop"
    key = np.array([3, 0], np.int64)
    a = interpret(graph, [X, key])[0]
    assert_close(interpret(graph, [X, key])[0], a, 0, 0, "same key")
    assert not np.allclose(interpret(graph, [X, np.array([3, 1], np.int64)])[0], a)
    assert not np.allclose(a, np.asarray(layer(X)))


@pytest.mark.keras
@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_calls_carry_state(name):
    keras = keras_or_skip()
    layer = getattr(L, name)(U, stateful=True, return_sequences=True)
    k = getattr(keras.layers, name)(U, stateful=True, return_sequences=True)
    layer(X)
    k(X)
    k.reset_states()
    layer.reset_states()
    k.set_weights(layer.get_weights())
    first = np.asarray(layer(X))
    assert_close(first, np.asarray(k(X)), 1e-5, 1e-6, "first stateful call")
    second = np.asarray(layer(X))
    assert_close(second, np.asarray(k(X)), 1e-5, 1e-6, "second stateful call")
    assert not np.allclose(first, second)
    layer.reset_states()
    assert_close(np.asarray(layer(X)), first, 1e-6, 1e-7, "after reset_states")
    # Traced: the state variables are read, and the final states written back as updates.
    layer.reset_states()
    graph = trace(layer, [(T, F)], ["float32"], batch=B)
    outs, updates = interpret(graph, [X], return_updates=True)
    assert_close(outs[0], first, 1e-5, 1e-6, "traced stateful")
    assert len(updates) == len(layer.states)
    with pytest.raises(ValueError, match="batch size must be static"):
        getattr(L, name)(U, stateful=True).build((None, T, F))


MERGES = ["concat", "sum", "mul", "ave", None]


@pytest.mark.keras
@pytest.mark.parametrize("merge_mode", MERGES)
@pytest.mark.parametrize("inner", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("opts", [{}, {"return_sequences": True}, {"return_state": True}],
                         ids=["last", "sequences", "state"])
def test_bidirectional(merge_mode, inner, opts):
    make = lambda m: m.Bidirectional(getattr(m, inner)(U, **opts), merge_mode=merge_mode)  # noqa: E731
    check_layer(lambda: make(L), [X], keras_make=lambda k: make(k.layers))


@pytest.mark.keras
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_masked(merge_mode):
    make = lambda m: m.Bidirectional(m.LSTM(U, return_sequences=True), merge_mode=merge_mode)  # noqa: E731
    check_layer(lambda: make(L), [X], call_kwargs={"mask": MASK}, keras_make=lambda k: make(k.layers))


@pytest.mark.keras
def test_bidirectional_config_matches_keras():
    keras = keras_or_skip()
    ours = L.Bidirectional(L.LSTM(U, return_sequences=True), merge_mode="sum")
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True), merge_mode="sum")
    ours(X), theirs(X)
    assert set(ours.get_config()) == set(theirs.get_config())
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.forward_layer.name.startswith("forward_") and ours.backward_layer.go_backwards


@pytest.mark.keras
@pytest.mark.parametrize("make_inner", [lambda m: m.Dense(3), lambda m: m.Dense(2, activation="relu", use_bias=False),
                                        lambda m: m.Conv1D(2, 3)], ids=["dense", "dense_relu", "conv1d"])
def test_time_distributed(make_inner):
    x = RNG.uniform(-1, 1, (B, T, 6, 4)).astype("float32") if make_inner(L).__class__.__name__ == "Conv1D" else X
    check_layer(lambda: L.TimeDistributed(make_inner(L)), [x],
                keras_make=lambda k: k.layers.TimeDistributed(make_inner(k.layers)))


@pytest.mark.keras
@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_configs_and_weights_match_keras(name):
    keras = keras_or_skip()
    for opts in ({}, {"reset_after": False} if name == "GRU" else {"dropout": 0.1}):
        ours, theirs = getattr(L, name)(U, **opts), getattr(keras.layers, name)(U, **opts)
        ours(X), theirs(X)
        assert set(ours.get_config()) == set(theirs.get_config()), (
            set(ours.get_config()) ^ set(theirs.get_config()))
        assert [(w.name, w.shape) for w in ours.weights] == [(w.name, tuple(w.shape)) for w in theirs.weights]
        # Keras rebuilds a Horn config and vice versa.
        from frontend.saving.serialization import serialize_keras_object
        cfg = serialize_keras_object(ours)
        k2 = keras.saving.deserialize_keras_object(cfg)
        k2(X)
        k2.set_weights(ours.get_weights())
        assert_close(np.asarray(k2(X)), np.asarray(ours(X)), 1e-5, 1e-6, "Keras from Horn's config")
        from frontend.saving.serialization import deserialize_keras_object
        h2 = deserialize_keras_object(keras.saving.serialize_keras_object(theirs))
        assert type(h2) is type(ours) and h2.get_config()["units"] == U


@pytest.mark.keras
def test_masking_layer_into_lstm():
    keras = keras_or_skip()
    x = X.copy()
    x[0, 3:] = 0.0
    x[2, 0] = 0.0
    make = lambda m: m.Sequential([m.Input((T, F)), m.layers.Masking(0.0), m.layers.LSTM(U)])  # noqa: E731
    ours, theirs = make(horn), make(keras)
    theirs.set_weights(ours.get_weights())
    assert_close(np.asarray(ours(x)), np.asarray(theirs(x)), 1e-5, 1e-6, "Masking -> LSTM")
    m = L.Masking(0.0)
    assert_close(np.asarray(m(x)), np.asarray(keras.layers.Masking(0.0)(x)), 0, 0, "Masking output")
    np.testing.assert_array_equal(np.asarray(m.compute_mask(x)), np.any(x != 0, axis=-1))
    # Traced, symbolic length: the mask reaches the loop.
    graph = trace(ours, [(None, F)], ["float32"])
    assert_close(interpret(graph, [x])[0], np.asarray(theirs(x)), 1e-5, 1e-6, "traced masked LSTM")
    assert_close(interpret(graph, [x[:, :4]])[0], np.asarray(theirs(x[:, :4])), 1e-5, 1e-6, "T=4")


@pytest.mark.keras
@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
def test_embedding_mask_zero_flows_into_rnn_and_pooling(rnn):
    keras = keras_or_skip()
    ids = RNG.integers(1, 20, (B, 7)).astype("int32")
    ids[0, 4:] = 0
    ids[1, :2] = 0
    ids[2, 3] = 0

    def make(m):
        inp = m.Input((None,), dtype="int32")
        e = m.layers.Embedding(20, 5, mask_zero=True)(inp)
        seq = getattr(m.layers, rnn)(U, return_sequences=True)(e)
        pooled = m.layers.GlobalAveragePooling1D()(seq)
        last = getattr(m.layers, rnn)(U)(e)
        return m.Model(inp, [pooled, last])

    ours = make(horn)
    theirs = make(keras)
    theirs.set_weights(ours.get_weights())
    assert_close(as_list(ours(ids)), as_list(theirs(ids)), 1e-5, 1e-6, "Embedding(mask_zero) -> RNN")
    graph = trace(ours, [(None,)], ["int32"])
    assert_close(interpret(graph, [ids]), as_list(theirs(ids)), 1e-5, 1e-6, "traced, symbolic T")
    assert_close(interpret(graph, [ids[:, :5]]), as_list(theirs(ids[:, :5])), 1e-5, 1e-6, "traced T=5")


def _fd_check(layer, x, wrt, eps=1e-3, tol=2e-2):
    """d sum(out * w) / d weights through the loop vs central differences (float64)."""
    tracer = Tracer("grad")
    xin = tracer.input((None,) + x.shape[1:], x.dtype.name, "x")
    out = flatten(layer(xin))[0]
    w = np.random.default_rng(1).normal(size=out.shape[1:]).astype(x.dtype)
    from frontend import ops
    loss = ops.sum(ops.multiply(out, w))
    grads = tracer.grad(loss, wrt)
    tracer.graph.set_outputs([loss.value] + [g.value for g in grads])
    graph = verify(tracer.graph)
    res = interpret(graph, [x])
    rng = np.random.default_rng(2)
    for var, g in zip(wrt, res[1:]):
        d = rng.normal(size=var.shape)
        base = var.numpy().copy()
        var.assign(base + eps * d)
        up = interpret(graph, [x])[0]
        var.assign(base - eps * d)
        down = interpret(graph, [x])[0]
        var.assign(base)
        fd = (up - down) / (2 * eps)
        an = float(np.sum(g * d))
        assert abs(fd - an) <= tol * max(1.0, abs(fd)), f"{var.path}: finite difference {fd} vs VJP {an}"


GRAD_CASES = [("SimpleRNN", {}), ("LSTM", {"return_sequences": True}), ("LSTM", {"go_backwards": True}),
              ("GRU", {}), ("GRU", {"reset_after": False, "return_sequences": True}),
              ("LSTM", {"recurrent_dropout": 0.0, "return_state": True})]


@pytest.mark.parametrize("name,opts", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_gradients_through_the_loop(name, opts):
    layer = getattr(L, name)(U, dtype="float64", **opts)
    x = X.astype("float64")
    layer(x)
    _fd_check(layer, x, layer.trainable_weights, eps=1e-5, tol=1e-6)


def test_gradients_with_mask_and_bidirectional():
    layer = L.Bidirectional(L.GRU(U, dtype="float64", return_sequences=True), dtype="float64")
    x = X.astype("float64")
    layer(x)
    _fd_check(layer, x, layer.trainable_weights, eps=1e-5, tol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="expected a positive integer"):
        L.LSTM(0)
    with pytest.raises(ValueError, match="Invalid merge mode"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="keras.layers.Layer"):
        L.TimeDistributed("dense")
    with pytest.raises(ValueError, match="expects 2 initial state"):
        L.LSTM(U)(X, initial_state=[np.zeros((B, U), "float32")])
    with pytest.raises(ValueError, match="ndim=3|expected ndim"):
        L.LSTM(U)(X[:, 0])
    # RNN([cells]) is StackedRNNCells now: tests/frontend/test_stacked_rnn_cells.py.


COMPILED = [("SimpleRNN", {"return_sequences": True}), ("LSTM", {}), ("LSTM", {"go_backwards": True, "return_state": True}),
            ("GRU", {"return_sequences": True}), ("GRU", {"reset_after": False, "go_backwards": True})]


@pytest.mark.parametrize("name,opts", COMPILED, ids=_ids(COMPILED))
def test_compiled_loop_matches_eager(name, opts):
    """The native loop: batch 1 and 3 through one executable, and a symbolic length."""
    from runtime.executable import Executable
    layer, eager = check_layer(lambda: getattr(L, name)(U, **opts), [X], compiled=True, config=False)
    exe = Executable(trace(layer, [(None, F)], ["float32"]))
    for length in (1, 7):
        x = RNG.uniform(-1, 1, (2, length, F)).astype("float32")
        assert_close(exe(x), as_list(layer(x)), 1e-4, 1e-5, f"compiled, T={length}")


def test_compiled_masked_bidirectional_and_time_distributed():
    from runtime.executable import Executable
    ids = RNG.integers(1, 20, (B, 7)).astype("int32")
    ids[0, 4:] = 0
    ids[2, :2] = 0
    inp = horn.Input((None,), dtype="int32")
    e = L.Embedding(20, 5, mask_zero=True)(inp)
    h = L.Bidirectional(L.LSTM(U, return_sequences=True), merge_mode="ave")(e)
    h = L.TimeDistributed(L.Dense(3))(h)
    model = horn.Model(inp, L.GlobalAveragePooling1D()(h))
    want = np.asarray(model(ids))
    graph = trace(model, [(None,)], ["int32"])
    exe = Executable(graph)
    assert_close(exe(ids), [want], 1e-4, 1e-5, "compiled masked model")
    assert_close(exe(ids[:1, :3]), [np.asarray(model(ids[:1, :3]))], 1e-4, 1e-5, "compiled, batch 1, T=3")


def test_summary_and_count_params():
    model = horn.Sequential([horn.Input((T, F)), L.Bidirectional(L.LSTM(U, return_sequences=True)),
                             L.GRU(U), L.Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "bidirectional" in text.lower() and "gru" in text.lower()
    lstm = 4 * U * F + 4 * U * U + 4 * U                   # kernel, recurrent kernel, bias
    gru = 3 * U * (2 * U) + 3 * U * U + 2 * 3 * U            # reset_after: bias (2, 3 * units)
    assert model.layers[0].count_params() == 2 * lstm
    assert model.layers[1].count_params() == gru
    assert f"{2 * lstm + gru + U + 1:,}" in text             # total params


def test_dense_after_a_masked_sequence_passes_the_mask_on():
    """Dense supports masking without taking a mask argument: the mask flows through it
    (Keras' compute_mask default), so a loss after it sees which steps are padding."""
    import horn as keras
    from frontend.tracing import Tracer
    layer_e = keras.layers.Embedding(10, 4, mask_zero=True)
    layer_d = keras.layers.Dense(3)
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], np.int32)
    tracer = Tracer("mask_flow")
    t = tracer.input((None, 4), "int32")
    out = layer_d(keras.layers.LSTM(5, return_sequences=True)(layer_e(t)))
    assert getattr(out, "_keras_mask", None) is not None
    del x

"""Attention, AdditiveAttention and MultiHeadAttention against real Keras 3 (numpy
backend) on the same weights: score modes, scales, masks (query/value, causal,
attention_mask, masks riding on inputs), returned scores, dropout, output_shape,
value_dim, attention_axes; traced graphs (interpreted and compiled, symbolic batch);
configs and weight layouts."""
from __future__ import annotations

import numpy as np
import pytest

import horn
from horn import layers as L
from frontend.layer import flatten
from frontend.tracing import Tracer
from ir import verify
from ir.interpreter import interpret
from runtime.executable import Executable
from tests.frontend.layer_harness import assert_close, keras_or_skip
from tests.frontend.rnn_harness import as_list

B, TQ, TV, D = 3, 5, 7, 4
RNG = np.random.default_rng(11)
Q = RNG.uniform(-1, 1, (B, TQ, D)).astype("float32")
V = RNG.uniform(-1, 1, (B, TV, D)).astype("float32")
K = RNG.uniform(-1, 1, (B, TV, D)).astype("float32")
QMASK = RNG.uniform(size=(B, TQ)) > 0.3
VMASK = RNG.uniform(size=(B, TV)) > 0.3
VMASK[:, 0] = True


def _traced(layer, inputs, call, **kwargs):
    """Graph of ``call(layer, proxies)`` with every array in ``inputs`` a graph input."""
    tracer = Tracer("attn")
    proxies = [tracer.input((None,) + x.shape[1:], x.dtype.name, f"in{i}") for i, x in enumerate(inputs)]
    out = call(layer, proxies, **kwargs)
    tracer.graph.set_outputs([t.value for t in flatten(out)])
    return verify(tracer.graph)


def _check_graph(layer, inputs, call, want, compiled=True):
    graph = _traced(layer, inputs, call)
    for b in (1, B):
        assert_close(interpret(graph, [x[:b] for x in inputs]), [w[:b] for w in want], 1e-5, 1e-6,
                     f"interpreted at batch {b}")
    if compiled:
        exe = Executable(graph)
        for b in (1, B):
            assert_close(exe(*[x[:b] for x in inputs]), [w[:b] for w in want], 1e-4, 1e-5,
                         f"compiled at batch {b}")


ATTENTION = [
    ("Attention", {}), ("Attention", {"use_scale": True}), ("Attention", {"score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "use_scale": True}),
    ("AdditiveAttention", {}), ("AdditiveAttention", {"use_scale": False}),
]
CALLS = [
    ("plain", {}),
    ("key", {"key": True}),
    ("masks", {"mask": True}),
    ("scores", {"return_attention_scores": True}),
    ("causal", {"use_causal_mask": True}),
    ("causal_masks_scores", {"use_causal_mask": True, "mask": True, "return_attention_scores": True}),
]


def _attention_call(layer, xs, key=False, mask=False, **kwargs):
    q, v = xs[0], xs[1]
    inputs = [q, v, xs[2]] if key else [q, v]
    if mask:
        kwargs["mask"] = [xs[-2], xs[-1]]
    return layer(inputs, **kwargs)


@pytest.mark.keras
@pytest.mark.parametrize("name,opts", ATTENTION, ids=[f"{n}-{o}" for n, o in ATTENTION])
@pytest.mark.parametrize("call_id,call", CALLS, ids=[c[0] for c in CALLS])
def test_attention_matches_keras(name, opts, call_id, call):
    keras = keras_or_skip()
    ours, theirs = getattr(L, name)(**opts), getattr(keras.layers, name)(**opts)
    v = Q if call.get("use_causal_mask") else V     # causal attention over one sequence
    vmask = QMASK if call.get("use_causal_mask") else VMASK
    key = K[:, :v.shape[1]]
    inputs = [Q, v] + ([key] if call.get("key") else []) + ([QMASK, vmask] if call.get("mask") else [])
    kwargs = {k: w for k, w in call.items() if k not in ("key", "mask")}
    ours_out = as_list(_attention_call(ours, inputs, key=call.get("key", False), mask=call.get("mask", False),
                                       **kwargs))
    theirs([Q, v])
    theirs.set_weights(ours.get_weights())
    want = as_list(_attention_call(theirs, inputs, key=call.get("key", False), mask=call.get("mask", False),
                                   **kwargs))
    assert_close(ours_out, want, 1e-5, 1e-6, "Horn vs Keras")
    _check_graph(ours, inputs, lambda layer, xs: _attention_call(
        layer, xs, key=call.get("key", False), mask=call.get("mask", False), **kwargs), want,
        compiled=call_id == "causal_masks_scores" and name == "Attention")
    clone = type(ours).from_config(ours.get_config())
    clone([Q, v])
    clone.set_weights(ours.get_weights())
    assert_close(as_list(_attention_call(clone, inputs, key=call.get("key", False), mask=call.get("mask", False),
                                         **kwargs)), want, 1e-5, 1e-6, "from_config")


@pytest.mark.keras
@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_attention_configs_and_weights_match_keras(name):
    keras = keras_or_skip()
    for opts in ({}, {"use_scale": True, "dropout": 0.1}):
        ours, theirs = getattr(L, name)(**opts), getattr(keras.layers, name)(**opts)
        ours([Q, V]), theirs([Q, V])
        assert ours.get_config().keys() == theirs.get_config().keys()
        assert [(w.name, w.shape) for w in ours.weights] == [(w.name, tuple(w.shape)) for w in theirs.weights]


def test_attention_dropout_only_in_training():
    layer = L.Attention(dropout=0.5, seed=3)
    infer = np.asarray(layer([Q, V]))
    train = np.asarray(layer([Q, V], training=True))
    assert not np.allclose(infer, train)
    graph = _traced(layer, [Q, V], lambda l, xs: l(xs, training=True))
    a = interpret(graph, [Q, V, np.array([1, 0], np.int64)])[0]
    b = interpret(graph, [Q, V, np.array([1, 1], np.int64)])[0]
    assert not np.allclose(a, b)


MHA = [
    {"num_heads": 2, "key_dim": 3},
    {"num_heads": 1, "key_dim": 4, "use_bias": False},
    {"num_heads": 3, "key_dim": 2, "value_dim": 5},
    {"num_heads": 2, "key_dim": 3, "output_shape": 6},
    {"num_heads": 2, "key_dim": 3, "output_shape": (2, 3)},
    {"num_heads": 2, "key_dim": 3, "kernel_initializer": "random_normal", "bias_initializer": "random_uniform"},
]
MHA_CALLS = [
    ("cross", {}),
    ("key", {"key": True}),
    ("attention_mask", {"attention_mask": True}),
    ("scores", {"return_attention_scores": True}),
    ("self_causal", {"self": True, "use_causal_mask": True}),
    # Keras 3 reads the query mask from the query tensor only (an explicit `query_mask` is
    # ignored); Horn matches, and test_masks_riding_on_inputs_reach_attention covers that path.
    ("masks", {"query_mask": True, "value_mask": True, "return_attention_scores": True}),
    ("everything", {"self": True, "use_causal_mask": True, "attention_mask": True, "query_mask": True,
                    "value_mask": True, "key": True}),
]


def _mha_call(layer, xs, spec):
    """xs = [query, value, (key), (attention_mask), (query_mask), (value_mask)] per spec."""
    it = iter(xs)
    q, v = next(it), next(it)
    kwargs = {}
    if spec.get("key"):
        kwargs["key"] = next(it)
    for name in ("attention_mask", "query_mask", "value_mask"):
        if spec.get(name):
            kwargs[name] = next(it)
    for name in ("return_attention_scores", "use_causal_mask"):
        if spec.get(name):
            kwargs[name] = True
    return layer(q, v, **kwargs)


def _mha_inputs(spec):
    v = Q if spec.get("self") else V
    tv = v.shape[1]
    xs = [Q, v]
    if spec.get("key"):
        xs.append(K[:, :tv])
    if spec.get("attention_mask"):
        am = RNG.uniform(size=(B, TQ, tv)) > 0.3
        am[:, :, 0] = True
        xs.append(am)
    if spec.get("query_mask"):
        xs.append(QMASK)
    if spec.get("value_mask"):
        xs.append(VMASK[:, :tv] if tv == TV else QMASK | np.eye(B, TQ, dtype=bool))
    return xs


@pytest.mark.keras
@pytest.mark.parametrize("opts", MHA, ids=[str(o) for o in MHA])
@pytest.mark.parametrize("call_id,spec", MHA_CALLS, ids=[c[0] for c in MHA_CALLS])
def test_multi_head_attention_matches_keras(opts, call_id, spec):
    keras = keras_or_skip()
    xs = _mha_inputs(spec)
    ours = L.MultiHeadAttention(**opts)
    got = as_list(_mha_call(ours, xs, spec))
    theirs = keras.layers.MultiHeadAttention(**opts)
    theirs(xs[0], xs[1], **({"key": xs[2]} if spec.get("key") else {}))
    theirs.set_weights(ours.get_weights())
    want = as_list(_mha_call(theirs, xs, spec))
    assert_close(got, want, 1e-5, 1e-6, "Horn vs Keras")
    _check_graph(ours, xs, lambda layer, p: _mha_call(layer, p, spec), want,
                 compiled=call_id == "everything" and opts in (MHA[0], MHA[3]))


@pytest.mark.keras
def test_multi_head_attention_weights_config_and_rank4_axes():
    keras = keras_or_skip()
    ours = L.MultiHeadAttention(2, 3, value_dim=4, output_shape=5)
    theirs = keras.layers.MultiHeadAttention(2, 3, value_dim=4, output_shape=5)
    ours(Q, V), theirs(Q, V)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.get_config().keys() == theirs.get_config().keys()
    clone = L.MultiHeadAttention.from_config(ours.get_config())
    clone(Q, V)
    clone.set_weights(ours.get_weights())
    assert_close(np.asarray(clone(Q, V)), np.asarray(ours(Q, V)), 1e-6, 1e-7, "from_config")
    # 2-D attention over (rows, cols) of (batch, rows, cols, features).
    x = RNG.uniform(-1, 1, (B, 3, 4, D)).astype("float32")
    ours = L.MultiHeadAttention(2, 3, attention_axes=(1, 2))
    theirs = keras.layers.MultiHeadAttention(2, 3, attention_axes=(1, 2))
    out, scores = ours(x, x, return_attention_scores=True)
    theirs(x, x)
    theirs.set_weights(ours.get_weights())
    k_out, k_scores = theirs(x, x, return_attention_scores=True)
    assert_close([out, scores], [k_out, k_scores], 1e-5, 1e-6, "attention_axes=(1, 2)")
    _check_graph(ours, [x, x], lambda layer, p: layer(p[0], p[1], return_attention_scores=True),
                 as_list((out, scores)), compiled=False)


@pytest.mark.keras
def test_masks_riding_on_inputs_reach_attention():
    """Embedding(mask_zero=True) -> MultiHeadAttention / Attention in a functional model."""
    keras = keras_or_skip()
    ids = RNG.integers(1, 9, (B, 6)).astype("int32")
    ids[0, 4:] = 0
    ids[2, 1] = 0

    def make(m):
        inp = m.Input((6,), dtype="int32")
        e = m.layers.Embedding(9, D, mask_zero=True)(inp)
        a = m.layers.MultiHeadAttention(2, 3)(e, e)
        # A second embedding: Keras' MultiHeadAttention clears the mask of the tensors it
        # is called on (backend.set_keras_mask(query, None)), so `e` would reach
        # Attention unmasked there.
        e2 = m.layers.Embedding(9, D, mask_zero=True)(inp)
        b = m.layers.Attention()([e2, e2])
        return m.Model(inp, [m.layers.GlobalAveragePooling1D()(a), b])

    ours, theirs = make(horn), make(keras)
    theirs.set_weights(ours.get_weights())
    assert_close(as_list(ours(ids)), as_list(theirs(ids)), 1e-5, 1e-6, "masked attention model")
    ours.compile(loss="mse")
    assert_close(as_list(ours.predict(ids, verbose=0)), as_list(theirs(ids)), 1e-4, 1e-5, "compiled predict")


def test_errors():
    with pytest.raises(ValueError, match="score_mode"):
        L.Attention(score_mode="general")
    with pytest.raises(ValueError, match="list of inputs"):
        L.Attention()(Q)
    with pytest.raises(ValueError, match="num_heads"):
        L.MultiHeadAttention(0, 2)
    with pytest.raises(ValueError, match="must be equal"):
        L.MultiHeadAttention(2, 2)(Q, V, key=K[:, :3])
    with pytest.raises(ValueError, match="static sequence lengths"):
        tracer = Tracer("causal")
        x = tracer.input((None, None, D), "float32", "x")
        L.Attention()([x, x], use_causal_mask=True)

"""``go_backwards=True`` with ``return_sequences=True`` and a ``None`` sequence length:
one compiled graph serves two lengths and matches real Keras (numpy backend) on the
same weights, masked and unmasked, in a Sequential model and in Bidirectional."""
from __future__ import annotations

import numpy as np
import pytest

import horn
from horn import layers as L
from runtime.executable import Executable
from tests.frontend.layer_harness import assert_close, keras_or_skip
from tests.frontend.rnn_harness import as_list, trace

F, U = 3, 4
LENGTHS = (7, 2)
CASES = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}),
         ("LSTM", {"return_state": True}), ("GRU", {"return_state": True, "activation": "relu"})]


def _ids(cases):
    return [f"{n}-" + ("-".join(f"{k}={v}" for k, v in o.items()) or "default") for n, o in cases]


@pytest.mark.keras
@pytest.mark.parametrize("name,opts", CASES, ids=_ids(CASES))
def test_compiled_symbolic_length_matches_keras(name, opts):
    keras = keras_or_skip()
    opts = {"go_backwards": True, "return_sequences": True, **opts}
    layer = getattr(L, name)(U, **opts)
    rng = np.random.default_rng(3)
    layer(rng.uniform(-1, 1, (2, 5, F)).astype("float32"))
    for w in layer.weights:
        w.assign(rng.uniform(-0.8, 0.8, w.shape).astype("float32"))
    k = getattr(keras.layers, name)(U, **opts)
    k(np.zeros((1, 5, F), "float32"))
    k.set_weights(layer.get_weights())
    graph = trace(layer, [(None, F)], ["float32"])
    assert graph.inputs[0].shape[1] != 5 and not isinstance(graph.inputs[0].shape[1], int)
    exe = Executable(graph)
    for length in LENGTHS:
        x = rng.uniform(-1, 1, (3, length, F)).astype("float32")
        want = as_list(k(x))
        assert_close(exe(x), want, 1e-4, 1e-5, f"compiled {name} vs Keras at T={length}")


@pytest.mark.keras
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_masked_model_with_a_none_length_matches_keras(name):
    """Embedding(mask_zero) -> go_backwards RNN -> TimeDistributed(Dense): predict at two lengths."""
    keras = keras_or_skip()

    def build(m):
        return m.Sequential([m.Input((None,), dtype="int32"), m.layers.Embedding(6, F, mask_zero=True),
                             getattr(m.layers, name)(U, go_backwards=True, return_sequences=True),
                             m.layers.TimeDistributed(m.layers.Dense(2))])

    model, ref = build(horn), build(keras)
    ref.set_weights(model.get_weights())
    rng = np.random.default_rng(5)
    for length in LENGTHS:
        tokens = rng.integers(0, 6, (4, length)).astype("int32")
        tokens[0, -1] = 0      # a masked last step: the first one a backward layer reads
        assert_close([model.predict(tokens, verbose=0)], [np.asarray(ref.predict(tokens, verbose=0))],
                     1e-4, 1e-5, f"{name} masked at T={length}")
    # One executable served both lengths.
    assert len([key for key in model._executables if key[0] is False]) == 1


@pytest.mark.keras
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_with_a_backward_layer_that_goes_backwards(merge_mode):
    """A user-given backward layer reverses its outputs itself (symbolic length) before the merge."""
    keras = keras_or_skip()
    rng = np.random.default_rng(9)

    def build(m):
        inner = m.layers.GRU(U, return_sequences=True)
        back = m.layers.GRU(U, return_sequences=True, go_backwards=True)
        return m.Sequential([m.Input((None, F)), m.layers.Bidirectional(inner, backward_layer=back,
                                                                       merge_mode=merge_mode)])

    model, ref = build(horn), build(keras)
    ref.set_weights(model.get_weights())
    for length in LENGTHS:
        x = rng.uniform(-1, 1, (2, length, F)).astype("float32")
        got, want = model.predict(x, verbose=0), ref.predict(x, verbose=0)
        assert_close(as_list(got), [np.asarray(w) for w in as_list(want)], 1e-4, 1e-5,
                     f"Bidirectional({merge_mode}) at T={length}")


def test_gradients_through_the_reversed_symbolic_outputs():
    """Training a go_backwards, return_sequences LSTM at a None length: the SLICE VJP in the loop."""
    horn.utils.set_random_seed(0)
    model = horn.Sequential([horn.Input((None, F)), L.LSTM(U, go_backwards=True, return_sequences=True),
                             L.TimeDistributed(L.Dense(1))])
    model.compile(optimizer=horn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (8, 6, F)).astype("float32")
    y = np.cumsum(x[..., :1], axis=1)[:, ::-1]           # depends on the order the outputs come in
    before = model.evaluate(x, y, verbose=0)
    for _ in range(20):
        model.train_on_batch(x, y)
    assert model.evaluate(x, y, verbose=0) < before
    x3 = rng.uniform(-1, 1, (8, 3, F)).astype("float32")
    assert model.predict(x3, verbose=0).shape == (8, 3, 1)

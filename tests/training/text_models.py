"""Small sequence models built the same way under Horn and under real Keras (the
module is handed either ``horn`` or ``keras``), and the synthetic text task."""
from __future__ import annotations

import numpy as np


def marker_task(n: int, length: int = 200, vocab: int = 10000, marker: int = 7, seed: int = 0,
                pad: bool = False, copies: int = 1):
    """Random token ids in [8, vocab); label 1 when the marker token appears (``copies``
    times, at random positions). With ``pad``, rows end in a random run of 0s (padding)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(8, vocab, (n, length)).astype("int32")
    y = rng.uniform(size=n) < 0.5
    ends = rng.integers(length // 2, length + 1, n) if pad else np.full(n, length)
    for i in range(n):
        if y[i]:
            x[i, rng.integers(0, ends[i], copies)] = marker
        x[i, ends[i]:] = 0
    return x, y.astype("float32")


def lstm_classifier(k, vocab: int = 10000, dim: int = 32, units: int = 32, length: int | None = 200):
    """The issue's model: Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid)."""
    return k.Sequential([k.Input((length,), dtype="int32"), k.layers.Embedding(vocab, dim),
                         k.layers.LSTM(units), k.layers.Dense(1, activation="sigmoid")])


def small_model(k, name: str):
    """Small models for per-batch training parity with Keras."""
    inp = k.Input((12,), dtype="int32")
    e = k.layers.Embedding(30, 6, mask_zero=True)(inp)
    if name == "lstm_masked":
        h = k.layers.LSTM(5)(e)
    elif name == "bigru":
        h = k.layers.Bidirectional(k.layers.GRU(4, return_sequences=True))(e)
        h = k.layers.GlobalAveragePooling1D()(h)
    elif name == "simple_rnn_backwards":
        h = k.layers.SimpleRNN(5, go_backwards=True)(e)
    elif name == "attention":
        a = k.layers.MultiHeadAttention(2, 3)(e, e)
        h = k.layers.GlobalAveragePooling1D()(a)
    else:
        raise ValueError(name)
    return k.Model(inp, k.layers.Dense(1, activation="sigmoid")(h))

"""``RNN([cells])`` (StackedRNNCells): one loop whose step runs the cells in order,
against real Keras 3 (numpy backend) on the same weights: eager, traced (interpreted,
symbolic batch and length), compiled, masks, go_backwards, return_state (Horn's
states flat, Keras' nested per cell: the same tensors in the same order), config."""
from __future__ import annotations

import numpy as np
import pytest

from horn import layers as L
from tests.frontend.rnn_harness import check_layer

RNG = np.random.default_rng(5)
X = RNG.uniform(-1, 1, (3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]], bool)


def _cells(m):
    return [m.LSTMCell(3), m.GRUCell(2), m.SimpleRNNCell(4, activation="relu")]


OPTIONS = [{}, {"return_sequences": True}, {"return_state": True},
           {"go_backwards": True, "return_sequences": True, "return_state": True}]


@pytest.mark.keras
@pytest.mark.parametrize("opts", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_stacked_cells_match_keras(opts):
    layer, _ = check_layer(lambda: L.RNN(_cells(L), **opts), [X], compiled=True,
                           keras_make=lambda k: k.layers.RNN(_cells(k.layers), **opts))
    assert type(layer.cell).__name__ == "StackedRNNCells" and len(layer.weights) == 9


@pytest.mark.keras
def test_stacked_cells_with_a_mask_match_keras():
    check_layer(lambda: L.RNN(_cells(L), return_sequences=True), [X], call_kwargs={"mask": MASK},
                keras_make=lambda k: k.layers.RNN(_cells(k.layers), return_sequences=True))


def test_stacked_cells_errors():
    with pytest.raises(ValueError, match="non-empty list of cells"):
        L.StackedRNNCells([])
    with pytest.raises(NotImplementedError, match=r"cell 'lstm.*' has dropout=0.5.*Stack RNN layers"):
        L.RNN([L.LSTMCell(2, dropout=0.5, name="lstm_drop"), L.LSTMCell(2)])

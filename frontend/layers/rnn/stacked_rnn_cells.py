"""``StackedRNNCells``: a list of cells run one after another inside ONE step, so
``RNN([cell_1, cell_2])`` is one loop whose step feeds each cell's output to the
next (Keras 3's ``keras/src/layers/rnn/stacked_rnn_cells.py``).

The states are exposed flat (cell 1's states, then cell 2's, ...): Horn's RNN
carries a flat list of states through its scan. ``return_state=True`` therefore
returns the states flattened, where Keras nests them per cell
(``[output, [h1, c1], [h2, c2]]``); the tensors and their order are the same.
"""
from __future__ import annotations

from typing import Any

from frontend.layer import Layer


def _sizes(cell) -> list[int]:
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def _output_dim(cell) -> int:
    size = getattr(cell, "output_size", None)
    return size if size is not None else _sizes(cell)[0]


class StackedRNNCells(Layer):
    """Wraps a list of RNN cells into one cell whose step runs them in order."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise ValueError("StackedRNNCells expects a non-empty list of cells; received []")
        for cell in cells:
            if "call" not in dir(cell):
                raise ValueError(f"All cells must have a `call` method. Received cell without a `call` "
                                 f"method: {cell}")
            if "state_size" not in dir(cell):
                raise ValueError(f"All cells must have a `state_size` attribute. Received cell without a "
                                 f"`state_size`: {cell}")
            if getattr(cell, "dropout", 0) or getattr(cell, "recurrent_dropout", 0):
                # Horn draws dropout masks once, before the loop, from the RNN's input; a
                # stacked cell's input only exists inside the step.
                raise NotImplementedError(
                    f"StackedRNNCells: cell '{getattr(cell, 'name', cell)}' has dropout="
                    f"{getattr(cell, 'dropout', 0)}, recurrent_dropout={getattr(cell, 'recurrent_dropout', 0)}; "
                    "Horn runs stacked cells without dropout. Stack RNN layers (return_sequences=True) "
                    "to use dropout.")
        self.cells = cells

    @property
    def state_size(self) -> list[int]:
        return [s for cell in self.cells for s in _sizes(cell)]

    @property
    def output_state_index(self) -> int:
        """Where the last cell's first state (its output) sits among the flat states."""
        return sum(len(_sizes(c)) for c in self.cells[:-1])

    @property
    def output_size(self) -> int:
        return _output_dim(self.cells[-1])

    def build(self, input_shape) -> None:
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(input_shape)
                cell.built = True
            input_shape = (input_shape[0], _output_dim(cell))
        self.built = True

    def call(self, inputs, states, training: bool = False):
        import inspect
        states = list(states)
        new_states, at = [], 0
        for cell in self.cells:
            n = len(_sizes(cell))
            own = states[at:at + n]
            at += n
            kwargs = {"training": training} if "training" in inspect.signature(cell.call).parameters else {}
            inputs, out_states = cell(inputs, own if isinstance(cell.state_size, (list, tuple)) else own[0],
                                      **kwargs)
            new_states += list(out_states) if isinstance(out_states, (list, tuple)) else [out_states]
        return inputs, new_states

    def get_config(self) -> dict:
        from frontend.saving.serialization import serialize_nested
        return {**super().get_config(), "cells": [serialize_nested(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Any = None):
        from frontend.saving.serialization import deserialize_keras_object
        config = dict(config)
        cells = [deserialize_keras_object(c, custom_objects) if isinstance(c, dict) else c
                 for c in config.pop("cells")]
        return cls(cells, **config)

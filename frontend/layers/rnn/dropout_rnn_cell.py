"""Dropout masks for recurrent cells, drawn once per RNN call and reused at every step
(``keras/src/layers/rnn/dropout_rnn_cell.py``).

The RNN layer asks for the masks before its loop starts (so they are drawn outside
the loop body and captured by it), and drops them when the call ends. A mask
already set on the cell is used as is: tests use that to give Horn and Keras the
same masks.
"""
from __future__ import annotations

from frontend import ops
from frontend.random import dropout


class DropoutRNNCell:
    """Mixin for cells with ``dropout``, ``recurrent_dropout`` and ``seed_generator``;
    ``dropout_mask_count`` (when set) asks for one mask per gate."""

    def _create_dropout_mask(self, step_input, rate: float):
        ones = ops.ones_like(step_input)
        count = getattr(self, "dropout_mask_count", None)
        if count is None:
            return dropout(ones, rate, seed=self.seed_generator)
        return [dropout(ones, rate, seed=self.seed_generator) for _ in range(count)]

    def get_dropout_mask(self, step_input):
        if getattr(self, "_dropout_mask", None) is None and self.dropout > 0:
            self._dropout_mask = self._create_dropout_mask(step_input, self.dropout)
        return getattr(self, "_dropout_mask", None)

    def get_recurrent_dropout_mask(self, step_input):
        if getattr(self, "_recurrent_dropout_mask", None) is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._create_dropout_mask(step_input, self.recurrent_dropout)
        return getattr(self, "_recurrent_dropout_mask", None)

    def reset_dropout_mask(self) -> None:
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self) -> None:
        self._recurrent_dropout_mask = None

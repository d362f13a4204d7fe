"""LSTMCell and LSTM: gates in Keras' order i, f, c, o (``keras/src/layers/rnn/lstm.py``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from frontend import ops
from frontend.layers.rnn.cell_base import GatedCell, activate
from frontend.layers.rnn.layer_base import CellRNN


class LSTMCell(GatedCell):
    """One LSTM step: ``states = [h, c]``; returns ``h, [h, c]``.

    ``unit_forget_bias`` initializes the forget gate's bias to ones. With
    ``recurrent_dropout`` each gate gets its own input and recurrent mask
    (Keras' implementation 1); otherwise one input mask.
    """

    gates = 4

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        if self.recurrent_dropout != 0.0:
            self.implementation = 1
        if self.implementation == 1:
            self.dropout_mask_count = 4
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape) -> None:
        self._add_kernels(input_shape[-1])
        if self.use_bias:
            u, base = self.units, self.bias_initializer

            def forget_ones(shape, dtype=None):
                # The forget gate's block starts at 1 (Jozefowicz et al.), as in Keras.
                return np.concatenate([np.asarray(base((u,), dtype=dtype)), np.ones((u,), dtype),
                                       np.asarray(base((2 * u,), dtype=dtype))])
            init = forget_ones if self.unit_forget_bias else base
            self.bias = self.add_weight(shape=(4 * self.units,), name="bias", initializer=init,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _gates(self, z, c_tm1):
        i, f, g, o = ops.split(z, 4, axis=-1)
        i = activate(self.recurrent_activation, i)
        f = activate(self.recurrent_activation, f)
        c = ops.add(ops.multiply(f, c_tm1), ops.multiply(i, activate(self.activation, g)))
        o = activate(self.recurrent_activation, o)
        h = ops.multiply(o, activate(self.activation, c))
        return h, [h, c]

    # The loop body when the input projection is hoisted (see cell_base).
    def step_constants(self, training: bool) -> list:
        return [ops.convert_to_tensor(self.recurrent_kernel)]

    def call_projected(self, z_x, states, constants):
        h_tm1, c_tm1 = states
        return self._gates(ops.add(z_x, ops.matmul(h_tm1, constants[0])), c_tm1)

    def call(self, inputs, states, training: bool = False):
        h_tm1, c_tm1 = states[0], states[1]
        if self.implementation != 1:
            if training and 0.0 < self.dropout < 1.0:
                inputs = ops.multiply(inputs, self.get_dropout_mask(inputs))
            z = ops.add(ops.matmul(inputs, self.kernel), ops.matmul(h_tm1, self.recurrent_kernel))
            if self.use_bias:
                z = ops.add(z, self.bias)
            return self._gates(z, c_tm1)
        dp = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        rdp = (self.get_recurrent_dropout_mask(h_tm1)
               if training and 0.0 < self.recurrent_dropout < 1.0 else None)
        u = self.units
        k = ops.split(self.kernel, 4, axis=1)
        b = ops.split(self.bias, 4, axis=0) if self.use_bias else [None] * 4
        pre = []
        for g in range(4):
            x_g = ops.multiply(inputs, dp[g]) if dp is not None else inputs
            h_g = ops.multiply(h_tm1, rdp[g]) if rdp is not None else h_tm1
            x_g = ops.matmul(x_g, k[g])
            if b[g] is not None:
                x_g = ops.add(x_g, b[g])
            pre.append(ops.add(x_g, ops.matmul(h_g, self.recurrent_kernel[:, g * u:(g + 1) * u])))
        return self._gates(ops.concatenate(pre, axis=-1), c_tm1)

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class LSTM(CellRNN):
    """Long Short-Term Memory layer (Hochreiter 1997) over ``(batch, time, features)``."""

    cell_class = LSTMCell
    cell_name = "lstm_cell"
    cell_args = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                 "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
                 "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
                 "bias_constraint", "dropout", "recurrent_dropout", "seed")

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, use_cudnn: Any = "auto", **kwargs):
        cell_kwargs = {k: v for k, v in locals().items() if k in self.cell_args}
        super().__init__(cell_kwargs, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, use_cudnn=use_cudnn, **kwargs)


__all__ = ["LSTMCell", "LSTM"]

"""GRUCell and GRU: gates in Keras' order z, r, h; ``reset_after`` True (Keras 3's
default, bias ``(2, 3 * units)``) and False (bias ``(3 * units,)``)
(``keras/src/layers/rnn/gru.py``)."""
from __future__ import annotations

from typing import Any

from frontend import ops
from frontend.layers.rnn.cell_base import GatedCell, activate
from frontend.layers.rnn.layer_base import CellRNN


class GRUCell(GatedCell):
    """One GRU step: ``h = z * h_tm1 + (1 - z) * hh``."""

    gates = 3

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 reset_after: bool = True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        if self.recurrent_dropout != 0.0:
            self.implementation = 1
        if self.implementation == 1:
            self.dropout_mask_count = 3
        self.reset_after = reset_after
        self.state_size = units
        self.output_size = units

    def build(self, input_shape) -> None:
        self._add_kernels(input_shape[-1])
        if self.use_bias:
            shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            self.bias = self.add_weight(shape=shape, name="bias", initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _biases(self):
        if not self.use_bias:
            return None, None
        if not self.reset_after:
            return self.bias, None
        return self.bias[0], self.bias[1]

    def _input_bias(self):
        return self._biases()[0]

    def step_constants(self, training: bool) -> list:
        u = self.units
        rk = ops.convert_to_tensor(self.recurrent_kernel)
        if self.reset_after:
            rb = self._biases()[1]
            return [rk] + ([ops.convert_to_tensor(rb)] if rb is not None else [])
        return [rk[:, :2 * u], rk[:, 2 * u:]]

    def call_projected(self, x, states, constants):
        h_tm1 = states[0]
        if self.reset_after:
            inner = ops.matmul(h_tm1, constants[0])
            if len(constants) > 1:
                inner = ops.add(inner, constants[1])
            return self._combine(x, inner, None, h_tm1)
        inner = ops.matmul(h_tm1, constants[0])
        return self._combine(x, inner, constants[1], h_tm1)

    def _combine(self, x, inner, rk_h, h_tm1):
        """Gates from the input part ``x`` (z, r, h blocks) and the recurrent part ``inner``
        (z, r[, h] blocks; with reset_after=False the h block is ``(r * h_tm1) @ rk_h``)."""
        u = self.units
        x_z, x_r, x_h = x[:, :u], x[:, u:2 * u], x[:, 2 * u:]
        z = activate(self.recurrent_activation, ops.add(x_z, inner[:, :u]))
        r = activate(self.recurrent_activation, ops.add(x_r, inner[:, u:2 * u]))
        if self.reset_after:
            rec_h = ops.multiply(r, inner[:, 2 * u:])
        else:
            rec_h = ops.matmul(ops.multiply(r, h_tm1), rk_h)
        hh = activate(self.activation, ops.add(x_h, rec_h))
        h = ops.add(ops.multiply(z, h_tm1), ops.multiply(ops.subtract(1.0, z), hh))
        return h, [h]

    def call(self, inputs, states, training: bool = False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        in_bias, rec_bias = self._biases()
        u = self.units
        if self.implementation != 1:
            if training and 0.0 < self.dropout < 1.0:
                inputs = ops.multiply(inputs, self.get_dropout_mask(inputs))
            x = ops.matmul(inputs, self.kernel)
            if in_bias is not None:
                x = ops.add(x, in_bias)
            if self.reset_after:
                inner = ops.matmul(h_tm1, self.recurrent_kernel)
                if rec_bias is not None:
                    inner = ops.add(inner, rec_bias)
                h, _ = self._combine(x, inner, None, h_tm1)
            else:
                inner = ops.matmul(h_tm1, self.recurrent_kernel[:, :2 * u])
                h, _ = self._combine(x, inner, self.recurrent_kernel[:, 2 * u:], h_tm1)
        else:
            dp = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
            rdp = (self.get_recurrent_dropout_mask(h_tm1)
                   if training and 0.0 < self.recurrent_dropout < 1.0 else None)
            xs, hs = [], []
            for g in range(3):
                x_g = ops.multiply(inputs, dp[g]) if dp is not None else inputs
                x_g = ops.matmul(x_g, self.kernel[:, g * u:(g + 1) * u])
                if in_bias is not None:
                    x_g = ops.add(x_g, in_bias[g * u:(g + 1) * u])
                xs.append(x_g)
                hs.append(ops.multiply(h_tm1, rdp[g]) if rdp is not None else h_tm1)
            rk = self.recurrent_kernel
            rec_z = ops.matmul(hs[0], rk[:, :u])
            rec_r = ops.matmul(hs[1], rk[:, u:2 * u])
            if self.reset_after and rec_bias is not None:
                rec_z = ops.add(rec_z, rec_bias[:u])
                rec_r = ops.add(rec_r, rec_bias[u:2 * u])
            z = activate(self.recurrent_activation, ops.add(xs[0], rec_z))
            r = activate(self.recurrent_activation, ops.add(xs[1], rec_r))
            if self.reset_after:
                rec_h = ops.matmul(hs[2], rk[:, 2 * u:])
                if rec_bias is not None:
                    rec_h = ops.add(rec_h, rec_bias[2 * u:])
                rec_h = ops.multiply(r, rec_h)
            else:
                rec_h = ops.matmul(ops.multiply(r, hs[2]), rk[:, 2 * u:])
            hh = activate(self.activation, ops.add(xs[2], rec_h))
            h = ops.add(ops.multiply(z, h_tm1), ops.multiply(ops.subtract(1.0, z), hh))
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}

    def _base_config(self) -> dict:
        return {**super()._base_config(), "reset_after": self.reset_after}


class GRU(CellRNN):
    """Gated Recurrent Unit layer (Cho et al., 2014) over ``(batch, time, features)``."""

    cell_class = GRUCell
    cell_name = "gru_cell"
    cell_args = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                 "recurrent_initializer", "bias_initializer", "kernel_regularizer",
                 "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
                 "bias_constraint", "dropout", "recurrent_dropout", "reset_after", "seed")

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: int | None = None, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 reset_after: bool = True, use_cudnn: Any = "auto", **kwargs):
        cell_kwargs = {k: v for k, v in locals().items() if k in self.cell_args}
        super().__init__(cell_kwargs, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, use_cudnn=use_cudnn, **kwargs)


__all__ = ["GRUCell", "GRU"]

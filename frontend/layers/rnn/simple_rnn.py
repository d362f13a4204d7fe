"""SimpleRNNCell and SimpleRNN: ``h = activation(x @ kernel + bias + h_tm1 @ recurrent_kernel)``
(``keras/src/layers/rnn/simple_rnn.py``)."""
from __future__ import annotations

from typing import Any

from frontend import ops
from frontend.layers.rnn.cell_base import GatedCell, activate
from frontend.layers.rnn.layer_base import CellRNN


class SimpleRNNCell(GatedCell):
    """One fully-connected recurrent step; one input and one recurrent dropout mask."""

    gates = 1

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", **kwargs):
        super().__init__(units, activation, None, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, **kwargs)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape) -> None:
        self._add_kernels(input_shape[-1])
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), name="bias", initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def project_inputs(self, sequences, training: bool):
        # One input mask and one recurrent mask at every step (no per-gate masks), so
        # the projection is always hoistable.
        from frontend.layers.rnn.rnn import step_template
        mask = self.get_dropout_mask(step_template(sequences)) if training and self.dropout > 0 else None
        if mask is not None:
            sequences = ops.multiply(sequences, ops.expand_dims(mask, 1))
        z = ops.matmul(sequences, self.kernel)
        return ops.add(z, self.bias) if self.bias is not None else z

    def step_constants(self, training: bool) -> list:
        consts = [ops.convert_to_tensor(self.recurrent_kernel)]
        rmask = getattr(self, "_recurrent_dropout_mask", None) if training else None
        return consts + ([rmask] if rmask is not None else [])

    def call_projected(self, z_x, states, constants):
        prev = states[0]
        if len(constants) > 1:
            prev = ops.multiply(prev, constants[1])
        out = activate(self.activation, ops.add(z_x, ops.matmul(prev, constants[0])))
        return out, [out]

    def call(self, sequence, states, training: bool = False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        dp = self.get_dropout_mask(sequence)
        rdp = self.get_recurrent_dropout_mask(prev)
        if training and dp is not None:
            sequence = ops.multiply(sequence, dp)
        h = ops.matmul(sequence, self.kernel)
        if self.bias is not None:
            h = ops.add(h, self.bias)
        if training and rdp is not None:
            prev = ops.multiply(prev, rdp)
        out = activate(self.activation, ops.add(h, ops.matmul(prev, self.recurrent_kernel)))
        return out, ([out] if isinstance(states, (list, tuple)) else out)

    def _base_config(self) -> dict:
        config = super()._base_config()
        del config["recurrent_activation"]
        return config


class SimpleRNN(CellRNN):
    """Fully-connected RNN whose output is fed back as the next step's state."""

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
    cell_args = ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
                 "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                 "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
                 "recurrent_dropout", "seed")
    config_exclude = ("seed",)

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 seed: int | None = None, **kwargs):
        cell_kwargs = {k: v for k, v in locals().items() if k in self.cell_args}
        super().__init__(cell_kwargs, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)


__all__ = ["SimpleRNNCell", "SimpleRNN"]

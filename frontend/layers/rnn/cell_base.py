"""What SimpleRNNCell, LSTMCell and GRUCell share: Keras' argument handling,
weights, config keys, and the input projection hoisted out of the loop.

Hoisting: ``x_t @ kernel (+ bias)`` does not depend on the recurrence, so the
RNN layer computes it for every step at once (one large matmul over
``(batch, time, features)``) before the loop, and the loop body is left with
``h @ recurrent_kernel`` and the gates. The per-step dropout mask is the same at
every step, so it is applied to the whole sequence first. Cells advertise this
with ``project_inputs`` / ``call_projected``; ``call`` keeps Keras' per-step form
for direct use of a cell.
"""
from __future__ import annotations

from typing import Any

from frontend import activations, initializers, ops
from frontend.layer import Layer
from frontend.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from frontend.random import SeedGenerator


def check_units(units) -> None:
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise ValueError("Received an invalid value for argument `units`, expected a positive integer, "
                         f"got {units}.")


def activate(fn, x):
    return fn(x) if fn is not None else x


class GatedCell(Layer, DropoutRNNCell):
    """Base of the built-in cells: ``gates`` blocks of ``units`` in kernel, recurrent
    kernel and bias (Keras' layouts and names)."""

    gates = 1

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None, **kwargs):
        check_units(units)
        self.implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.recurrent_regularizer = kernel_regularizer, recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint, self.recurrent_constraint = kernel_constraint, recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        self.kernel = self.recurrent_kernel = self.bias = None

    def _add_kernels(self, input_dim: int) -> None:
        if input_dim is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the last dimension of the inputs "
                             "must be known.")
        width = self.units * self.gates
        self.kernel = self.add_weight(shape=(input_dim, width), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)

    def get_initial_state(self, batch_size=None):
        import numpy as np
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [np.zeros((batch_size, s), self.dtype) for s in sizes]

    # -- hoisted input projection ---------------------------------------------------------------
    def _input_bias(self):
        return self.bias

    def project_inputs(self, sequences, training: bool):
        """``(dropped-out) sequences @ kernel + input bias`` for every step, or None when this
        configuration needs per-gate input masks (Keras' implementation 1)."""
        if self.implementation != 2 or self.recurrent_dropout > 0:
            return None
        from frontend.layers.rnn.rnn import step_template
        mask = (self.get_dropout_mask(step_template(sequences)) if training and 0.0 < self.dropout < 1.0
                else None)
        if mask is not None:
            sequences = ops.multiply(sequences, ops.expand_dims(mask, 1))
        z = ops.matmul(sequences, self.kernel)
        bias = self._input_bias() if self.use_bias else None
        return ops.add(z, bias) if bias is not None else z

    def _base_config(self) -> dict:
        return {"units": self.units,
                "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": self.kernel_regularizer,
                "recurrent_regularizer": self.recurrent_regularizer,
                "bias_regularizer": self.bias_regularizer,
                "kernel_constraint": self.kernel_constraint,
                "recurrent_constraint": self.recurrent_constraint,
                "bias_constraint": self.bias_constraint,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._base_config()}

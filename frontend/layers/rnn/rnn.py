"""``RNN(cell)``: runs a cell over the time axis as ONE loop (``horn.ops.scan``), with
Keras 3's semantics (``keras/src/layers/rnn/rnn.py`` and the numpy backend's ``rnn``):

* masks: at a masked step the states keep their previous values and the output is
  the previous ``states[0]`` (or zeros with ``zero_output_for_mask``);
* ``go_backwards``: the sequence is consumed from the end and ``return_sequences``
  gives the outputs in that (processing) order, as Keras does;
* ``stateful``: the final states are kept in non-trainable variables and seed the
  next call (``reset_states`` zeroes them);
* dropout masks are drawn once per call, before the loop, and reused at every step.

The loop is never unrolled (``unroll`` is accepted and ignored): compile time and
code size do not grow with the sequence length, and a ``None`` length is served by
the same compiled loop.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from frontend import ops
from frontend.layer import Layer, flatten
from frontend.layers.arguments import pop_activity_regularizer
from frontend.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from frontend.tensors import TracedTensor
from frontend.variables import Variable
from ir.shapes import BATCH


def zeros_state(reference, size: int, dtype: str):
    """``(batch, size)`` zeros whose batch comes from ``reference`` (symbolic batch included)."""
    if not isinstance(reference, TracedTensor):
        return np.zeros((np.shape(reference)[0], size), dtype)
    if reference.value.shape[0] == BATCH:
        # A constant broadcast to the batch: nothing ties it to the sequences' data, so the
        # gradient pass adds no all-zero cotangent over the whole input for it.
        return ops.broadcast_to(np.zeros((size,), dtype), (None, size))
    column = reference[(slice(None),) + (0,) * (len(reference.shape) - 2) + (slice(0, 1),)]
    return ops.add(ops.zeros_like(ops.cast(column, dtype)), np.zeros((size,), dtype))


def step_template(sequences):
    """A ``(batch, *features)`` tensor shaped like one time step, for the shapes of zero
    states and dropout masks. With a symbolic length no step can be indexed, so a
    reduction over time stands in (only its shape is used)."""
    if isinstance(sequences, TracedTensor) and sequences.shape[1] is None:
        return ops.sum(sequences, axis=1)
    return sequences[:, 0]


def _cell_state_sizes(cell) -> tuple[list[int], bool]:
    size = getattr(cell, "state_size", None)
    if size is None:
        raise ValueError("The RNN cell should have a `state_size` attribute (single integer or list of "
                         f"integers, one integer per RNN state). Received: cell={cell}")
    if isinstance(size, int):
        return [size], True
    if isinstance(size, (list, tuple)) and all(isinstance(s, int) for s in size):
        return list(size), False
    raise ValueError("state_size must be an integer, or a list/tuple of integers (one for each state "
                     f"tensor). Received: state_size={size}")


class RNN(Layer):
    """Runs ``cell`` (a layer with ``call(inputs, states[, training])`` and ``state_size``)
    over ``(batch, time, ...)`` inputs."""

    def __init__(self, cell, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs):
        if isinstance(cell, (list, tuple)):
            from frontend.layers.rnn.stacked_rnn_cells import StackedRNNCells
            cell = StackedRNNCells(cell)          # one step runs the cells in order
        if not hasattr(cell, "call"):
            raise ValueError(f"Argument `cell` should have a `call` method. Received: cell={cell}")
        self.activity_regularizer = pop_activity_regularizer(kwargs)
        super().__init__(**kwargs)
        self.state_size, self.single_state = _cell_state_sizes(cell)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        self.states = None
        # Bidirectional asks its backward layer for outputs in input time order, which is
        # what the reverse scan produces; Keras flips them twice instead.
        self._time_ordered = False

    # -- shapes and masks -------------------------------------------------------------------------
    @property
    def _output_size(self) -> int:
        size = getattr(self.cell, "output_size", None)
        return self.state_size[0] if size is None else size

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, length = sequences_shape[0], sequences_shape[1]
        out = (batch, length, self._output_size) if self.return_sequences else (batch, self._output_size)
        if self.return_state:
            return (out, *[(batch, s) for s in self.state_size])
        return out

    def compute_mask(self, inputs, previous_mask=None):
        mask = flatten(previous_mask)[0] if previous_mask is not None else None
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask] + [None] * len(self.state_size)
        return out_mask

    # -- build and state --------------------------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None) -> None:
        if isinstance(sequences_shape, list):      # [sequences, *initial_states] as one list
            sequences_shape = sequences_shape[0]
        if len(sequences_shape) < 3:
            raise ValueError(f"RNN layer '{self.name}' expects inputs of rank >= 3 (batch, time, "
                             f"features). Received: input_shape={tuple(sequences_shape)}")
        step_shape = (sequences_shape[0],) + tuple(sequences_shape[2:])
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build(step_shape)
            self.cell.built = True
            for w in self.cell._weights_list:
                w.path = f"{self.name}/{self.cell.name}/{w.name}"
        if self.stateful:
            if sequences_shape[0] is None:
                raise ValueError("When using `stateful=True` in a RNN, the batch size must be static. "
                                 f"Found dynamic batch size: sequence.shape={tuple(sequences_shape)}")
            self._create_state_variables(sequences_shape[0])
        self.built = True

    def _create_state_variables(self, batch_size: int) -> None:
        dtype = self.dtype
        self.states = [Variable(np.zeros((batch_size, s), dtype), name="rnn_state", trainable=False,
                                path=f"{self.name}/rnn_state_{i}")
                       for i, s in enumerate(self.state_size)]

    def reset_states(self) -> None:
        self.reset_state()

    def reset_state(self) -> None:
        if self.states is not None:
            for v in self.states:
                v.assign(np.zeros(v.shape, v.dtype))

    def get_initial_state(self, sequences) -> list:
        template = step_template(sequences)
        return [zeros_state(template, s, self.dtype) for s in self.state_size]

    # -- call -------------------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training: bool = False):
        if isinstance(sequences, (list, tuple)):    # Keras 2 style: [sequences, *initial_states]
            sequences, initial_state = sequences[0], list(sequences[1:]) or initial_state
        if initial_state is None:
            initial_state = list(self.states) if self.stateful else self.get_initial_state(sequences)
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        initial_state = list(initial_state)
        if len(initial_state) != len(self.state_size):
            raise ValueError(f"RNN layer '{self.name}' expects {len(self.state_size)} initial state "
                             f"tensor(s) (state_size={self.state_size}); received {len(initial_state)}.")
        if self.stateful:
            expected = self.states[0].shape[0]
            if sequences.shape[0] is not None and sequences.shape[0] != expected:
                raise ValueError("If an RNN is stateful, the batch size of the input sequences must be "
                                 f"the same as the batch size of the initial state. \n- Expected batch "
                                 f"size: {expected}\n- Received batch size: {sequences.shape[0]}")
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if training:
            self._config_dropout_masks(step_template(sequences), initial_state[0])
        try:
            last_output, outputs, states = self._loop(sequences, initial_state, mask, training)
        finally:
            if isinstance(self.cell, DropoutRNNCell):
                self.cell.reset_dropout_mask()
                self.cell.reset_recurrent_dropout_mask()
        if self.stateful:
            for var, value in zip(self.states, states):
                var.assign(value)
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return (output, *states)
        return output

    def _config_dropout_masks(self, step_input, state) -> None:
        if isinstance(self.cell, DropoutRNNCell):
            self.cell.get_dropout_mask(step_input)
            self.cell.get_recurrent_dropout_mask(state)

    def _cell_kwargs(self, training: bool) -> dict:
        import inspect
        params = inspect.signature(self.cell.call).parameters
        return {"training": training} if "training" in params else {}

    def _loop(self, sequences, initial_state: list, mask, training: bool):
        """``(last_output, outputs, final_states)``, outputs batch-major in processing order."""
        from frontend.ops.loop import scan
        n = len(self.state_size)
        keep_sequences = self.return_sequences
        zero_masked = self.zero_output_for_mask
        # Built-in cells hoist ``x @ kernel + bias`` out of the loop (see cell_base).
        projected = (self.cell.project_inputs(sequences, training)
                     if hasattr(self.cell, "project_inputs") else None)
        if projected is not None:
            constants = self.cell.step_constants(training)
            cell_step = self.cell.call_projected
        else:
            constants = []
            cell_kwargs = self._cell_kwargs(training)

            def cell_step(x, states, _constants):
                return self.cell(x, states, **cell_kwargs)

        def step(carry, xs, consts):
            states = list(carry[:n])
            out, new_states = cell_step(xs[0], states, list(consts))
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            if mask is not None:
                keep = ops.expand_dims(xs[1], -1)          # (batch, 1): True where the step counts
                new_states = [ops.where(keep, ns, s) for ns, s in zip(new_states, states)]
                # The previous output is the (last) cell's first state; a stack says where it is.
                prev = states[getattr(self.cell, "output_state_index", 0)]
                out = ops.where(keep, out, ops.zeros_like(out) if zero_masked else prev)
            if keep_sequences:
                return new_states, [out]
            return new_states + [out], []

        carry = list(initial_state)
        if not keep_sequences:
            carry.append(zeros_state(initial_state[0], self._output_size, self.dtype))
        xs = [projected if projected is not None else sequences]
        if mask is not None:
            xs.append(ops.cast(mask, "bool"))
        final, ys = scan(step, carry, xs, constants=constants, reverse=self.go_backwards)
        states = list(final[:n])
        if keep_sequences:
            outputs, last = ys[0], None               # the last output is not asked for
            if self.go_backwards and not self._time_ordered:
                # Processing order, as Keras returns it; a None length is reversed whole
                # at run time (SLICE's (-1, None, -1) on a symbolic axis).
                outputs = ops.flip(outputs, axis=1)
        else:
            outputs, last = None, final[n]
        return last, outputs, states

    # -- config -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from frontend.saving.serialization import serialize_nested
        config = {**super().get_config(),
                  "return_sequences": self.return_sequences, "return_state": self.return_state,
                  "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask,
                  "cell": serialize_nested(self.cell)}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = self.activity_regularizer
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: Any = None):
        from frontend.saving.serialization import deserialize_keras_object
        config = dict(config)
        cell = config.pop("cell")
        if isinstance(cell, dict):
            cell = deserialize_keras_object(cell, custom_objects)
        return cls(cell, **config)

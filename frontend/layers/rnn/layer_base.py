"""The built-in recurrent layers (SimpleRNN, LSTM, GRU): an RNN that makes its own
cell from the layer's arguments, exposes them as properties, and writes them flat
in its config (no nested ``cell``), as Keras does."""
from __future__ import annotations

from typing import Any

from frontend.input_spec import InputSpec
from frontend.layers.rnn.rnn import RNN


class CellRNN(RNN):
    cell_class: type = None
    cell_name: str = "cell"
    cell_args: tuple[str, ...] = ()
    config_exclude: tuple[str, ...] = ()      # cell arguments Keras leaves out of the layer config

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for arg in cls.cell_args:
            if arg not in cls.__dict__:
                setattr(cls, arg, property(lambda self, a=arg: getattr(self.cell, a)))

    def __init__(self, cell_kwargs: dict, *, use_cudnn: Any = "auto", **kwargs):
        if use_cudnn not in ("auto", True, False):
            raise ValueError("Invalid valid received for argument `use_cudnn`. Expected one of "
                             f"{{'auto', True, False}}. Received: use_cudnn={use_cudnn}")
        cell = self.cell_class(**cell_kwargs, dtype=kwargs.get("dtype"),
                               trainable=kwargs.get("trainable", True), name=self.cell_name,
                               implementation=kwargs.pop("implementation", 2))
        super().__init__(cell, **kwargs)
        self.use_cudnn = use_cudnn
        self.input_spec = InputSpec(ndim=3)

    def call(self, sequences, initial_state=None, mask=None, training: bool = False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell._base_config()
        for arg in self.cell_args:
            if arg in self.config_exclude:
                continue
            config[arg] = cell_config[arg] if arg in cell_config else getattr(self.cell, arg)
        config["activity_regularizer"] = self.activity_regularizer
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: Any = None):
        return cls(**config)

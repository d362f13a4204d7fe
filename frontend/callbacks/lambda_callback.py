"""``keras.callbacks.LambdaCallback``."""
from __future__ import annotations

from typing import Callable

from frontend.callbacks.callback import Callback


class LambdaCallback(Callback):
    """A callback built from plain functions.

    ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``,
    ``on_train_batch_begin``/``on_train_batch_end`` take ``(batch, logs)``,
    ``on_train_begin``/``on_train_end`` take ``(logs)``. Any other hook can be
    passed by keyword (``on_test_end=...``), as Keras allows.
    """

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None, on_train_batch_end: Callable | None = None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        named = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin, "on_train_batch_end": on_train_batch_end}
        for hook, fn in named.items():
            if fn is not None:
                setattr(self, hook, fn)

"""A ``horn.ops`` call made on KerasTensors becomes this layer in the functional graph."""
from __future__ import annotations

from typing import Callable

from frontend.layer import Layer, flatten, map_structure
from frontend.tensors import KerasTensor


class OpLayer(Layer):
    """Replays ``fn(*args, **kwargs)`` with the KerasTensors among them replaced by real inputs."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict):
        super().__init__(name=None)
        self.name = self.name.replace("op_layer", fn.__name__)
        self.fn = fn
        self._template = (args, kwargs)
        self._slots = [x for x in flatten((args, kwargs)) if isinstance(x, KerasTensor)]

    def __call__(self, *tensors, **kw):
        if not tensors:
            tensors = tuple(self._slots)
        # Layer._functional_call re-enters with the proxies already in one list
        # (``self([p0, p1])``); wrap only loose tensors, never that list again.
        if len(tensors) == 1 and isinstance(tensors[0], list):
            return super().__call__(tensors[0], **kw)
        return super().__call__(list(tensors), **kw)

    def call(self, tensors):
        it = iter(tensors)
        args, kwargs = map_structure(lambda x: next(it) if isinstance(x, KerasTensor) else x,
                                     self._template)
        return self.fn(*args, **kwargs)

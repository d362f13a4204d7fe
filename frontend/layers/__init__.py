"""``keras.layers``: every layer family Horn has, one module per family.

Families written alongside this one are picked up when their module exists,
so the package imports cleanly at every stage of the build-out.
"""
from importlib import import_module
from importlib.util import find_spec

from frontend.layers.activation_layers import *  # noqa: F401,F403
from frontend.layers.core import *  # noqa: F401,F403
from frontend.layers.merging import *  # noqa: F401,F403
from frontend.layers import activation_layers, core, merging

__all__ = [*core.__all__, *merging.__all__, *activation_layers.__all__]

_module = _names = None
for _family in ("conv", "pooling", "normalization", "embedding", "preprocessing", "reshaping",
                "masking", "attention", "rnn"):
    if find_spec(f"frontend.layers.{_family}") is not None:
        _module = import_module(f"frontend.layers.{_family}")
        _names = getattr(_module, "__all__", [])
        globals().update({n: getattr(_module, n) for n in _names})
        __all__ += [n for n in _names if n not in __all__]
del _family, _module, _names

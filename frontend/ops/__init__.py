"""``horn.ops``, laid out like ``keras.ops``: every numpy-style and nn op at the
top level, and the ``numpy`` / ``nn`` namespaces as submodules.

Each op emits IR when given a TracedTensor, becomes a layer of the functional
model when given a KerasTensor, and computes with the ops' reference
implementations when given arrays (frontend/ops/core.py is the one door).
"""
from importlib.util import find_spec

from frontend.ops import math, nn, numpy  # noqa: F401  (keras.ops.math, .nn, .numpy)
from frontend.ops.numpy import *  # noqa: F401,F403
from frontend.ops.nn import *  # noqa: F401,F403  (after numpy: keras.ops.sigmoid is the nn one)
from frontend.ops.math import *  # noqa: F401,F403

__all__ = list(numpy.__all__) + [n for n in nn.__all__ if n not in numpy.__all__] + list(math.__all__)

# Convolution and pooling ops live in their own module, written alongside this one.
if find_spec("frontend.ops.conv") is not None:
    from frontend.ops import conv  # noqa: F401
    # Read the module's __all__ before the star import rebinds `conv` to the conv op.
    __all__ += [n for n in getattr(conv, "__all__", []) if n not in __all__]
    from frontend.ops.conv import *  # noqa: F401,F403

# The loop op (recurrent layers' one door): horn.ops.scan.
from frontend.ops.loop import scan  # noqa: E402,F401
__all__ += ["scan"]

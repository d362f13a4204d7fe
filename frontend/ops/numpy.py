"""``keras.ops.numpy``: the numpy-style ops, gathered from their family modules."""
from __future__ import annotations

from frontend.ops import creation, elementwise, indexing, linalg, movement, reductions
from frontend.ops.creation import *  # noqa: F401,F403
from frontend.ops.elementwise import *  # noqa: F401,F403
from frontend.ops.indexing import *  # noqa: F401,F403
from frontend.ops.linalg import *  # noqa: F401,F403
from frontend.ops.movement import *  # noqa: F401,F403
from frontend.ops.reductions import *  # noqa: F401,F403

__all__ = [name for m in (creation, elementwise, indexing, linalg, movement, reductions)
           for name in m.__all__]

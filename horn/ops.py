"""``keras.ops``: emit IR when given symbolic tensors, compute when given arrays."""
from frontend.ops import *  # noqa: F401,F403
from frontend.ops import nn, numpy  # noqa: F401

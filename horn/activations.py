"""``keras.activations``."""
from frontend.activations import *  # noqa: F401,F403
from frontend.activations import get, serialize  # noqa: F401

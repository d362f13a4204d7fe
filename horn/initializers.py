"""``keras.initializers``."""
from frontend.initializers import *  # noqa: F401,F403
from frontend.initializers import get  # noqa: F401

"""``keras.optimizers``, with ``keras.optimizers.schedules`` as ``horn.optimizers.schedules``."""
from frontend.optimizers import *  # noqa: F401,F403
from frontend.optimizers import Optimizer, deserialize, get, schedules, serialize  # noqa: F401

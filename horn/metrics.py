"""``keras.metrics``."""
from frontend.metrics import *  # noqa: F401,F403
from frontend.metrics import Metric, deserialize, get, resolve_metric, serialize  # noqa: F401

"""``keras.losses``."""
from frontend.losses import *  # noqa: F401,F403
from frontend.losses import Loss, LossFunctionWrapper, deserialize, get, resolve_loss, serialize  # noqa: F401

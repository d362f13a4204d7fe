"""``keras.layers``."""
from frontend.layers import *  # noqa: F401,F403
from frontend.layer import Layer  # noqa: F401
from frontend.input_spec import InputSpec  # noqa: F401
from frontend.models.input_layer import Input, InputLayer  # noqa: F401

"""``keras.models``."""
from frontend.models import Functional, Model, Sequential  # noqa: F401
from frontend.saving import load_model, save_model  # noqa: F401

"""``keras.models``."""
from frontend.models import Functional, Model, Sequential  # noqa: F401

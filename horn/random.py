"""``keras.random``."""
from frontend.random import SeedGenerator, dropout, set_seed, uniform  # noqa: F401

"""``keras.datasets.boston_housing``."""
from frontend.datasets.boston_housing import load_boston_housing as load_data  # noqa: F401

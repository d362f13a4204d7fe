"""``keras.datasets.mnist``."""
from frontend.datasets.idx_datasets import load_mnist as load_data  # noqa: F401

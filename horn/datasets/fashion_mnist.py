"""``keras.datasets.fashion_mnist``."""
from frontend.datasets.idx_datasets import load_fashion_mnist as load_data  # noqa: F401

"""``keras.datasets.cifar10``."""
from frontend.datasets.cifar import load_cifar10 as load_data  # noqa: F401

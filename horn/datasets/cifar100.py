"""``keras.datasets.cifar100``."""
from frontend.datasets.cifar import load_cifar100 as load_data  # noqa: F401

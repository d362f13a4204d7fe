"""``keras.datasets``."""
from horn.datasets import boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters  # noqa: F401

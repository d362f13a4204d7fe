"""``keras.datasets``."""
from horn.datasets import fashion_mnist, mnist  # noqa: F401

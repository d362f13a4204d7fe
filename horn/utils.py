"""``keras.utils``."""
from frontend.utils import PyDataset, normalize, pad_sequences, set_random_seed, to_categorical  # noqa: F401
from runtime.progbar import Progbar  # noqa: F401

Sequence = PyDataset  # Keras 3 keeps the old name as an alias


"""Keras' numpy-side utilities (``keras.utils``)."""
from frontend.utils.numerical import normalize, to_categorical
from frontend.utils.py_dataset import PyDataset, iterate_batches
from frontend.utils.rng import set_random_seed
from frontend.utils.sequence import pad_sequences

__all__ = ["normalize", "to_categorical", "PyDataset", "iterate_batches", "set_random_seed", "pad_sequences"]

"""A PyDataset for the tests, in a module light enough for worker processes to import fast."""
from __future__ import annotations

import threading
import time

import numpy as np

from frontend.utils.py_dataset import PyDataset


class Squares(PyDataset):
    """Batch i is (i, i**2); records which threads built batches; ``delay`` finishes them out of order."""

    def __init__(self, n=7, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.n, self.delay = n, delay
        self.epochs_ended = 0
        self.threads: set[str] = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay * ((i * 7) % 3))  # out-of-order completion
        x = np.full((2, 1), i, np.float32)
        return x, x ** 2

    def on_epoch_end(self):
        self.epochs_ended += 1

"""Boston housing prices, as ``keras.datasets.boston_housing.load_data()`` returns them."""
from __future__ import annotations

import numpy as np

from frontend.datasets import files

BOSTON_SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"
BOSTON_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"


def load_boston_housing(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """506 samples of 13 features and the median price, shuffled with ``seed`` then split."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
                         "(exclusive of 1).")
    with np.load(files.get_file(path, "boston_housing", BOSTON_SHA256, [BOSTON_URL], keras_path=path),
                 allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    rng = np.random.RandomState(seed)
    order = np.arange(len(x))
    rng.shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))

"""``keras.utils.to_categorical`` and ``keras.utils.normalize`` on numpy arrays."""
from __future__ import annotations

import numpy as np


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows (float64, as Keras returns for numpy input) for integer labels; the class axis
    goes last.

    A trailing axis of size 1 (labels shaped ``(N, 1)``) is dropped first, as in Keras.
    """
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if not num_classes:
        num_classes = int(np.max(x)) + 1 if x.size else 0
    # Keras lets a negative label wrap around to the last class; an error is kinder.
    bad = (x < 0) | (x >= num_classes)
    if bad.any():
        raise ValueError(f"to_categorical: class values must be integers in [0, {num_classes}). "
                         f"Received {x[bad][0]} (num_classes={num_classes}).")
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(input_shape + (num_classes,))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis``; zero norms leave values unchanged.

    Same values as Keras for arrays of 2+ dimensions. Keras' numpy path writes
    ``axis = axis or -1`` (so axis=0 divides by the wrong norms) and returns a
    1-D input as shape (1, n); here the norm is kept along the axis it was taken
    over, so the shape is always the input's.
    """
    x = np.asarray(x)
    norm = np.linalg.norm(x, order, axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm

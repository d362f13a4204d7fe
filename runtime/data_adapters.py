"""What ``fit`` / ``evaluate`` iterate: batches of ``(x, y, sample_weight)`` numpy structures.

Arrays (single, lists, dicts), Python generators and ``PyDataset`` objects all
become a :class:`DataAdapter`. ``x`` and ``y`` keep their structure (array,
list or dict); ``sample_weight`` is a 1-D float32 array or None.
"""
from __future__ import annotations

import math
import types
import warnings
from typing import Any, Iterator

import numpy as np

from frontend.layer import flatten, map_structure

Batch = tuple[Any, Any, Any]


def _as_array(a):
    a = np.asarray(a)
    return a.astype("float32") if a.dtype == np.float64 else a


def _num_samples(structure) -> int:
    sizes = {int(np.shape(a)[0]) for a in flatten(structure) if a is not None}
    if len(sizes) != 1:
        raise ValueError("Data cardinality is ambiguous. Make sure all arrays contain the same number "
                         f"of samples. Received sizes: {sorted(sizes)}")
    return sizes.pop()


def class_weights_for(y, class_weight: dict) -> np.ndarray:
    """Per-sample weights from a {class index: weight} dict (labels int, or one-hot/probabilities)."""
    y = np.asarray(y)
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = labels.astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"`class_weight` must contain all classes in the data. The classes "
                         f"{missing} exist in the data but not in `class_weight`.")
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([table[int(c)] for c in labels], np.float32)


class DataAdapter:
    """Iterates one epoch of batches; ``num_batches`` is None when unknown in advance."""

    num_batches: int | None = None

    def epoch(self, epoch: int) -> Iterator[Batch]:
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        pass


class ArrayAdapter(DataAdapter):
    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool | str = False,
                 class_weight: dict | None = None, steps: int | None = None):
        self.x = map_structure(_as_array, x)
        self.y = None if y is None else map_structure(_as_array, y)
        self.n = _num_samples([self.x] if self.y is None else [self.x, self.y])
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, np.float32)
            if sample_weight.shape[0] != self.n:
                raise ValueError(f"sample_weight has {sample_weight.shape[0]} entries, but the data has "
                                 f"{self.n} samples")
        if class_weight is not None:
            if self.y is None or isinstance(self.y, (list, tuple, dict)):
                raise ValueError("`class_weight` is only supported for models with a single output.")
            cw = class_weights_for(self.y, class_weight)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        self.sample_weight = sample_weight
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.n / self.batch_size) if self.n else 0
        if steps is not None:
            self.num_batches = min(self.num_batches, int(steps))

    def epoch(self, epoch: int) -> Iterator[Batch]:
        order = np.arange(self.n)
        if self.shuffle == "batch":
            starts = np.arange(0, self.n, self.batch_size)
            np.random.shuffle(starts)
            order = np.concatenate([order[s:s + self.batch_size] for s in starts]) if self.n else order
        elif self.shuffle:
            np.random.shuffle(order)
        for b in range(self.num_batches):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            contiguous = not self.shuffle
            take = (lambda a: a[idx[0]:idx[-1] + 1]) if contiguous else (lambda a: a[idx])
            yield (map_structure(take, self.x),
                   None if self.y is None else map_structure(take, self.y),
                   None if self.sample_weight is None else take(self.sample_weight))

    def split(self, fraction: float) -> tuple["ArrayAdapter", tuple]:
        """Keras' validation_split: the last ``fraction`` of the samples, taken before shuffling."""
        if not 0 < fraction < 1:
            raise ValueError(f"validation_split must be between 0 and 1. Received: {fraction}")
        cut = int(self.n * (1.0 - fraction))
        if cut == 0 or cut == self.n:
            raise ValueError(f"Training data contains {self.n} samples, which is not sufficient to split "
                             f"it into a validation and training set as specified by "
                             f"`validation_split={fraction}`.")
        head = lambda a: a[:cut]
        tail = lambda a: a[cut:]
        val = (map_structure(tail, self.x), None if self.y is None else map_structure(tail, self.y),
               None if self.sample_weight is None else tail(self.sample_weight))
        self.x = map_structure(head, self.x)
        self.y = None if self.y is None else map_structure(head, self.y)
        if self.sample_weight is not None:
            self.sample_weight = head(self.sample_weight)
        self.n = cut
        self.num_batches = math.ceil(cut / self.batch_size)
        return self, val


def _unpack(item) -> Batch:
    if isinstance(item, tuple):
        if len(item) == 1:
            return item[0], None, None
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item
        raise ValueError(f"Data items must be (x,), (x, y) or (x, y, sample_weight); received a "
                         f"tuple of length {len(item)}")
    return item, None, None


def _convert(batch: Batch) -> Batch:
    x, y, sw = batch
    return (map_structure(_as_array, x), None if y is None else map_structure(_as_array, y),
            None if sw is None else np.asarray(sw, np.float32))


class GeneratorAdapter(DataAdapter):
    """A Python generator or iterator: consumed across epochs, ``steps`` batches at a time."""

    def __init__(self, generator, steps: int | None = None):
        self.iterator = iter(generator)
        self.num_batches = steps
        self.exhausted = False

    def epoch(self, epoch: int) -> Iterator[Batch]:
        count = 0
        while self.num_batches is None or count < self.num_batches:
            try:
                item = next(self.iterator)
            except StopIteration:
                self.exhausted = True
                if self.num_batches is not None:
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that "
                                  "your dataset or generator can generate at least `steps_per_epoch * "
                                  "epochs` batches.", stacklevel=3)
                return
            count += 1
            yield _convert(_unpack(item))


class PyDatasetAdapter(DataAdapter):
    """``keras.utils.PyDataset``: ``len(ds)`` batches, ``ds[i]``, ``on_epoch_end()``."""

    def __init__(self, dataset, shuffle: bool = False, steps: int | None = None):
        self.dataset = dataset
        self.shuffle = shuffle
        n = len(dataset)
        self.num_batches = n if steps is None else min(n, int(steps))

    def epoch(self, epoch: int) -> Iterator[Batch]:
        from frontend.utils.py_dataset import iterate_batches
        if hasattr(self.dataset, "on_epoch_begin"):
            self.dataset.on_epoch_begin()
        order = np.arange(len(self.dataset))
        if self.shuffle:
            np.random.shuffle(order)
        # iterate_batches prefetches with the dataset's workers, in order, and stops them early.
        for item in iterate_batches(self.dataset, [int(i) for i in order[:self.num_batches]]):
            yield _convert(_unpack(item))

    def on_epoch_end(self) -> None:
        if hasattr(self.dataset, "on_epoch_end"):
            self.dataset.on_epoch_end()


def is_generator(x) -> bool:
    return isinstance(x, (types.GeneratorType, map, filter, zip)) or (
        hasattr(x, "__next__") and hasattr(x, "__iter__") and not isinstance(x, np.ndarray))


def is_pydataset(x) -> bool:
    return hasattr(x, "__getitem__") and hasattr(x, "__len__") and not isinstance(
        x, (np.ndarray, list, tuple, dict)) and hasattr(x, "on_epoch_end")


def get_adapter(x, y=None, sample_weight=None, batch_size=None, shuffle=False, class_weight=None,
                steps=None) -> DataAdapter:
    """The adapter for whatever the user passed as ``x``."""
    if is_generator(x) or is_pydataset(x):
        if y is not None:
            raise ValueError("`y` argument is not supported when using a generator or PyDataset as "
                             "input; yield (x, y) pairs from it instead.")
        if sample_weight is not None:
            raise ValueError("`sample_weight` argument is not supported when using a generator or "
                             "PyDataset as input; yield (x, y, sample_weight) from it instead.")
        if class_weight is not None:
            raise ValueError("`class_weight` is not supported with a generator or PyDataset input here.")
        if is_pydataset(x):
            return PyDatasetAdapter(x, shuffle=bool(shuffle), steps=steps)
        return GeneratorAdapter(x, steps)
    if x is None:
        raise ValueError("Unexpected value for `x`: None. Pass numpy arrays, a list or dict of "
                         "arrays, a generator or a PyDataset.")
    return ArrayAdapter(x, y, sample_weight, batch_size or 32, shuffle, class_weight, steps)

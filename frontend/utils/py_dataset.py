"""``keras.utils.PyDataset``: a dataset as ``len(ds)`` batches, each ``ds[i]``.

:func:`iterate_batches` is how a trainer runs one epoch over it: in order (or
in the order given), with ``workers`` threads, or processes when
``use_multiprocessing``, preparing up to ``max_queue_size`` batches ahead while
the compiled step runs. Batches always come back in index order.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import multiprocessing
import warnings
from typing import Any, Iterable, Iterator


class PyDataset:
    """Base class for datasets ``fit``/``evaluate``/``predict`` can iterate.

    Subclasses implement ``__len__`` (batches per epoch) and ``__getitem__(i)``
    returning ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``; they may
    override ``on_epoch_begin``/``on_epoch_end`` (e.g. to reshuffle), and should
    call ``super().__init__(**kwargs)``.

    Args:
        workers: how many threads (or processes) prepare batches; 1 means the
            training thread itself, in order.
        use_multiprocessing: prepare batches in processes instead of threads
            (for Python-heavy ``__getitem__``); the dataset is pickled to each
            worker process, so it must be picklable.
        max_queue_size: how many batches may be prepared ahead.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self) -> None:
        missing = [a for a in ("_workers", "_use_multiprocessing", "_max_queue_size") if not hasattr(self, a)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                          "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                          "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                          "ignored.", stacklevel=3)

    @property
    def workers(self) -> int:
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int):
        """Batch number ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must implement `__getitem__(index)`.")

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch (``len(self)``); None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError("You need to implement the `num_batches` property:\n\n"
                                  "@property\ndef num_batches(self):\n  return ...")

    def __iter__(self) -> Iterator:
        try:
            n = self.num_batches
        except NotImplementedError:
            n = None
        for i in (range(n) if n is not None else itertools.count()):
            yield self[i]

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (e.g. to reshuffle)."""


# A worker process keeps its copy of the dataset here instead of unpickling it per batch.
_WORKER_DATASET: Any = None


def _init_worker(dataset) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _worker_getitem(index: int):
    return _WORKER_DATASET[index]


def _executor(dataset, workers: int, use_multiprocessing: bool) -> concurrent.futures.Executor:
    if not use_multiprocessing:
        return concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    # Not fork: the training process runs native threads (the compiled step's, JAX's when
    # Keras is loaded), and a forked child can deadlock on a lock one of them held. The
    # dataset is pickled once per worker instead, so it must be picklable.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                                  initializer=_init_worker, initargs=(dataset,))


def iterate_batches(dataset, indices: Iterable[int] | None = None) -> Iterator:
    """Yields ``dataset[i]`` for each index (default ``range(num_batches)``, or forever when that
    is None), prefetched by the dataset's workers when it has more than one (or uses processes).

    Stopping the iteration early (``steps_per_epoch``, early stopping) cancels what
    was queued and shuts the workers down.
    """
    if indices is None:
        n = getattr(dataset, "num_batches", None) if isinstance(dataset, PyDataset) else len(dataset)
        indices = range(n) if n is not None else itertools.count()
    workers = int(getattr(dataset, "workers", 1) or 0)
    use_mp = bool(getattr(dataset, "use_multiprocessing", False))
    if workers <= 1 and not (use_mp and workers > 0):
        for i in indices:
            yield dataset[i]
        return
    depth = max(int(getattr(dataset, "max_queue_size", 10) or 1), 1)
    pool = _executor(dataset, workers, use_mp)
    getitem = _worker_getitem if use_mp else dataset.__getitem__
    pending: collections.deque = collections.deque()
    it = iter(indices)
    try:
        for i in itertools.islice(it, depth):
            pending.append(pool.submit(getitem, i))
        while pending:
            future = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(getitem, nxt))
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

"""horn.utils: to_categorical, pad_sequences, normalize, set_random_seed, PyDataset."""
from __future__ import annotations

import random
import threading
import warnings

import numpy as np
import pytest

import horn as keras_horn
from frontend import initializers
from frontend import random as horn_random
from frontend.utils import PyDataset, iterate_batches
from tests.frontend.pydataset_fixtures import Squares


@pytest.fixture(scope="module")
def kutils():
    keras = pytest.importorskip("keras")
    return keras.utils


# -- to_categorical --------------------------------------------------------------------------
@pytest.mark.parametrize("labels, num_classes", [
    ([0, 1, 2, 3], None), ([2, 0, 1], 5), (np.array([[1], [0], [3]]), None),
    (np.array([[0, 1], [2, 1]]), 4), (np.array([1, 0], np.uint8), 2),
])
def test_to_categorical_matches_keras(labels, num_classes, kutils):
    mine = keras_horn.utils.to_categorical(labels, num_classes)
    # As a list, so Keras takes its numpy path (float64) on every backend; its numpy backend
    # would treat an array as a backend tensor and one-hot it as float32.
    theirs = kutils.to_categorical(np.asarray(labels).tolist(), num_classes)
    assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
    np.testing.assert_array_equal(mine, theirs)


def test_to_categorical_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match=r"class values must be integers in \[0, 3\). Received 3"):
        keras_horn.utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="Received -1"):
        keras_horn.utils.to_categorical([0, -1], num_classes=3)


# -- pad_sequences ---------------------------------------------------------------------------
SEQS = [[1, 2, 3, 4, 5], [6, 7], [], [8, 9, 10]]


@pytest.mark.parametrize("kwargs", [
    {}, dict(maxlen=3), dict(maxlen=3, padding="post"), dict(maxlen=3, truncating="post"),
    dict(maxlen=7, padding="post", truncating="post", value=-1), dict(dtype="float32", value=0.5),
    dict(maxlen=2, dtype="int64"),
])
def test_pad_sequences_matches_keras(kwargs, kutils):
    mine = keras_horn.utils.pad_sequences(SEQS, **kwargs)
    theirs = kutils.pad_sequences(SEQS, **kwargs)
    assert mine.dtype == theirs.dtype
    np.testing.assert_array_equal(mine, theirs)


def test_pad_sequences_multidimensional_items_and_strings(kutils):
    seqs = [np.ones((2, 3)), np.zeros((0, 3)), np.full((4, 3), 2.0)]
    np.testing.assert_array_equal(keras_horn.utils.pad_sequences(seqs, maxlen=3, dtype="float32"),
                                  kutils.pad_sequences(seqs, maxlen=3, dtype="float32"))
    words = [["a", "bb"], ["ccc"]]
    out = keras_horn.utils.pad_sequences(words, dtype=object, value="<pad>")
    assert out.tolist() == [["a", "bb"], ["<pad>", "ccc"]]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match='Padding type "middle" not understood'):
        keras_horn.utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match='Truncating type "x" not understood'):
        keras_horn.utils.pad_sequences([[1, 2]], maxlen=1, truncating="x")
    with pytest.raises(ValueError, match="Found non-iterable: 3"):
        keras_horn.utils.pad_sequences([[1], 3])
    with pytest.raises(ValueError, match="You should set `dtype=object` for variable length strings"):
        keras_horn.utils.pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match=r"Shape of sample \(2,\) of sequence at position 1"):
        keras_horn.utils.pad_sequences([np.ones((1, 3)), np.ones((1, 2))])


# -- normalize -------------------------------------------------------------------------------
@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1), (-1, 3), (2, 2)])
def test_normalize_matches_keras(axis, order, kutils):
    x = np.random.default_rng(0).normal(size=(3, 4, 5))
    x[1, 2] = 0.0  # a zero vector stays zero
    np.testing.assert_allclose(keras_horn.utils.normalize(x, axis, order), kutils.normalize(x, axis, order),
                               rtol=1e-12)


def test_normalize_along_axis_0_and_vectors():
    x = np.array([[3.0, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(keras_horn.utils.normalize(x, axis=0), [[0.6, 0.0], [0.8, 0.0]])
    np.testing.assert_allclose(keras_horn.utils.normalize([3.0, 4.0]), [0.6, 0.8])


# -- set_random_seed ---------------------------------------------------------------------------
def _draws():
    return (random.random(), float(np.random.rand()),
            initializers.get("glorot_uniform")((3, 2)).tolist(),
            np.asarray(horn_random.uniform((4,))).tolist())


def test_set_random_seed_makes_every_generator_repeat():
    keras_horn.utils.set_random_seed(1234)
    first = _draws()
    keras_horn.utils.set_random_seed(1234)
    assert _draws() == first
    keras_horn.utils.set_random_seed(99)
    assert all(a != b for a, b in zip(_draws(), first))
    with pytest.raises(ValueError, match="Expected `seed` argument to be an integer. Received: seed=1.5"):
        keras_horn.utils.set_random_seed(1.5)


# -- PyDataset -------------------------------------------------------------------------------
def test_pydataset_has_keras_api_and_iterates_in_order():
    ds = Squares(workers=3, use_multiprocessing=False, max_queue_size=4)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size, ds.num_batches) == (3, False, 4, 7)
    assert [int(x[0, 0]) for x, _ in ds] == list(range(7))
    assert keras_horn.utils.PyDataset is PyDataset and keras_horn.utils.Sequence is PyDataset
    ds.on_epoch_end()
    assert ds.epochs_ended == 1


@pytest.mark.parametrize("workers, use_mp", [(1, False), (3, False), (2, True)])
def test_iterate_batches_keeps_order_with_workers(workers, use_mp):
    ds = Squares(n=9, delay=0.002, workers=workers, use_multiprocessing=use_mp, max_queue_size=3)
    got = [int(y[0, 0]) for _, y in iterate_batches(ds)]
    assert got == [i * i for i in range(9)]
    if workers > 1 and not use_mp:
        assert len(ds.threads) > 1 and threading.current_thread().name not in ds.threads
    order = [4, 0, 8]
    assert [int(x[0, 0]) for x, _ in iterate_batches(ds, order)] == order


def test_iterate_batches_stops_early_and_releases_workers():
    ds = Squares(n=50, workers=4, max_queue_size=5)
    it = iterate_batches(ds)
    assert [int(next(it)[0][0, 0]) for _ in range(3)] == [0, 1, 2]
    it.close()  # a trainer leaving the epoch early (steps_per_epoch, stop_training)
    alive = {t.name for t in threading.enumerate()}
    assert ds.threads and not (ds.threads & alive)  # the worker threads were joined
    assert len(ds.threads) <= 4


def test_pydataset_without_super_init_warns_and_uses_defaults():
    class Bare(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

    ds = Bare()
    with pytest.warns(UserWarning, match="should call `super\\(\\).__init__\\(\\*\\*kwargs\\)`"):
        assert ds.workers == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds.max_queue_size == 10 and ds.use_multiprocessing is False
    with pytest.raises(NotImplementedError, match="must implement `__getitem__"):
        ds[0]

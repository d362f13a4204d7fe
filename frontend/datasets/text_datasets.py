"""IMDB and Reuters, with Keras' exact preprocessing.

Both files hold word-rank sequences (1 = the most frequent word). Loading
shuffles with ``np.random.RandomState(seed)``, shifts every rank by
``index_from`` and prepends ``start_char``, drops sequences not shorter than
``maxlen``, and maps ranks outside ``[skip_top, num_words)`` to ``oov_char`` (or
drops them when ``oov_char`` is None), exactly as ``keras.datasets`` does, so a
model trained on either gets the same arrays.
"""
from __future__ import annotations

import json

import numpy as np

from frontend.datasets import files
from frontend.datasets.npz import load_npz

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
IMDB_WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
REUTERS_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
REUTERS_WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"

REUTERS_LABELS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi",
    "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal",
    "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc",
    "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def _fetch(name: str, subdir: str, file_hash: str, origin_name: str):
    # Keras keeps these at the top of its datasets cache, under the name the caller chose.
    return files.get_file(name, subdir, file_hash, [_ORIGIN + origin_name], keras_path=name)


def _shift(seqs, start_char: int | None, index_from: int) -> list[list[int]]:
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in seqs]
    if index_from:
        return [[w + index_from for w in x] for x in seqs]
    return [[w for w in x] for x in seqs]


def _drop_long(maxlen: int, seqs, labels):
    """Keeps sequences strictly shorter than ``maxlen`` (Keras' ``remove_long_seq``)."""
    kept = [(x, y) for x, y in zip(seqs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def _limit_vocabulary(xs, num_words: int | None, skip_top: int, oov_char: int | None):
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def load_imdb(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, seed: int = 113, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3, **kwargs):
    """25000 training and 25000 test reviews as object arrays of int lists; labels 0/1.

    Extra keyword arguments are accepted and ignored, as Keras 3 does.
    """
    del kwargs
    f = load_npz(_fetch(path, "imdb", IMDB_SHA256, "imdb.npz"))
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, labels_train = x_train[order], labels_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)  # the same generator continues, as in Keras
    x_test, labels_test = x_test[order], labels_test[order]
    x_train, x_test = _shift(x_train, start_char, index_from), _shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = _drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence "
                             "was kept. Increase maxlen.")
    xs = _limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    return ((np.array(xs[:idx], dtype="object"), labels[:idx]),
            (np.array(xs[idx:], dtype="object"), labels[idx:]))


def imdb_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """Word -> rank (``"the"`` is 1). ``load_data`` shifts ranks by ``index_from`` (3 by default),
    so word ``w`` appears in the sequences as ``word_index[w] + 3``."""
    with open(_fetch(path, "imdb", IMDB_WORD_INDEX_MD5, "imdb_word_index.json")) as f:
        return json.load(f)


def load_reuters(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0,
                 maxlen: int | None = None, test_split: float = 0.2, seed: int = 113,
                 start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3):
    """11228 newswires in 46 topics, split ``1 - test_split`` / ``test_split`` after shuffling."""
    f = load_npz(_fetch(path, "reuters", REUTERS_SHA256, "reuters.npz"))
    xs, labels = f["x"], f["y"]
    rng = np.random.RandomState(seed)
    order = np.arange(len(xs))
    rng.shuffle(order)
    xs, labels = xs[order], labels[order]
    xs = _shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = _drop_long(maxlen, xs, labels)
    xs = _limit_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:idx], dtype="object"), np.array(labels[:idx])),
            (np.array(xs[idx:], dtype="object"), np.array(labels[idx:])))


def reuters_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """Word -> rank for the Reuters newswires."""
    with open(_fetch(path, "reuters", REUTERS_WORD_INDEX_MD5, "reuters_word_index.json")) as f:
        return json.load(f)


def reuters_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label."""
    return REUTERS_LABELS

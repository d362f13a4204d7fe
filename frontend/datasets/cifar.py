"""CIFAR-10 and CIFAR-100, as ``keras.datasets.cifar10/cifar100.load_data()`` return them.

The batches are read straight out of the verified ``.tar.gz`` (no extraction on
disk, so nothing in the archive can write outside the cache).
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from frontend.datasets import files
from frontend.datasets.npz import load_pickle

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def _read_batches(archive: Path, members: dict[str, str], label_key: str):
    """``{member path: key}`` -> ``{key: (images NCHW uint8, labels)}``, in one pass over the archive."""
    found = {}
    with tarfile.open(archive, "r|gz") as tar:  # a stream: one sequential decompression
        for info in tar:
            if info.name in members and info.isfile():
                d = load_pickle(tar.extractfile(info))
                d = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}
                if label_key not in d:
                    raise ValueError(f"{archive}: {info.name} has no '{label_key}' entry")
                data = np.asarray(d["data"], dtype=np.uint8)
                found[members[info.name]] = (data.reshape(data.shape[0], 3, 32, 32),
                                             np.asarray(d[label_key]))
    missing = sorted(m for m, k in members.items() if k not in found)
    if missing:
        raise ValueError(f"{archive} is not a CIFAR archive: missing {missing}")
    return found


def _finish(x_train, y_train, x_test, y_test):
    """Keras' layout: channels-last images, labels as (N, 1) columns."""
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    return (x_train.transpose(0, 2, 3, 1), y_train), (x_test.transpose(0, 2, 3, 1), y_test)


def load_cifar10():
    """``(x_train, y_train), (x_test, y_test)``: uint8 (50000, 32, 32, 3) / (10000, ...) and (N, 1) labels."""
    archive = files.get_file("cifar-10-python.tar.gz", "cifar10", CIFAR10_SHA256, [CIFAR10_URL],
                             keras_path="cifar-10-batches-py-target_archive")
    names = {f"cifar-10-batches-py/data_batch_{i}": f"train{i}" for i in range(1, 6)}
    names["cifar-10-batches-py/test_batch"] = "test"
    b = _read_batches(archive, names, "labels")
    x_train = np.concatenate([b[f"train{i}"][0] for i in range(1, 6)])
    # Keras fills uint8 label buffers for CIFAR-10 (CIFAR-100's stay int64, as the lists parse).
    y_train = np.concatenate([b[f"train{i}"][1] for i in range(1, 6)]).astype(np.uint8)
    x_test, y_test = b["test"]
    return _finish(x_train, y_train, x_test, y_test.astype(np.uint8))


def load_cifar100(label_mode: str = "fine"):
    """CIFAR-100 with ``label_mode`` "fine" (100 classes) or "coarse" (20 superclasses)."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError('`label_mode` must be one of `"fine"`, `"coarse"`. '
                         f"Received: label_mode={label_mode}.")
    archive = files.get_file("cifar-100-python.tar.gz", "cifar100", CIFAR100_SHA256, [CIFAR100_URL],
                             keras_path="cifar-100-python-target_archive")
    b = _read_batches(archive, {"cifar-100-python/train": "train", "cifar-100-python/test": "test"},
                      f"{label_mode}_labels")
    return _finish(*b["train"], *b["test"])

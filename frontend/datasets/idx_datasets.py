"""MNIST and Fashion-MNIST, as ``keras.datasets.*.load_data()`` returns them."""
from __future__ import annotations

import numpy as np

from frontend.datasets.files import get_file, read_idx

_SPLITS = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MNIST_MD5 = ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
FASHION_MD5 = ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
               "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")
FASHION_MIRRORS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                   "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")


def _load(subdir: str, md5s, mirrors):
    arrays = [read_idx(get_file(name, subdir, md5, [m + name for m in mirrors]))
              for name, md5 in zip(_SPLITS, md5s)]
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28) and uint8 labels."""
    return _load("mnist", MNIST_MD5, MNIST_MIRRORS)


def load_fashion_mnist():
    return _load("fashion-mnist", FASHION_MD5, FASHION_MIRRORS)

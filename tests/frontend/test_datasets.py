"""Dataset loading: verified local copies, IDX parsing, and clear failures."""
import gzip
import os

import numpy as np
import pytest

from frontend.datasets import files
from frontend.datasets.idx_datasets import load_mnist


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = (0x0800 | arr.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_read_idx_round_trip_and_corrupt_header(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(_idx_bytes(arr)))
    np.testing.assert_array_equal(files.read_idx(p), arr)
    p.write_bytes(gzip.compress(_idx_bytes(arr)[:-1]))
    with pytest.raises(ValueError, match=r"header says \[2, 3, 4\], file holds 23 values"):
        files.read_idx(p)


def test_get_file_checks_md5_of_local_copies(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.gz").write_bytes(b"not the data")
    monkeypatch.setenv("HORN_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"f.gz is corrupt: md5 .*expected 0123"):
        files.get_file("f.gz", "d", "0123", urls=[])


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.delenv("HORN_DATA_DIR", raising=False)
    monkeypatch.setenv("HORN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    bad = tmp_path / "src.bin"
    bad.write_bytes(b"wrong bytes")
    with pytest.raises(OSError, match=r"(?s)Could not find or download d/f.gz.*md5"):
        files.get_file("f.gz", "d", "0" * 32, urls=[bad.as_uri()])
    assert os.listdir(tmp_path / "home" / "datasets" / "d") == []


@pytest.mark.skipif("HORN_DATA_DIR" not in os.environ, reason="needs the offline MNIST copy")
def test_mnist_matches_published_facts():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(x_train.mean() - 33.318) < 1e-3

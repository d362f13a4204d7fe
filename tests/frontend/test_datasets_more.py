"""CIFAR, IMDB, Reuters and Boston housing: lookup, checksums, parsing and Keras' preprocessing.

The real files are not available offline, so each loader reads small files
built here in the exact on-disk format (pickled batches in a tar.gz, npz files
with object arrays). Where Keras is installed, its own loader parses the same
file (its download step replaced by the path) and the results must be equal.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import horn as keras_horn
from frontend.datasets import boston_housing, cifar, files, npz, text_datasets

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_WORD_INDEX = SHARED_DATA / "imdb" / "imdb_word_index.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty HORN_DATA_DIR, cache and Keras cache, and no network."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("HORN_DATA_DIR", str(data))
    monkeypatch.setenv("HORN_HOME", str(tmp_path / "horn_home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def offline(url, filename=None, *a, **k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    return data


def _place(data_dir: Path, subdir: str, name: str, payload: bytes) -> Path:
    path = data_dir / subdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


@pytest.fixture(scope="module")
def kds():
    """Keras' dataset modules, for parity (skipped without Keras)."""
    pytest.importorskip("keras")
    from keras.src.datasets import boston_housing as kb, cifar10 as kc10, cifar100 as kc100
    from keras.src.datasets import imdb as ki, reuters as kr
    return {"boston": kb, "cifar10": kc10, "cifar100": kc100, "imdb": ki, "reuters": kr}


# -- get_file ------------------------------------------------------------------------------
def test_get_file_verifies_sha256_and_md5(isolated):
    path = _place(isolated, "d", "f.bin", b"payload")
    sha = _sha256(path)
    assert files.get_file("f.bin", "d", sha, []) == path
    assert files.get_file("f.bin", "d", hashlib.md5(b"payload").hexdigest(), []) == path
    with pytest.raises(ValueError, match=r"f.bin is corrupt: sha256 [0-9a-f]{64}, expected 0{64}"):
        files.get_file("f.bin", "d", "0" * 64, [])


def test_get_file_finds_keras_cache_under_keras_name(isolated, tmp_path):
    keras_copy = tmp_path / "keras_home" / "datasets" / "k-name_archive"
    keras_copy.parent.mkdir(parents=True)
    keras_copy.write_bytes(b"abc")
    assert files.get_file("f.tar.gz", "d", _sha256(keras_copy), [], keras_path="k-name_archive") == keras_copy


def test_download_is_verified_then_renamed_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("HORN_DATA_DIR", raising=False)
    monkeypatch.setenv("HORN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    src = tmp_path / "src.bin"
    src.write_bytes(b"remote bytes")
    got = files.get_file("f.bin", "d", _sha256(src), ["file:///nonexistent/x", src.as_uri()])
    assert got == tmp_path / "home" / "datasets" / "d" / "f.bin" and got.read_bytes() == b"remote bytes"
    assert os.listdir(got.parent) == ["f.bin"]  # no temporary left behind


def test_offline_loader_says_exactly_where_to_put_the_file(isolated, tmp_path):
    with pytest.raises(OSError) as info:
        keras_horn.datasets.cifar10.load_data()
    msg = str(info.value)
    assert "Could not find or download cifar10/cifar-10-python.tar.gz" in msg
    assert f"sha256 {cifar.CIFAR10_SHA256}" in msg
    assert str(isolated / "cifar10" / "cifar-10-python.tar.gz") in msg
    assert str(tmp_path / "horn_home" / "datasets" / "cifar10" / "cifar-10-python.tar.gz") in msg
    assert str(tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py-target_archive") in msg
    assert f"{cifar.CIFAR10_URL}: <urlopen error network is unreachable>" in msg
    with pytest.raises(OSError, match=r"Could not find or download imdb/imdb.npz"):
        keras_horn.datasets.imdb.load_data()


# -- restricted unpickling ---------------------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_npz_with_code_in_a_pickle_is_refused(tmp_path):
    evil = np.empty(1, dtype=object)
    evil[0] = _Evil()
    np.savez(tmp_path / "evil.npz", x=evil)
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to deserialize `(posix|os|nt)\.system`"):
        npz.load_npz(tmp_path / "evil.npz")


# -- CIFAR -------------------------------------------------------------------------------------
def _cifar_batch(rng, n, label_keys):
    d = {b"batch_label": b"synthetic", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [f"img{i}.png".encode() for i in range(n)]}
    for key, classes in label_keys.items():
        d[key.encode()] = [int(v) for v in rng.integers(0, classes, n)]
    return d


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: byte strings as BINSTRING opcodes.

    Python 3's protocol 2 spells bytes as ``_codecs.encode(...)`` calls, which the
    restricted unpickler rightly refuses; the real CIFAR files have none.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def test_py2_style_pickle_round_trips_through_the_restricted_unpickler():
    d = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}
    blob = _py2_pickle(d)
    assert b"_codecs" not in blob
    back = npz.load_pickle(io.BytesIO(blob))
    np.testing.assert_array_equal(back[b"data"], d[b"data"])
    assert back[b"labels"] == [1, 2]
    with pytest.raises(pickle.UnpicklingError, match="Refusing to deserialize `_codecs.encode`"):
        npz.load_pickle(io.BytesIO(pickle.dumps(d, protocol=2)))


def _tar_of_pickles(path: Path, members: dict[str, dict]) -> None:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, d in members.items():
            blob = _py2_pickle(d)  # the originals are Python 2 pickles
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def _keras_extracted(archive: Path, where: Path) -> str:
    where.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    return str(where)


def test_cifar10_parses_the_python_tarball_like_keras(isolated, tmp_path, monkeypatch, kds):
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    members = {f"cifar-10-batches-py/{n}": _cifar_batch(rng, 3, {"labels": 10}) for n in names}
    members["cifar-10-batches-py/batches.meta"] = {b"label_names": [b"airplane"]}
    archive = isolated / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    _tar_of_pickles(archive, members)
    monkeypatch.setattr(cifar, "CIFAR10_SHA256", _sha256(archive))
    (x_train, y_train), (x_test, y_test) = keras_horn.datasets.cifar10.load_data()
    assert x_train.shape == (15, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (15, 1) and y_train.dtype == np.uint8 and x_test.shape == (3, 32, 32, 3)
    # Channel G of pixel (row 0, col 1) of batch 2's image 1 is byte 1024 + 1 of its row.
    assert x_train[4, 0, 1, 1] == members["cifar-10-batches-py/data_batch_2"][b"data"][1, 1025]
    # Keras' load_data hard-codes 10000 images per batch, so compare against its per-batch
    # parser, assembled the way its load_data assembles the real file.
    from keras.src.datasets.cifar import load_batch
    root = Path(_keras_extracted(archive, tmp_path / "k")) / "cifar-10-batches-py"
    parts = [load_batch(str(root / n)) for n in names]
    want_x = np.concatenate([p[0] for p in parts[:5]]).transpose(0, 2, 3, 1)
    want_y = np.concatenate([p[1] for p in parts[:5]]).astype(np.uint8).reshape(-1, 1)
    np.testing.assert_array_equal(x_train, want_x)
    np.testing.assert_array_equal(y_train, want_y)
    np.testing.assert_array_equal(x_test, parts[5][0].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_test, np.reshape(parts[5][1], (-1, 1)).astype(np.uint8))


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_labels_match_keras(label_mode, isolated, tmp_path, monkeypatch, kds):
    rng = np.random.default_rng(1)
    keys = {"fine_labels": 100, "coarse_labels": 20}
    members = {"cifar-100-python/train": _cifar_batch(rng, 4, keys),
               "cifar-100-python/test": _cifar_batch(rng, 2, keys)}
    archive = isolated / "cifar100" / "cifar-100-python.tar.gz"
    archive.parent.mkdir()
    _tar_of_pickles(archive, members)
    monkeypatch.setattr(cifar, "CIFAR100_SHA256", _sha256(archive))
    (x_train, y_train), (x_test, y_test) = keras_horn.datasets.cifar100.load_data(label_mode=label_mode)
    assert y_train[:, 0].tolist() == members["cifar-100-python/train"][f"{label_mode}_labels".encode()]
    monkeypatch.setattr(kds["cifar100"], "get_file", lambda **kw: _keras_extracted(archive, tmp_path / "k"))
    for mine, theirs in zip([x_train, y_train, x_test, y_test],
                            [a for pair in kds["cifar100"].load_data(label_mode) for a in pair]):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)


def test_cifar_errors(isolated, monkeypatch):
    with pytest.raises(ValueError, match='must be one of `"fine"`, `"coarse"`. Received: label_mode=x'):
        keras_horn.datasets.cifar100.load_data("x")
    archive = isolated / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    _tar_of_pickles(archive, {"cifar-10-batches-py/data_batch_1": {b"data": np.zeros((1, 3072), np.uint8),
                                                                   b"labels": [0]}})
    monkeypatch.setattr(cifar, "CIFAR10_SHA256", _sha256(archive))
    with pytest.raises(ValueError, match=r"not a CIFAR archive: missing \['cifar-10-batches-py/data_batch_2'"):
        keras_horn.datasets.cifar10.load_data()


# -- IMDB and Reuters ---------------------------------------------------------------------------
def _ragged(rng, n, vocab, lo=1, hi=9):
    arr = np.empty(n, dtype=object)
    for i in range(n):
        arr[i] = [int(w) for w in rng.integers(1, vocab, rng.integers(lo, hi))]
    return arr


@pytest.fixture
def imdb_file(isolated, monkeypatch):
    rng = np.random.default_rng(2)
    path = isolated / "imdb" / "imdb.npz"
    path.parent.mkdir()
    np.savez(path, x_train=_ragged(rng, 7, 12), y_train=rng.integers(0, 2, 7),
             x_test=_ragged(rng, 5, 12), y_test=rng.integers(0, 2, 5))
    monkeypatch.setattr(text_datasets, "IMDB_SHA256", _sha256(path))
    return path


def _assert_same(mine, theirs):
    for (xa, ya), (xb, yb) in zip(mine, theirs):
        assert xa.dtype == xb.dtype == object and xa.shape == xb.shape
        assert [list(s) for s in xa] == [list(s) for s in xb]
        assert ya.dtype == yb.dtype
        np.testing.assert_array_equal(ya, yb)


IMDB_CASES = [
    {}, dict(num_words=8, skip_top=4), dict(maxlen=6), dict(seed=7, start_char=None, index_from=0),
    dict(start_char=None), dict(num_words=9, oov_char=None), dict(index_from=1, oov_char=0, num_words=10),
]


@pytest.mark.parametrize("kwargs", IMDB_CASES)
def test_imdb_preprocessing_matches_keras(kwargs, imdb_file, monkeypatch, kds):
    mine = keras_horn.datasets.imdb.load_data(**kwargs)
    monkeypatch.setattr(kds["imdb"], "get_file", lambda **kw: str(imdb_file))
    _assert_same(mine, kds["imdb"].load_data(**kwargs))


def test_imdb_applies_start_char_index_from_and_oov(imdb_file):
    raw = np.load(imdb_file, allow_pickle=True)
    (x_train, y_train), _ = keras_horn.datasets.imdb.load_data(num_words=10, seed=113)
    order = np.arange(7)
    np.random.RandomState(113).shuffle(order)
    first = raw["x_train"][order[0]]
    assert x_train[0] == [1] + [w + 3 if w + 3 < 10 else 2 for w in first]
    assert y_train[0] == raw["y_train"][order[0]]
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        keras_horn.datasets.imdb.load_data(maxlen=1)


@pytest.mark.skipif(not SHARED_WORD_INDEX.is_file(), reason="needs ../shared/data/imdb")
def test_imdb_word_index_from_shared_data(monkeypatch, kds):
    monkeypatch.setenv("HORN_DATA_DIR", str(SHARED_WORD_INDEX.parents[1]))
    index = keras_horn.datasets.imdb.get_word_index()
    assert len(index) == 88584 and index["the"] == 1 and sorted(index.values()) == list(range(1, 88585))
    monkeypatch.setattr(kds["imdb"], "get_file", lambda **kw: str(SHARED_WORD_INDEX))
    assert index == kds["imdb"].get_word_index()


@pytest.fixture
def reuters_file(isolated, monkeypatch):
    rng = np.random.default_rng(3)
    path = isolated / "reuters" / "reuters.npz"
    path.parent.mkdir()
    np.savez(path, x=_ragged(rng, 11, 15), y=rng.integers(0, 46, 11))
    monkeypatch.setattr(text_datasets, "REUTERS_SHA256", _sha256(path))
    return path


@pytest.mark.parametrize("kwargs", IMDB_CASES + [dict(test_split=0.5), dict(test_split=0.0, maxlen=5)])
def test_reuters_preprocessing_matches_keras(kwargs, reuters_file, monkeypatch, kds):
    mine = keras_horn.datasets.reuters.load_data(**kwargs)
    monkeypatch.setattr(kds["reuters"], "get_file", lambda *a, **kw: str(reuters_file))
    _assert_same(mine, kds["reuters"].load_data(**kwargs))


def test_reuters_split_labels_and_word_index(reuters_file, isolated, monkeypatch):
    (x_train, y_train), (x_test, y_test) = keras_horn.datasets.reuters.load_data(test_split=0.2)
    assert len(x_train) == int(11 * 0.8) and len(x_test) == 11 - int(11 * 0.8)
    names = keras_horn.datasets.reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn" and names[-1] == "lead"
    index = _place(isolated, "reuters", "reuters_word_index.json", json.dumps({"said": 1, "mln": 2}).encode())
    monkeypatch.setattr(text_datasets, "REUTERS_WORD_INDEX_MD5", hashlib.md5(index.read_bytes()).hexdigest())
    assert keras_horn.datasets.reuters.get_word_index() == {"said": 1, "mln": 2}


# -- Boston housing ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, dict(test_split=0.3, seed=5), dict(test_split=0.0)])
def test_boston_housing_matches_keras(kwargs, isolated, monkeypatch, kds):
    rng = np.random.default_rng(4)
    path = isolated / "boston_housing" / "boston_housing.npz"
    path.parent.mkdir()
    np.savez(path, x=rng.random((21, 13)), y=rng.random(21) * 50)
    monkeypatch.setattr(boston_housing, "BOSTON_SHA256", _sha256(path))
    (x_train, y_train), (x_test, y_test) = keras_horn.datasets.boston_housing.load_data(**kwargs)
    assert x_train.shape[1] == 13 and len(x_train) + len(x_test) == 21 and x_train.dtype == np.float64
    monkeypatch.setattr(kds["boston"], "get_file", lambda *a, **kw: str(path))
    theirs = kds["boston"].load_data(**kwargs)
    for mine, ref in zip([x_train, y_train, x_test, y_test], [a for pair in theirs for a in pair]):
        np.testing.assert_array_equal(mine, ref)
    with pytest.raises(ValueError, match="Invalid `test_split` argument: 1.0"):
        keras_horn.datasets.boston_housing.load_data(test_split=1.0)

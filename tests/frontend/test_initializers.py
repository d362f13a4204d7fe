"""horn.initializers: shapes and dtypes, seeds, the distributions' statistics
and bounds, fans as Keras computes them, configs as Keras writes them, and
lookup by every Keras name."""
from __future__ import annotations

import math

import numpy as np
import pytest

from frontend import initializers as I
from tests.frontend.layer_harness import keras_or_skip

SEEDED = [I.RandomNormal, I.RandomUniform, I.TruncatedNormal, I.GlorotUniform, I.GlorotNormal,
          I.HeUniform, I.HeNormal, I.LecunUniform, I.LecunNormal, I.Orthogonal, I.VarianceScaling]


@pytest.mark.parametrize("cls", SEEDED + [I.Zeros, I.Ones, I.Constant])
@pytest.mark.parametrize("dtype", [None, "float32", "float64", "float16"])
def test_shape_and_dtype(cls, dtype):
    w = cls()((3, 4, 5), dtype=dtype)
    assert w.shape == (3, 4, 5) and w.dtype == np.dtype(dtype or "float32")


@pytest.mark.parametrize("cls", SEEDED)
def test_seeded_is_reproducible_and_unseeded_is_not(cls):
    a, b = cls(seed=7)((6, 5)), cls(seed=7)((6, 5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, cls(seed=7)((6, 5)))          # same values on every call
    assert not np.array_equal(a, cls(seed=8)((6, 5)))
    init = cls()
    assert not np.array_equal(init((6, 5)), init((6, 5)))          # the process RNG moves on


def test_set_seed_makes_unseeded_reproducible():
    I.set_seed(3)
    a = I.GlorotUniform()((4, 4))
    I.set_seed(3)
    np.testing.assert_array_equal(a, I.GlorotUniform()((4, 4)))
    I.set_seed(None)


@pytest.mark.parametrize("shape", [(5,), (7, 3), (3, 3, 4, 8), (2, 5, 6, 1, 9), ()])
def test_compute_fans_matches_keras(shape):
    keras_or_skip()
    from keras.src.initializers.random_initializers import compute_fans
    assert I.compute_fans(shape) == compute_fans(shape)
    assert I.compute_fans((3, 4, 5), (0, 1), (2,)) == compute_fans((3, 4, 5), (0, 1), (2,))


def test_conv_kernel_fan_counts_receptive_field():
    assert I.compute_fans((3, 3, 4, 8)) == (36, 72)


@pytest.mark.parametrize("cls,scale,mode", [(I.GlorotUniform, 1.0, "fan_avg"), (I.HeUniform, 2.0, "fan_in"),
                                            (I.LecunUniform, 1.0, "fan_in")])
def test_uniform_limits_and_variance(cls, scale, mode):
    shape = (3, 3, 16, 32)
    fan_in, fan_out = I.compute_fans(shape)
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = math.sqrt(3 * scale / fan)
    w = cls(seed=0)(shape)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.var() / (limit ** 2 / 3) - 1) < 0.05


@pytest.mark.parametrize("cls,scale", [(I.GlorotNormal, 1.0), (I.HeNormal, 2.0), (I.LecunNormal, 1.0)])
def test_truncated_normal_scaling(cls, scale):
    shape = (200, 300)
    fan_in, fan_out = I.compute_fans(shape)
    fan = (fan_in + fan_out) / 2 if cls is I.GlorotNormal else fan_in
    w = cls(seed=1)(shape)
    stddev = math.sqrt(scale / fan) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * stddev                     # truncated at two (untruncated) stddevs
    assert abs(w.std() / math.sqrt(scale / fan) - 1) < 0.02   # ... so the variance is scale / fan


def test_random_normal_uniform_truncated_statistics():
    n = I.RandomNormal(mean=1.0, stddev=0.5, seed=0)((400, 400))
    assert abs(n.mean() - 1.0) < 0.01 and abs(n.std() - 0.5) < 0.01
    u = I.RandomUniform(minval=-2, maxval=3, seed=0)((400, 400))
    assert u.min() >= -2 and u.max() < 3 and abs(u.mean() - 0.5) < 0.02
    t = I.TruncatedNormal(mean=0.0, stddev=1.0, seed=0)((400, 400))
    assert np.abs(t).max() <= 2.0 and abs(t.std() - 0.8796) < 0.01


@pytest.mark.parametrize("cls", [I.GlorotUniform, I.HeNormal, I.LecunNormal, I.RandomNormal])
def test_variance_close_to_keras(cls):
    k = keras_or_skip()
    shape = (64, 3, 3, 32)
    mine = cls(seed=0)(shape)
    theirs = np.asarray(getattr(k.initializers, cls.__name__)(seed=0)(shape))
    assert abs(mine.std() / theirs.std() - 1) < 0.03
    assert abs(np.abs(mine).max() / np.abs(theirs).max() - 1) < 0.1


def test_orthogonal():
    w = I.Orthogonal(gain=2.0, seed=0)((6, 4))
    np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(4), atol=1e-5)
    w = I.Orthogonal(seed=0)((2, 3, 8))
    flat = w.reshape(6, 8)
    np.testing.assert_allclose(flat @ flat.T, np.eye(6), atol=1e-5)
    with pytest.raises(ValueError, match="at least two-dimensional"):
        I.Orthogonal()((3,))


def test_constants_and_identity():
    np.testing.assert_array_equal(I.Constant(2.5)((2, 2)), np.full((2, 2), 2.5, "float32"))
    np.testing.assert_array_equal(I.Identity(gain=3.0)((2, 3)), 3.0 * np.eye(2, 3, dtype="float32"))
    np.testing.assert_array_equal(I.Zeros()((3,), "int32"), np.zeros(3, "int32"))
    with pytest.raises(ValueError, match="only be used for 2D matrices"):
        I.Identity()((2, 2, 2))


def test_argument_validation_messages():
    with pytest.raises(ValueError, match="Argument `scale` must be positive float. Received: scale=0"):
        I.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match="Invalid `mode` argument: fan_x"):
        I.VarianceScaling(mode="fan_x")
    with pytest.raises(ValueError, match="Invalid `distribution` argument: poisson"):
        I.VarianceScaling(distribution="poisson")
    with pytest.raises(ValueError, match="`seed` argument should be"):
        I.RandomNormal(seed="x")
    assert I.VarianceScaling(distribution="normal").distribution == "truncated_normal"


def test_get_by_every_keras_name():
    keras_or_skip()
    from keras.src.initializers import ALL_OBJECTS_DICT
    for name, keras_cls in ALL_OBJECTS_DICT.items():
        if keras_cls.__name__ in ("STFT", "Initializer"):
            continue
        assert type(I.get(name)).__name__ == keras_cls.__name__, name


def test_get_forms():
    assert isinstance(I.get("he_normal"), I.HeNormal)
    assert isinstance(I.get(I.Ones), I.Ones)
    fn = lambda shape, dtype=None: np.ones(shape)  # noqa: E731
    assert I.get(fn) is fn
    assert I.get(None) is None
    arr = np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(I.get(arr)((2, 2)), arr.astype("float32"))
    with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 2\)"):
        I.get(arr)((3,))
    with pytest.raises(ValueError, match="Could not interpret initializer identifier: nope"):
        I.get("nope")
    with pytest.raises(ValueError, match="Could not interpret initializer identifier: 3"):
        I.get(3)


@pytest.mark.parametrize("make", [
    lambda m: m.GlorotUniform(seed=3), lambda m: m.HeNormal(), lambda m: m.Zeros(), lambda m: m.Constant(1.5),
    lambda m: m.RandomNormal(mean=1.0, stddev=2.0, seed=4), lambda m: m.RandomUniform(-1, 2),
    lambda m: m.TruncatedNormal(stddev=0.1), lambda m: m.Orthogonal(gain=0.5, seed=2),
    lambda m: m.VarianceScaling(2.0, "fan_out", "uniform", seed=5),
])
def test_serialize_matches_keras_and_round_trips(make):
    k = keras_or_skip()
    mine = make(I)
    assert I.serialize(mine) == k.initializers.serialize(make(k.initializers))
    clone = I.get(I.serialize(mine))
    assert type(clone) is type(mine) and clone.get_config() == mine.get_config()
    # A Keras-written config builds the same Horn initializer.
    assert I.get(k.initializers.serialize(make(k.initializers))).get_config() == mine.get_config()


def test_identity_config_keeps_gain():
    # Keras' Identity has no get_config, so its gain is lost on reload; Horn keeps it.
    assert I.get(I.serialize(I.Identity(2.0))).gain == 2.0

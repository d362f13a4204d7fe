"""``keras.initializers``: weight initializers returning numpy arrays.

The distributions, fan computation (``compute_fans``: a conv kernel's fan is
its receptive field times its channels) and configs are Keras 3's. Random
numbers come from numpy: a seeded initializer builds a fresh
``numpy.random.Generator`` from its seed on every call, so it returns the same
values each time (as a Keras initializer with an int seed does); an unseeded
one draws from one process-wide generator, which :func:`set_seed` can reseed.
The values differ from Keras' for the same seed (different generators);
parity tests copy weights instead.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import numpy as np

from frontend.backend import snake_case, standardize_dtype

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "Identity", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "compute_fans", "get",
           "serialize", "deserialize", "set_seed", "zeros", "ones", "constant", "identity",
           "random_normal", "random_uniform", "truncated_normal", "variance_scaling", "orthogonal",
           "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]

_PROCESS_RNG = np.random.default_rng()


def set_seed(seed: int | None) -> None:
    """Reseeds the generator unseeded initializers draw from (``keras.utils.set_random_seed``)."""
    global _PROCESS_RNG
    _PROCESS_RNG = np.random.default_rng(seed)


def _dtype(dtype) -> np.dtype:
    return np.dtype(standardize_dtype(dtype))


class Initializer:
    """Base class: ``initializer(shape, dtype=None) -> np.ndarray``."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` method.")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.get_config()}>"


class Zeros(Initializer):
    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.zeros(tuple(shape), _dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.ones(tuple(shape), _dtype(dtype))


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None) -> np.ndarray:
        dt = _dtype(dtype)
        return (np.asarray(self.value).astype(dt) * np.ones(tuple(shape), dt)).astype(dt)

    def get_config(self) -> dict:
        value = self.value.tolist() if isinstance(self.value, np.ndarray) else self.value
        return {"value": value}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={tuple(shape)} of rank {len(shape)}.")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Holds the seed; ``_rng()`` is the generator one call draws from."""

    def __init__(self, seed: int | None = None):
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ValueError("`seed` argument should be an instance of `keras.random.SeedGenerator()` "
                             f"or an integer. Received: seed={seed}")
        self.seed = None if seed is None else int(seed)

    def _rng(self) -> np.random.Generator:
        return _PROCESS_RNG if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal samples redrawn until all lie within two standard deviations (Keras' truncation)."""
    z = rng.standard_normal(tuple(shape))
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return self._rng().normal(self.mean, self.stddev, tuple(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return _truncated_normal(self._rng(), shape, self.mean, self.stddev).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return self._rng().uniform(self.minval, self.maxval, tuple(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """(fan_in, fan_out): a dense kernel's rows and columns; a conv kernel
    ``(*window, in, out)`` counts the receptive field times in / out channels."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(math.prod(shape[a] for a in input_axes)),
                int(math.prod(shape[a] for a in output_axes)))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = math.prod(shape[:-2])
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


class VarianceScaling(RandomInitializer):
    """Samples with variance ``scale / fan`` (fan by ``mode``), from ``distribution``."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None, input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        allowed_modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {allowed_modes}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        allowed = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in allowed:
            raise ValueError(f"Invalid `distribution` argument: {distribution}.Please use one of {allowed}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            # 0.8796... is the stddev of a standard normal truncated to [-2, 2].
            values = _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(scale), tuple(shape))
        else:
            limit = math.sqrt(3.0 * scale)
            values = rng.uniform(-limit, limit, tuple(shape))
        return values.astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class _Preset(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by the subclass."""

    _ARGS: tuple[float, str, str]

    def __init__(self, seed: int | None = None, input_axes=None, output_axes=None):
        super().__init__(*self._ARGS, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self) -> dict:
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_Preset):
    """Uniform in ``±sqrt(6 / (fan_in + fan_out))``."""
    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal with stddev ``sqrt(2 / (fan_in + fan_out))``."""
    _ARGS = (1.0, "fan_avg", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform in ``±sqrt(3 / fan_in)``."""
    _ARGS = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal with stddev ``sqrt(1 / fan_in)``."""
    _ARGS = (1.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """Uniform in ``±sqrt(6 / fan_in)``."""
    _ARGS = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated normal with stddev ``sqrt(2 / fan_in)``."""
    _ARGS = (2.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal sample, times ``gain``."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. Received: "
                             f"shape={tuple(shape)} of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))   # makes the decomposition unique (uniformly distributed q)
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(tuple(shape))).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "gain": self.gain}


_CLASSES = [Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
            LecunNormal, Orthogonal]
_BY_NAME: dict[str, type] = {c.__name__: c for c in _CLASSES}
_BY_NAME.update({snake_case(c.__name__): c for c in _CLASSES})
_BY_NAME.update({"IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
                 "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros})


def serialize(initializer: Initializer | Callable | None):
    """Keras' config form: ``{"module", "class_name", "config", "registered_name"}``.

    A plain callable (or None) has no config and is returned as is, so a
    layer's ``get_config`` still round-trips within the process.
    """
    if not isinstance(initializer, Initializer):
        return initializer
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> Initializer:
    from frontend.saving.object_registration import active_custom_objects
    name = config.get("class_name")
    custom = active_custom_objects(custom_objects)
    cls = custom.get(config.get("registered_name")) or custom.get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret initializer identifier: {config}")
    return cls.from_config(config.get("config") or {})


def get(identifier: Any) -> Initializer | Callable | None:
    """An initializer from a name, a config dict, a class, a callable or an array (used as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret initializer identifier: {identifier}")
        return cls()
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _from_array(np.asarray(identifier))
    if inspect.isclass(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier}")


def _from_array(value: np.ndarray) -> Callable:
    def initialize_fn(shape, dtype=None) -> np.ndarray:
        if tuple(shape) != value.shape:
            raise ValueError(f"Expected `shape` to be {value.shape} for direct tensor as initializer. "
                             f"Received shape={tuple(shape)}")
        return value.astype(_dtype(dtype))
    return initialize_fn


# The snake_case names Keras also exports (keras.initializers.glorot_uniform is the class).
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal

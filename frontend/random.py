"""``keras.random``: counter-based random numbers, traced or eager.

Traced, the key is the step's ``rng_key`` graph input ``[seed, counter]`` (the
trainer feeds the seed and the step counter), and every call site gets its own
stream, so a compiled step is reproducible and never recompiles to draw anew.
Eager, a :class:`SeedGenerator` supplies ``[seed, counter]`` and advances its
counter on each draw. Both evaluate the same RANDOM_UNIFORM op.
"""
from __future__ import annotations

import numpy as np

from frontend.ops.core import apply
from frontend.tracing import active_tracer
from ir.attrs import RandomAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.shapes import BATCH

_GLOBAL_SEED = [1337]


class SeedGenerator:
    """Holds a seed and a draw counter (Keras' ``keras.random.SeedGenerator``)."""

    def __init__(self, seed: int | None = None, name: str | None = None):
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2 ** 31))
        if not isinstance(seed, (int, np.integer)):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed!r}")
        self.seed = int(seed)
        self.counter = 0
        self.name = name or "seed_generator"

    def next_key(self) -> np.ndarray:
        key = np.array([self.seed, self.counter], np.int64)
        self.counter += 1
        return key


def set_seed(seed: int) -> None:
    """Seeds unseeded draws (``keras.utils.set_random_seed`` also seeds numpy)."""
    _GLOBAL_SEED[0] = int(seed)
    _DEFAULT.seed, _DEFAULT.counter = int(seed), 0


_DEFAULT = SeedGenerator(_GLOBAL_SEED[0])


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform values in [minval, maxval); ``shape`` may hold None (the batch) when traced."""
    from frontend import ops
    dtype = DType.from_any(dtype or "float32")
    tracer = active_tracer()
    shape = tuple(BATCH if d is None else int(d) for d in shape)
    if tracer is not None:
        key = tracer.rng_key()
        # The stream id separates call sites; the key carries the step's seed and counter.
        u = tracer.emit(Op.RANDOM_UNIFORM, [key], RandomAttrs(shape, dtype, tracer.next_stream()))
    else:
        gen = seed if isinstance(seed, SeedGenerator) else (
            SeedGenerator(seed) if seed is not None else _DEFAULT)
        u = apply(Op.RANDOM_UNIFORM, [gen.next_key()], RandomAttrs(shape, dtype, 0))
    if minval == 0.0 and maxval == 1.0:
        return u
    return ops.add(ops.multiply(u, maxval - minval), minval)


def dropout(inputs, rate: float, noise_shape=None, seed=None):
    """Zeroes each element with probability ``rate`` and scales the rest by 1/(1-rate)."""
    from frontend import ops
    if not 0 <= rate < 1:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value "
                         f"between 0 and 1. Received: rate={rate}")
    shape = tuple(inputs.shape) if noise_shape is None else tuple(
        d if d is not None else s for d, s in zip(noise_shape, inputs.shape))
    keep = ops.greater_equal(uniform(shape, dtype=inputs.dtype, seed=seed), rate)
    return ops.where(keep, ops.divide(inputs, 1.0 - rate), ops.zeros_like(inputs))

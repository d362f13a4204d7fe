"""Counter-based random numbers.

``random_uniform(key)`` with ``key = [seed, counter]`` (int64[2]) gives, for
element ``i`` of call site ``stream``::

    z = mix(key0 ^ mix(key1 + stream * G2)) ; u = mix(z + i * G1)
    value = (u >> 40) * 2**-24          (float32; float64 uses >> 11 and 2**-53)

with ``mix`` the splitmix64 finalizer and all arithmetic modulo 2**64. It is a
pure function, so a training step is reproducible from its seed and step
counter, compiled code and the interpreter agree bit for bit, and no RNG state
has to live anywhere.
"""
from __future__ import annotations

import numpy as np

from ir.attrs import RandomAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import SymDim, TensorType

G1 = 0x9E3779B97F4A7C15
G2 = 0xD1B54A32D192ED03
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB


def mix(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(M1)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(M2)
    return z ^ (z >> np.uint64(31))


def _infer(ts, a: RandomAttrs):
    key = ts[0]
    if key.dtype is not DType.int64 or key.shape != (2,):
        raise TypeError(f"random_uniform expects an i64[2] key [seed, counter], received {key}")
    if not a.dtype.is_floating or a.dtype is DType.float16:
        raise TypeError(f"random_uniform makes float32 or float64, not {a.dtype.name}")
    return (TensorType(a.dtype, a.shape),)


def _reference(arrays, a: RandomAttrs):
    key = np.asarray(arrays[0]).astype(np.int64).view(np.uint64)
    if any(isinstance(d, SymDim) for d in a.shape):
        raise ValueError("random_uniform needs concrete sizes to evaluate")
    n = int(np.prod(a.shape, dtype=np.int64))
    with np.errstate(over="ignore"):
        z = mix(key[0] ^ mix(key[1] + np.uint64(a.stream) * np.uint64(G2)))
        u = mix(z + np.arange(n, dtype=np.uint64) * np.uint64(G1))
    if a.dtype is DType.float32:
        out = (u >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    else:
        out = (u >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (out.reshape(a.shape),)


register(Op.RANDOM_UNIFORM, RandomAttrs, 1, _infer, _reference)

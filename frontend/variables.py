"""Variables: the weights layers own, as live numpy arrays."""
from __future__ import annotations

import numpy as np

from frontend.backend import standardize_dtype
from frontend.tensors import _ArithmeticMixin
from runtime import versions


class Variable(_ArithmeticMixin):
    """A named, contiguous numpy array that compiled code reads in place.

    ``assign`` writes into the existing array, so executables that bound it
    see the new value without recompiling.
    """

    def __init__(self, value, *, name: str, trainable: bool = True, dtype=None, path: str | None = None):
        dtype = standardize_dtype(dtype if dtype is not None else getattr(value, "dtype", None))
        self._array = np.array(value, dtype=dtype, copy=True, order="C")
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self._version = 0   # bumped on every write (runtime.versions): hoisted prologues rerun on it

    # The graph binding protocol (ir.graph.ParamBinding): the live array, no copy.
    def numpy(self) -> np.ndarray:
        return self._array

    @property
    def value(self) -> np.ndarray:
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape

    @property
    def dtype(self) -> str:
        return self._array.dtype.name

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def assign(self, value) -> None:
        """Writes ``value`` into the array; under tracing, records a graph update instead."""
        from frontend.tensors import TracedTensor
        if isinstance(value, TracedTensor):
            from frontend.ops.core import cast
            value.tracer.assign(self, cast(value, self.dtype))
            return
        value = np.asarray(value)
        if value.shape != self._array.shape:
            raise ValueError(f"Cannot assign to variable {self.path}: expected shape {self.shape}, "
                             f"received shape {value.shape}")
        self._array[...] = value
        self._bump_version()

    def _bump_version(self) -> None:
        """The array changed (``assign``, or a compiled step wrote it in place)."""
        self._version += 1
        versions.EPOCH[0] += 1

    def assign_add(self, delta) -> None:
        from frontend import ops
        self.assign(ops.add(self, delta))

    def assign_sub(self, delta) -> None:
        from frontend import ops
        self.assign(ops.subtract(self, delta))

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"

"""Element types of IR tensors.

One enum, each member knowing its numpy dtype and its byte size, so the
interpreter, the codegen and the runtime agree on a single table.
"""
from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """Element type of a tensor. The value is the short name used by the printer."""

    float16 = "f16"
    float32 = "f32"
    float64 = "f64"
    int8 = "i8"
    uint8 = "u8"
    int32 = "i32"
    int64 = "i64"
    bool = "bool"

    @property
    def numpy(self) -> np.dtype:
        return _TO_NUMPY[self]

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_floating(self) -> bool:
        return self in (DType.float16, DType.float32, DType.float64)

    @property
    def is_integer(self) -> bool:
        return self in (DType.int8, DType.uint8, DType.int32, DType.int64)

    @property
    def is_signed(self) -> bool:
        return self in (DType.int8, DType.int32, DType.int64) or self.is_floating

    def __str__(self) -> str:
        return self.value

    @staticmethod
    def from_any(x: object) -> "DType":
        """Accepts a DType, a numpy dtype, a numpy scalar type or a name such as "float32"."""
        if isinstance(x, DType):
            return x
        if isinstance(x, str):
            if x in _BY_SHORT:
                return _BY_SHORT[x]
            if x in DType.__members__:
                return DType[x]
        try:
            npd = np.dtype(x)  # type: ignore[call-overload]
        except TypeError as exc:
            raise TypeError(f"Unsupported dtype {x!r}. Expected one of: "
                            f"{', '.join(DType.__members__)}.") from exc
        for d, n in _TO_NUMPY.items():
            if n == npd:
                return d
        raise TypeError(f"Unsupported dtype {x!r}. Expected one of: {', '.join(DType.__members__)}.")


_TO_NUMPY = {
    DType.float16: np.dtype(np.float16),
    DType.float32: np.dtype(np.float32),
    DType.float64: np.dtype(np.float64),
    DType.int8: np.dtype(np.int8),
    DType.uint8: np.dtype(np.uint8),
    DType.int32: np.dtype(np.int32),
    DType.int64: np.dtype(np.int64),
    DType.bool: np.dtype(np.bool_),
}
_BY_SHORT = {d.value: d for d in DType}

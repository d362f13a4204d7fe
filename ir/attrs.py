"""Typed, frozen attributes of IR nodes: one dataclass per op family.

Attributes are hashable and compare by value, so CSE and golden printer tests
can rely on them. Axes and paddings are stored already normalized
(non-negative axes, explicit (low, high) pads), so no consumer re-derives them.
"""
from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

import numpy as np

from ir.dtypes import DType
from ir.shapes import Shape, normalize_shape


@dataclass(frozen=True, slots=True)
class NoAttrs:
    pass


@dataclass(frozen=True, slots=True)
class CastAttrs:
    dtype: DType


@dataclass(frozen=True, slots=True)
class ReduceAttrs:
    axes: tuple[int, ...]          # sorted, non-negative, unique
    keepdims: bool = False


@dataclass(frozen=True, slots=True)
class ArgReduceAttrs:
    axis: int                      # non-negative
    keepdims: bool = False


@dataclass(frozen=True, slots=True)
class ReshapeAttrs:
    shape: Shape                   # fully specified: no -1; may hold SymDims

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", normalize_shape(self.shape))


@dataclass(frozen=True, slots=True)
class TransposeAttrs:
    perm: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BroadcastAttrs:
    shape: Shape

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", normalize_shape(self.shape))


@dataclass(frozen=True, slots=True)
class SliceAttrs:
    """Per axis ``start``, ``stop`` and ``step`` with Python slice meaning.

    Normalized by the frontend: for a static dim, ``slice.indices`` has been
    applied (a stop of -1 with a negative step is stored as ``None``). An axis
    of symbolic size can only be taken whole: (0, None, 1).
    """

    starts: tuple[int, ...]
    stops: tuple[int | None, ...]
    steps: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ConcatAttrs:
    axis: int


@dataclass(frozen=True, slots=True)
class PadAttrs:
    pads: tuple[tuple[int, int], ...]   # (low, high) per axis, both >= 0
    value: float = 0.0


@dataclass(frozen=True, slots=True)
class GatherAttrs:
    """``numpy.take(data, indices, axis)``; indices outside the range are clamped."""

    axis: int


@dataclass(frozen=True, slots=True)
class ScatterAddAttrs:
    """The transpose of ``GatherAttrs(axis)``: the result has ``size`` entries along ``axis``.

    ``updates`` has ``indices``' dims in place of that axis; entry ``j`` of the
    indices adds its slice of ``updates`` at ``clip(indices[j], 0, size - 1)``
    (gather's clamping, so scatter_add is exactly gather's adjoint).
    """

    axis: int
    size: int


@dataclass(frozen=True, slots=True)
class ConvAttrs:
    """N-d convolution, channels last.

    input ``(B, *spatial, C)``, kernel ``(*window, C // groups, O)`` (Keras'
    layout), output ``(B, *out_spatial, O)``. ``lhs_dilation`` inserts
    ``d - 1`` zeros between input elements (transposed convolution and the
    gradient with respect to the input use it).
    """

    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    lhs_dilation: tuple[int, ...]
    groups: int = 1


class PoolKind(enum.Enum):
    MAX = "max"
    AVG = "avg"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PoolAttrs:
    """Windows over the spatial dims of a ``(B, *spatial, C)`` tensor.

    Padded positions never win a max and are not counted by an average
    (Keras' semantics for ``padding="same"``).
    """

    kind: PoolKind
    window: tuple[int, ...]
    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class RandomAttrs:
    """Uniform [0, 1) values of ``dtype`` and ``shape`` from a key operand.

    ``stream`` separates call sites that share a key (two Dropout layers in one
    step draw independent masks).
    """

    shape: Shape
    dtype: DType
    stream: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", normalize_shape(self.shape))


@dataclass(frozen=True, eq=False, slots=True)
class ConstantAttrs:
    """A literal array. Compared and hashed by dtype, shape and bytes."""

    value: np.ndarray
    _digest: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # asarray(order="C"), not ascontiguousarray: the latter turns a 0-d scalar into shape (1,).
        arr = np.asarray(self.value, order="C")
        arr.setflags(write=False)
        object.__setattr__(self, "value", arr)
        h = hashlib.sha1(arr.tobytes())
        h.update(str((arr.dtype.str, arr.shape)).encode())
        object.__setattr__(self, "_digest", h.hexdigest())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConstantAttrs) and self._digest == other._digest

    def __hash__(self) -> int:
        return hash(self._digest)

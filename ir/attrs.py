"""Typed, frozen attributes of IR nodes: one dataclass per op family.

Attributes are hashable and compare by value, so CSE and golden printer tests
can rely on them. Axes and paddings are stored already normalized
(non-negative axes, explicit (low, high) pads), so no consumer re-derives them.
"""
from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ir.dtypes import DType
from ir.shapes import Shape, normalize_shape

if TYPE_CHECKING:   # ir.graph imports this module
    from ir.graph import Graph


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
    of symbolic size can only be taken whole, (0, None, 1), or whole and reversed,
    (-1, None, -1): Python's ``[-1::-1]``, the one negative start the IR has (a
    reversed symbolic time axis, e.g. ``go_backwards`` with ``return_sequences``).
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


class FusionKind(enum.Enum):
    """What a FUSED node's body is, which decides how the CPU lowering loops over it.

    ELEMENTWISE: elementwise ops (and broadcast_to of operands) whose results all have
    one shape, the iteration shape. REDUCTION: one reduction whose operand is computed by
    an elementwise prologue, optionally followed by an elementwise tail on its result.
    MATMUL_EPILOGUE / CONV_EPILOGUE: one matmul or conv followed by an elementwise tail
    over its result (bias, activation, residual).
    """

    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    MATMUL_EPILOGUE = "matmul_epilogue"
    CONV_EPILOGUE = "conv_epilogue"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, eq=False, slots=True)
class FusedAttrs:
    """A kernel group: ``body``'s inputs are the node's operands in order, its outputs the node's.

    Compared and hashed by the identity of ``body`` (two groups are equal only when they
    share the body object), so CSE never merges groups by accident; passes build FUSED
    nodes after everything that would want value equality has run.
    """

    body: "Graph"
    kind: FusionKind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FusedAttrs) and self.body is other.body and self.kind is other.kind

    def __hash__(self) -> int:
        return hash((id(self.body), self.kind))


@dataclass(frozen=True, eq=False, slots=True)
class ScanAttrs:
    """A loop over the time axis of batch-major sequences (``Op.SCAN``).

    Operands: ``num_carry`` initial carries, ``num_sequences`` sequences of shape
    ``(batch, T, ...)`` (the time axis is always axis 1, Keras' batch-major layout; at
    least one, they fix ``T``), then ``num_invariants`` loop-invariant values (weights).
    ``body`` inputs: the carries, one ``(batch, ...)`` slice per sequence (axis 1 removed),
    the invariants; ``body`` outputs: the new carries, then per-step outputs (rank >= 1,
    batch first). Results: the final carries, then each per-step output stacked to
    ``(batch, T, ...)``, where ``[:, t]`` is the output of the step that consumed
    ``sequences[:, t]``, also when ``reverse`` walks ``t = T-1 ... 0``.

    ``T`` may be symbolic, so one compiled loop serves every length. ``T = 0`` is
    defined (carries pass through, stacked outputs are empty); Keras' layers require
    ``T >= 1`` and check that themselves. Compared and hashed by value: two bodies
    are equal when their printed text is (names included, so equality is
    conservative), which lets CSE merge a loop traced twice and a parsed graph
    compare equal to the one printed.
    """

    body: "Graph"
    num_carry: int
    num_sequences: int
    num_invariants: int = 0
    reverse: bool = False

    def _key(self) -> tuple:
        return (self.num_carry, self.num_sequences, self.num_invariants, self.reverse)

    def _body_text(self) -> str:
        from ir.printer import print_graph   # the printer imports this module
        return print_graph(self.body, full_constants=True)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ScanAttrs) and self._key() == other._key()
                and (self.body is other.body or self._body_text() == other._body_text()))

    def __hash__(self) -> int:
        return hash((self._key(), self._body_text()))

"""Small helpers on the values importers pass around.

A value is either an ``np.ndarray`` (known while importing: initializers that
are not weights, Constant nodes, and anything computed only from those) or a
:class:`~frontend.tensors.TracedTensor` (known when the compiled code runs).
Horn's ops take both, computing eagerly on arrays, so importers are written
once and shape arithmetic (Shape -> Gather -> Concat -> Reshape) folds away.
"""
from __future__ import annotations

import numpy as np

from frontend.ops.core import Tensor, apply, cast as core_cast
from frontend.ops.util import dtype as _dtype, ir_shape
from frontend.tensors import TracedTensor
from ir.dtypes import DType
from ir.opcodes import Op
from ir.shapes import BATCH, SymDim


def shape(x: Tensor) -> tuple:
    """IR shape: ints, and SymDims for run-time sizes."""
    return tuple(ir_shape(x))


def rank(x: Tensor) -> int:
    return len(shape(x))


def dtype(x: Tensor) -> DType:
    return _dtype(x)


def is_static(x: Tensor) -> bool:
    return not isinstance(x, TracedTensor)


def const(value, like: Tensor | DType) -> np.ndarray:
    """``value`` as an array of ``like``'s dtype (a tensor's, or a DType)."""
    d = like if isinstance(like, DType) else dtype(like)
    return np.asarray(value, dtype=d.numpy)


def cast(x: Tensor, to: DType) -> Tensor:
    return x if dtype(x) == to else core_cast(x, to)


def unary(op: Op, x: Tensor) -> Tensor:
    return apply(op, [x])


def binary(op: Op, a: Tensor, b: Tensor) -> Tensor:
    return apply(op, [a, b])


# The core ops importers compose most, named so formulas read as formulas. Operands must
# already share a dtype: unlike keras.ops, nothing here promotes (ONNX does not either).
def add(a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.ADD, [a, b])


def sub(a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.SUB, [a, b])


def mul(a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.MUL, [a, b])


def div(a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.DIV, [a, b])


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.MAXIMUM, [a, b])


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.MINIMUM, [a, b])


def where(condition: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.SELECT, [condition, a, b])


def normalize_axis(axis: int, r: int, where: str) -> int:
    """ONNX axes may be negative (counted from the end)."""
    axis = int(axis)
    if not -r <= axis < r:
        raise ValueError(f"{where}: axis {axis} is out of range for a tensor of rank {r}")
    return axis % r if r else 0


# Shape of a tensor with the symbolic batch gives an int64 array that holds this value where
# the batch size goes. Only structural ops may carry it (Gather, Concat, Unsqueeze...: the
# importers' ``batch_operands``), and only Reshape and Expand turn it back into the batch dim,
# so the run-time batch size is never computed with as if it were a number.
BATCH_SIZE = np.int64(-(2 ** 62) - 7)


def holds_batch_size(x) -> bool:
    """Whether ``x`` is an array known at import that stands for (some of) a run-time shape."""
    # Eager ops may hand back numpy scalars (np.take with a 0-d index), not 0-d arrays.
    return (isinstance(x, (np.ndarray, np.generic)) and x.dtype == np.int64
            and bool((np.asarray(x) == BATCH_SIZE).any()))


def dims_with_batch(values) -> list:
    """Shape entries from an int array, with the batch placeholder as the batch dim ``N``."""
    return [BATCH if int(v) == BATCH_SIZE else int(v) for v in np.asarray(values).reshape(-1)]


def static_size(d, what: str) -> int:
    if isinstance(d, SymDim):
        raise ValueError(f"{what} needs a static size, but that dimension is the symbolic batch {d}")
    return int(d)

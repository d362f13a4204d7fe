"""Helpers the op modules share: operands as tensors, IR shapes with symbolic
dims, axis normalization, and ``-1`` resolution for reshapes.

Shapes here are IR shapes: a TracedTensor's dims may be :class:`SymDim`
(the batch ``N``); an eager array's dims are ints. Everything that builds a
new shape keeps SymDims where they are, so a traced graph stays batch-generic.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from frontend.backend import floatx
from frontend.ops.core import Tensor, cast, convert, dtype_of, find_tracer
from frontend.tensors import TracedTensor
from ir.dtypes import DType
from ir.shapes import BATCH, SymDim, format_shape


def tensors(*xs: Tensor) -> list[Tensor]:
    """Operands as TracedTensors (while tracing) or ndarrays, dtypes unchanged."""
    tracer = find_tracer(xs)
    return [convert(x, tracer) for x in xs]


def tensor(x: Tensor) -> Tensor:
    return tensors(x)[0]


def ir_shape(x: Tensor) -> tuple:
    """The IR shape of a converted operand: SymDims for a TracedTensor's symbolic dims."""
    if isinstance(x, TracedTensor):
        return tuple(x.value.shape)
    return tuple(np.shape(x))


def dtype(x: Tensor) -> DType:
    d = dtype_of(x)
    return d if d is not None else dtype_of(np.asarray(x))


def float_dtype() -> DType:
    return DType.from_any(floatx())


def to_float(x: Tensor) -> Tensor:
    """``x`` in a floating dtype: ints and bools become floatx, as Keras does for exp, sqrt..."""
    x = tensor(x)
    return x if dtype(x).is_floating else cast(x, float_dtype())


def normalize_axis(axis: int, rank: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"An axis must be an integer. Received: axis={axis!r}")
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of bounds for a tensor of rank {rank}")
    return int(axis) % rank if rank else 0


def normalize_axes(axis: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Sorted, unique, non-negative axes; ``None`` means every axis (the IR's ReduceAttrs form)."""
    if axis is None:
        return tuple(range(rank))
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = sorted({normalize_axis(a, rank) for a in axes})
    if len(out) != len(axes):
        raise ValueError(f"Repeated axis in axis={axis}")
    return tuple(out)


def static_product(dims: Iterable) -> int | SymDim:
    """Product of dims; one SymDim times static 1s is that SymDim; anything else symbolic is an error.

    The IR has no dims like ``N*3``, so merging a symbolic dim with a static
    one > 1 (or two symbolic dims) cannot be expressed.
    """
    dims = list(dims)
    syms = [d for d in dims if isinstance(d, SymDim)]
    rest = math.prod(d for d in dims if not isinstance(d, SymDim))
    if not syms:
        return rest
    if len(syms) == 1 and rest == 1:
        return syms[0]
    raise ValueError(f"Cannot merge the dims {format_shape(tuple(dims))} into one: the result would "
                     "mix the symbolic batch with other dims. Keep the batch axis separate.")


def resolve_shape(in_shape: tuple, new_shape: Sequence) -> tuple:
    """``new_shape`` with ``-1`` resolved against ``in_shape``; ``None`` stands for the batch.

    Reshaping ``(N, 28, 28)`` to ``(-1, 784)`` gives ``(N, 784)``: the element
    counts are products of a coefficient and symbols, and ``-1`` takes what
    is left of both.
    """
    new = [BATCH if d is None else d for d in new_shape]
    for d in new:
        if not isinstance(d, SymDim) and (not isinstance(d, (int, np.integer)) or d < -1):
            raise ValueError("Each dimension in `newshape` must be a non-negative integer, or `-1` for "
                             f"a single unknown dimension. Received: newshape={tuple(new_shape)}.")
    if sum(1 for d in new if not isinstance(d, SymDim) and d == -1) > 1:
        raise ValueError("There must be at most one unknown dimension (-1) in `newshape`. "
                         f"Received: newshape={tuple(new_shape)}.")
    in_coef = math.prod(d for d in in_shape if not isinstance(d, SymDim))
    in_syms = sorted(d.name for d in in_shape if isinstance(d, SymDim))
    known = [d for d in new if isinstance(d, SymDim) or d != -1]
    out_coef = math.prod(d for d in known if not isinstance(d, SymDim))
    out_syms = sorted(d.name for d in known if isinstance(d, SymDim))
    if len(known) == len(new):
        if (in_coef, in_syms) != (out_coef, out_syms):
            raise ValueError("The total size of the tensor must be unchanged. Received: input_shape="
                             f"{format_shape(in_shape, True)}, newshape={_fmt(new_shape)}")
        return tuple(new)
    left_syms = list(in_syms)
    for s in out_syms:
        if s not in left_syms:
            raise ValueError(f"Cannot reshape {format_shape(in_shape, True)} to {_fmt(new_shape)}: "
                             "the output's symbolic dim does not come from the input")
        left_syms.remove(s)
    if out_coef == 0 or in_coef % out_coef:
        raise ValueError("The total size of the tensor must be unchanged. Received: input_shape="
                         f"{format_shape(in_shape, True)}, newshape={_fmt(new_shape)}")
    if len(left_syms) > 1 or (left_syms and in_coef // out_coef != 1):
        raise ValueError(f"Cannot reshape {format_shape(in_shape, True)} to {_fmt(new_shape)}: the -1 "
                         f"dimension would be the symbolic batch times {in_coef // out_coef}, which a "
                         "batch-generic graph cannot express. Keep the batch axis separate, e.g. "
                         "reshape to (-1, ...) with the other dims given.")
    fill: int | SymDim = SymDim(left_syms[0]) if left_syms else in_coef // out_coef
    return tuple(fill if (not isinstance(d, SymDim) and d == -1) else d for d in new)


def _fmt(shape: Sequence) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def static_dim(d, what: str) -> int:
    """``d`` when static; a clear error when an op needs a size that is only known at run time."""
    if isinstance(d, SymDim):
        which = "the symbolic batch" if d == BATCH else "a symbolic length (declared None)"
        raise ValueError(f"{what} needs a static size, but that dimension is {which} "
                         f"({d}); it is known only at run time.")
    return int(d)

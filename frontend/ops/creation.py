"""Creating and converting tensors: ``zeros``/``ones``/``full``/``arange``/
``eye`` (eager numpy: their results are constants), the ``*_like`` family,
``convert_to_tensor``, ``convert_to_numpy``, ``shape``, ``ndim``, ``size``.

``*_like`` of a traced tensor with a symbolic batch cannot be a constant (its
size is unknown until run time), so it is ``select(True, value, x)``: an
elementwise op whose broadcast result takes ``x``'s shape, batch included.
"""
from __future__ import annotations

import math

import numpy as np

from frontend.backend import floatx, standardize_dtype
from frontend.ops import core
from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.util import dtype as dtype_of, ir_shape, tensor
from frontend.tensors import KerasTensor, TracedTensor, is_symbolic
from frontend.variables import Variable
from ir.dtypes import DType
from ir.opcodes import Op
from ir.shapes import is_static

__all__ = ["zeros", "ones", "full", "empty", "arange", "eye", "identity", "zeros_like", "ones_like",
           "full_like", "empty_like", "convert_to_tensor", "convert_to_numpy", "shape", "ndim", "size",
           "is_tensor", "dtype"]


def _np_dtype(d, default: str) -> np.dtype:
    return np.dtype(standardize_dtype(d) if d is not None else default)


def zeros(shape, dtype=None) -> np.ndarray:
    return np.zeros(shape, _np_dtype(dtype, floatx()))


def ones(shape, dtype=None) -> np.ndarray:
    return np.ones(shape, _np_dtype(dtype, floatx()))


def full(shape, fill_value, dtype=None) -> np.ndarray:
    return np.full(shape, fill_value, _np_dtype(dtype, floatx()))


def empty(shape, dtype=None) -> np.ndarray:
    """Zeros: uninitialized memory would make eager runs irreproducible for no gain."""
    return zeros(shape, dtype)


def arange(start, stop=None, step=None, dtype=None) -> np.ndarray:
    """int32 for integer arguments, floatx when any is a float (Keras' defaults)."""
    args = [a for a in (start, stop, step) if a is not None]
    default = floatx() if any(isinstance(a, float) for a in args) else "int32"
    return np.arange(start, stop, 1 if step is None else step).astype(_np_dtype(dtype, default))


def eye(N: int, M: int | None = None, k: int = 0, dtype=None) -> np.ndarray:
    return np.eye(N, M, k, dtype=_np_dtype(dtype, floatx()))


def identity(n: int, dtype=None) -> np.ndarray:
    return eye(n, dtype=dtype)


@symbolic
def full_like(x: Tensor, fill_value, dtype=None) -> Tensor:
    """A tensor of ``x``'s shape filled with ``fill_value``, in ``dtype`` or ``x``'s dtype."""
    x = tensor(x)
    target = DType.from_any(standardize_dtype(dtype)) if dtype is not None else dtype_of(x)
    if not isinstance(x, TracedTensor):
        return np.full(np.shape(x), fill_value, target.numpy)
    if is_static(ir_shape(x)):
        return x.tracer.constant(np.full(ir_shape(x), fill_value, target.numpy))
    (value, like), _ = prepare(fill_value, core.cast(x, target), dtype=target)
    return apply(Op.SELECT, [np.array(True), value, like])


@symbolic
def zeros_like(x: Tensor, dtype=None) -> Tensor:
    return full_like(x, 0, dtype)


@symbolic
def ones_like(x: Tensor, dtype=None) -> Tensor:
    return full_like(x, 1, dtype)


empty_like = zeros_like


def convert_to_tensor(x, dtype=None, sparse=None) -> Tensor:
    """Arrays for values (Python floats -> floatx, ints -> int32); symbolic tensors pass through."""
    if is_symbolic(x):
        from frontend.ops.elementwise import cast
        return x if dtype is None else cast(x, dtype)
    if isinstance(x, Variable):
        # While a model is traced the Variable is a graph parameter, not a frozen copy.
        t = tensor(x)
        return t if dtype is None else core.cast(t, DType.from_any(standardize_dtype(dtype)))
    if dtype is not None:
        return np.asarray(x, dtype=standardize_dtype(dtype))
    arr = np.asarray(x)
    if not isinstance(x, (np.ndarray, np.generic)):
        if arr.dtype == np.float64:
            arr = arr.astype(floatx())
        elif arr.dtype == np.int64:
            arr = arr.astype(np.int32)
    return arr


def convert_to_numpy(x) -> np.ndarray:
    if is_symbolic(x):
        raise ValueError("A symbolic tensor has no value to convert to numpy: it only gets one when "
                         "the compiled model runs. Call the model on arrays instead.")
    return np.array(x.numpy() if isinstance(x, Variable) else x)


def shape(x) -> tuple:
    """The shape as a tuple, ``None`` for the symbolic batch (as Keras' symbolic shapes)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def ndim(x) -> int:
    return len(shape(x))


def size(x):
    """Element count, or None when a dim is symbolic."""
    s = shape(x)
    return None if None in s else math.prod(s)


def is_tensor(x) -> bool:
    return isinstance(x, (np.ndarray, Variable, KerasTensor, TracedTensor))


def dtype(x) -> str:
    """The standardized dtype name of ``x``."""
    return standardize_dtype(x.dtype if hasattr(x, "dtype") else np.asarray(convert_to_tensor(x)).dtype)

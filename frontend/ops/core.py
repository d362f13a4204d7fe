"""The one door every ``horn.ops`` function goes through.

``apply(op, operands, attrs)`` emits an IR node when any operand is a
TracedTensor (or a Variable while a tracer is active) and otherwise computes
the op eagerly with its reference implementation, so eager and compiled
results share one definition. ``symbolic`` wraps a public op function so that
calling it on KerasTensors (functional model construction) records it as a
layer in the model, as Keras 3 does.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from frontend.backend import floatx
from frontend.tensors import KerasTensor, TracedTensor
from frontend.tracing import active_tracer
from frontend.variables import Variable
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import evaluate

Tensor = Any  # np.ndarray | TracedTensor | KerasTensor | Variable | python scalar

_PROMOTION_ORDER = [DType.bool, DType.uint8, DType.int8, DType.int32, DType.int64,
                    DType.float16, DType.float32, DType.float64]


def dtype_of(x: Tensor) -> DType | None:
    """The dtype of a tensor-like, or None for a Python scalar (weakly typed, as in Keras)."""
    if isinstance(x, TracedTensor):
        return x.value.dtype
    if isinstance(x, (Variable, np.ndarray, np.generic)):
        return DType.from_any(x.dtype)
    if isinstance(x, (bool, int, float)):
        return None
    return DType.from_any(np.asarray(x).dtype) if not isinstance(x, (list, tuple)) else None


def result_dtype(*xs: Tensor) -> DType:
    """Keras-like promotion: Python scalars adopt the tensors' dtype; floats win over ints."""
    dts = [d for d in (dtype_of(x) for x in xs) if d is not None]
    if not dts:
        if any(isinstance(x, float) for x in xs) or any(
                isinstance(x, (list, tuple)) and np.asarray(x).dtype.kind == "f" for x in xs):
            return DType.from_any(floatx())
        if all(isinstance(x, bool) for x in xs):
            return DType.bool
        return DType.int32
    best = max(dts, key=_PROMOTION_ORDER.index)
    if not best.is_floating and any(isinstance(x, float) for x in xs):
        return DType.from_any(floatx())
    if best is DType.bool and any(isinstance(x, int) and not isinstance(x, bool) for x in xs):
        return DType.int32   # a Python int does not fit a bool tensor's dtype (Keras: int32)
    return best


def find_tracer(xs: Sequence[Tensor]):
    tracer = None
    for x in xs:
        if isinstance(x, TracedTensor):
            # A scan body's tracer nests in the enclosing one: the innermost wins, and
            # convert() captures the outer operands as body inputs.
            if tracer is not None and x.tracer is not tracer and not tracer.is_ancestor_of(x.tracer):
                if x.tracer.is_ancestor_of(tracer):
                    continue
                raise ValueError("Operands come from two different traced graphs.")
            tracer = x.tracer
    if tracer is None and any(isinstance(x, Variable) for x in xs):
        tracer = active_tracer()
    return tracer


def convert(x: Tensor, tracer, dtype: DType | None = None) -> Tensor:
    """Operand ``x`` as a TracedTensor (tracing) or ndarray (eager), cast to ``dtype`` if given."""
    if isinstance(x, TracedTensor):
        if tracer is not None and x.tracer is not tracer:
            x = tracer.capture(x)        # a value of an enclosing trace read in a scan body
        return cast(x, dtype) if dtype is not None and x.value.dtype != dtype else x
    if isinstance(x, Variable):
        x = tracer.param(x) if tracer is not None else x.numpy()
        return convert(x, tracer, dtype)
    if isinstance(x, KerasTensor):
        raise TypeError("A KerasTensor reached an eager op; wrap the op with `symbolic`.")
    arr = np.asarray(x, dtype=None if dtype is None else dtype.numpy)
    if dtype is None and arr.dtype == np.float64 and not isinstance(x, np.ndarray):
        arr = arr.astype(floatx())
    return tracer.constant(arr) if tracer is not None else arr


def apply(op: Op, operands: Sequence[Tensor], attrs: Any = None) -> Tensor:
    """Emits or evaluates ``op``. Operands must already have the dtypes the op expects."""
    tracer = find_tracer(operands)
    xs = [convert(x, tracer) for x in operands]
    if tracer is not None:
        return tracer.emit(op, xs, attrs)
    from ir.attrs import NoAttrs
    return evaluate(op, tuple(xs), NoAttrs() if attrs is None else attrs)[0]


def cast(x: Tensor, dtype: DType | str) -> Tensor:
    from ir.attrs import CastAttrs
    dtype = DType.from_any(dtype)
    if dtype_of(x) == dtype:
        return x
    if isinstance(x, TracedTensor):
        return x.tracer.emit(Op.CAST, [x], CastAttrs(dtype))
    tracer = find_tracer([x])
    return apply(Op.CAST, [convert(x, tracer)], CastAttrs(dtype))


def prepare(*xs: Tensor, dtype: DType | None = None) -> tuple[list[Tensor], DType]:
    """Converts operands to one common dtype (or ``dtype``), ready for ``apply``."""
    target = dtype or result_dtype(*xs)
    tracer = find_tracer(xs)
    return [convert(x, tracer, target) for x in xs], target


def is_keras_tensor_tree(args: Any) -> bool:
    if isinstance(args, KerasTensor):
        return True
    if isinstance(args, (list, tuple)):
        return any(is_keras_tensor_tree(a) for a in args)
    if isinstance(args, dict):
        return any(is_keras_tensor_tree(a) for a in args.values())
    return False


def symbolic(fn: Callable) -> Callable:
    """Lets ``fn`` take KerasTensors: the call becomes an op layer in the functional model."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if is_keras_tensor_tree(args) or is_keras_tensor_tree(kwargs):
            from frontend.layers.op_layer import OpLayer
            return OpLayer(fn, args, kwargs)()
        return fn(*args, **kwargs)
    return wrapper

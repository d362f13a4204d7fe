"""Elementwise ``keras.ops``: arithmetic, math functions, comparisons, logic,
``where``, ``clip`` and ``cast``, each lowered to the core elementwise ops.

Dtype rules follow Keras 3: operands are promoted to one dtype (Python
scalars adopt the tensor's), functions defined on reals only (exp, sqrt,
divide, floor...) turn integer inputs into floatx, and the bool forms of
add / multiply / maximum / minimum are the logical ones, as in numpy.
"""
from __future__ import annotations

import math

import numpy as np

from frontend.ops import core
from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.util import dtype, float_dtype, tensor, to_float
from ir.dtypes import DType
from ir.opcodes import Op

__all__ = [
    "add", "subtract", "multiply", "divide", "true_divide", "divide_no_nan", "floor_divide", "mod",
    "power", "maximum", "minimum", "negative", "abs", "absolute", "square", "sqrt", "rsqrt", "exp",
    "exp2", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "tanh", "sigmoid", "erf",
    "floor", "ceil", "round", "sign", "reciprocal", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "logical_not", "logical_xor",
    "isnan", "isinf", "isfinite", "where", "clip", "cast",
]


def _float_unary(op: Op, x: Tensor) -> Tensor:
    return apply(op, [to_float(x)])


def _binary(op: Op, x1: Tensor, x2: Tensor, bool_op: Op | None = None) -> Tensor:
    (a, b), dt = prepare(x1, x2)
    if dt is DType.bool and bool_op is not None:
        return apply(bool_op, [a, b])
    if dt is DType.bool:   # numpy's numeric ops on bools count them as 0/1
        (a, b), dt = prepare(a, b, dtype=DType.int32)
    return apply(op, [a, b])


# -- arithmetic ---------------------------------------------------------------
@symbolic
def add(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 + x2`` with broadcasting (logical or for two bools)."""
    return _binary(Op.ADD, x1, x2, Op.LOGICAL_OR)


@symbolic
def subtract(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 - x2`` with broadcasting."""
    return _binary(Op.SUB, x1, x2)


@symbolic
def multiply(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 * x2`` with broadcasting (logical and for two bools)."""
    return _binary(Op.MUL, x1, x2, Op.LOGICAL_AND)


@symbolic
def divide(x1: Tensor, x2: Tensor) -> Tensor:
    """True division; integer operands give floatx, as Keras."""
    (a, b), dt = prepare(x1, x2)
    if not dt.is_floating:
        (a, b), dt = prepare(a, b, dtype=float_dtype())
    return apply(Op.DIV, [a, b])


true_divide = divide


@symbolic
def divide_no_nan(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 / x2``, but 0 where ``x2 == 0`` (integer operands give floatx, as Keras).

    The divisor is swapped for 1 where it is 0 before dividing, so the branch
    that the select drops is finite: its gradient is 0, not ``0 * inf = nan``.
    """
    (a, b), dt = prepare(x1, x2)
    if not dt.is_floating:
        (a, b), dt = prepare(a, b, dtype=float_dtype())
    (zero, one), _ = prepare(0.0, 1.0, dtype=dt)
    is_zero = apply(Op.EQUAL, [b, zero])
    safe = apply(Op.DIV, [a, apply(Op.SELECT, [is_zero, one, b])])
    return apply(Op.SELECT, [is_zero, zero, safe])


@symbolic
def floor_divide(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 // x2``: floor of the quotient, in the operands' dtype."""
    (a, b), dt = prepare(x1, x2)
    if dt.is_floating:
        return apply(Op.FLOOR, [apply(Op.DIV, [a, b])])
    # a - mod(a, b) is an exact multiple of b, so the float64 quotient is exact for int32.
    exact = apply(Op.SUB, [a, apply(Op.MOD, [a, b])])
    q = apply(Op.DIV, [core.cast(exact, DType.float64), core.cast(b, DType.float64)])
    return core.cast(q, dt)


@symbolic
def mod(x1: Tensor, x2: Tensor) -> Tensor:
    """Floor modulo: the result takes the divisor's sign, as numpy."""
    return _binary(Op.MOD, x1, x2)


@symbolic
def power(x1: Tensor, x2: Tensor) -> Tensor:
    """``x1 ** x2``."""
    return _binary(Op.POW, x1, x2)


@symbolic
def maximum(x1: Tensor, x2: Tensor) -> Tensor:
    return _binary(Op.MAXIMUM, x1, x2, Op.LOGICAL_OR)


@symbolic
def minimum(x1: Tensor, x2: Tensor) -> Tensor:
    return _binary(Op.MINIMUM, x1, x2, Op.LOGICAL_AND)


@symbolic
def negative(x: Tensor) -> Tensor:
    return apply(Op.NEG, [tensor(x)])


@symbolic
def abs(x: Tensor) -> Tensor:  # noqa: A001 - keras.ops.abs
    x = tensor(x)
    return x if dtype(x) is DType.bool else apply(Op.ABS, [x])


absolute = abs


@symbolic
def square(x: Tensor) -> Tensor:
    """``x * x`` (bools count as int32, as Keras)."""
    x = tensor(x)
    if dtype(x) is DType.bool:
        x = core.cast(x, DType.int32)
    return apply(Op.MUL, [x, x])


@symbolic
def sqrt(x: Tensor) -> Tensor:
    return _float_unary(Op.SQRT, x)


@symbolic
def rsqrt(x: Tensor) -> Tensor:
    return _float_unary(Op.RSQRT, x)


@symbolic
def exp(x: Tensor) -> Tensor:
    return _float_unary(Op.EXP, x)


@symbolic
def exp2(x: Tensor) -> Tensor:
    x = to_float(x)
    (two, x), _ = prepare(2.0, x, dtype=dtype(x))
    return apply(Op.POW, [two, x])


@symbolic
def expm1(x: Tensor) -> Tensor:
    return _float_unary(Op.EXPM1, x)


@symbolic
def log(x: Tensor) -> Tensor:
    return _float_unary(Op.LOG, x)


@symbolic
def log1p(x: Tensor) -> Tensor:
    return _float_unary(Op.LOG1P, x)


def _log_base(x: Tensor, base: float) -> Tensor:
    y = _float_unary(Op.LOG, x)
    (y, c), _ = prepare(y, 1.0 / math.log(base), dtype=dtype(y))
    return apply(Op.MUL, [y, c])


@symbolic
def log2(x: Tensor) -> Tensor:
    return _log_base(x, 2.0)


@symbolic
def log10(x: Tensor) -> Tensor:
    return _log_base(x, 10.0)


@symbolic
def sin(x: Tensor) -> Tensor:
    return _float_unary(Op.SIN, x)


@symbolic
def cos(x: Tensor) -> Tensor:
    return _float_unary(Op.COS, x)


@symbolic
def tan(x: Tensor) -> Tensor:
    x = to_float(x)
    return apply(Op.DIV, [apply(Op.SIN, [x]), apply(Op.COS, [x])])


@symbolic
def tanh(x: Tensor) -> Tensor:
    return _float_unary(Op.TANH, x)


@symbolic
def sigmoid(x: Tensor) -> Tensor:
    return _float_unary(Op.SIGMOID, x)


@symbolic
def erf(x: Tensor) -> Tensor:
    return _float_unary(Op.ERF, x)


@symbolic
def floor(x: Tensor) -> Tensor:
    return _float_unary(Op.FLOOR, x)


@symbolic
def ceil(x: Tensor) -> Tensor:
    return _float_unary(Op.CEIL, x)


@symbolic
def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001 - keras.ops.round
    """Half to even; with ``decimals``, numpy's ``round(x * 10**d) / 10**d``."""
    x = tensor(x)
    if not dtype(x).is_floating:
        return x
    if decimals == 0:
        return apply(Op.ROUND, [x])
    (x, s), _ = prepare(x, float(10.0 ** decimals), dtype=dtype(x))
    return apply(Op.DIV, [apply(Op.ROUND, [apply(Op.MUL, [x, s])]), s])


@symbolic
def sign(x: Tensor) -> Tensor:
    return apply(Op.SIGN, [tensor(x)])


@symbolic
def reciprocal(x: Tensor) -> Tensor:
    return _float_unary(Op.RECIPROCAL, x)


# -- comparisons and logic ------------------------------------------------------
def _compare(op: Op, x1: Tensor, x2: Tensor) -> Tensor:
    (a, b), _ = prepare(x1, x2)
    return apply(op, [a, b])


@symbolic
def equal(x1: Tensor, x2: Tensor) -> Tensor:
    return _compare(Op.EQUAL, x1, x2)


@symbolic
def not_equal(x1: Tensor, x2: Tensor) -> Tensor:
    return _compare(Op.NOT_EQUAL, x1, x2)


@symbolic
def less(x1: Tensor, x2: Tensor) -> Tensor:
    return _compare(Op.LESS, x1, x2)


@symbolic
def less_equal(x1: Tensor, x2: Tensor) -> Tensor:
    return _compare(Op.LESS_EQUAL, x1, x2)


@symbolic
def greater(x1: Tensor, x2: Tensor) -> Tensor:
    return _compare(Op.GREATER, x1, x2)


@symbolic
def greater_equal(x1: Tensor, x2: Tensor) -> Tensor:
    return _compare(Op.GREATER_EQUAL, x1, x2)


def _bools(*xs: Tensor) -> list[Tensor]:
    return prepare(*xs, dtype=DType.bool)[0]


@symbolic
def logical_and(x1: Tensor, x2: Tensor) -> Tensor:
    return apply(Op.LOGICAL_AND, _bools(x1, x2))


@symbolic
def logical_or(x1: Tensor, x2: Tensor) -> Tensor:
    return apply(Op.LOGICAL_OR, _bools(x1, x2))


@symbolic
def logical_not(x: Tensor) -> Tensor:
    return apply(Op.LOGICAL_NOT, _bools(x))


@symbolic
def logical_xor(x1: Tensor, x2: Tensor) -> Tensor:
    return apply(Op.NOT_EQUAL, _bools(x1, x2))


@symbolic
def isnan(x: Tensor) -> Tensor:
    """NaN is the one value not equal to itself."""
    x = tensor(x)
    return apply(Op.NOT_EQUAL, [x, x])


@symbolic
def isinf(x: Tensor) -> Tensor:
    x = to_float(x)
    (a, inf), _ = prepare(apply(Op.ABS, [x]), np.inf, dtype=dtype(x))
    return apply(Op.EQUAL, [a, inf])


@symbolic
def isfinite(x: Tensor) -> Tensor:
    """``x - x`` is 0 for finite values and NaN for inf and NaN."""
    x = tensor(x)
    if not dtype(x).is_floating:
        return logical_not(isnan(x))
    (d, zero), _ = prepare(apply(Op.SUB, [x, x]), 0.0, dtype=dtype(x))
    return apply(Op.EQUAL, [d, zero])


# -- selection and casts ----------------------------------------------------------
@symbolic
def where(condition: Tensor, x1: Tensor = None, x2: Tensor = None) -> Tensor:
    """``x1`` where ``condition`` holds, else ``x2`` (all three broadcast)."""
    if x1 is None or x2 is None:
        raise ValueError("where(condition) without x1 and x2 returns a data-dependent shape, which "
                         "a compiled graph cannot have. Pass both x1 and x2.")
    (c,) = _bools(condition)
    (a, b), _ = prepare(x1, x2)
    return apply(Op.SELECT, [c, a, b])


@symbolic
def clip(x: Tensor, x_min: Tensor, x_max: Tensor) -> Tensor:
    """``minimum(maximum(x, x_min), x_max)`` in ``x``'s dtype (bool clips as int32, as Keras)."""
    x = tensor(x)
    dt = DType.int32 if dtype(x) is DType.bool else dtype(x)
    (x, lo, hi), _ = prepare(x, x_min, x_max, dtype=dt)
    return apply(Op.MINIMUM, [apply(Op.MAXIMUM, [x, lo]), hi])


@symbolic
def cast(x: Tensor, dtype) -> Tensor:  # noqa: F811 - keras.ops.cast(x, dtype)
    """``x`` converted to ``dtype`` (float to int truncates toward zero and saturates)."""
    return core.cast(tensor(x), DType.from_any(_standard_dtype(dtype)))


def _standard_dtype(d):
    from frontend.backend import standardize_dtype
    return standardize_dtype(d)

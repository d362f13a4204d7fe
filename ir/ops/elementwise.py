"""Elementwise ops: unary, binary (numpy broadcasting), compare, select, cast."""
from __future__ import annotations

import math

import numpy as np

from ir.attrs import CastAttrs, NoAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import TensorType, broadcast_shapes

_FLOAT_ONLY = "floating"
_NUMERIC = "numeric"
_BOOL_ONLY = "bool"


def _check_kind(op: Op, t: TensorType, kind: str) -> None:
    d = t.dtype
    ok = {_FLOAT_ONLY: d.is_floating, _NUMERIC: d is not DType.bool, _BOOL_ONLY: d is DType.bool}[kind]
    if not ok:
        raise TypeError(f"{op} expects a {kind} operand, received {d.name}")


_erf = np.frompyfunc(math.erf, 1, 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# op -> (operand kind, numpy function)
UNARY = {
    Op.NEG: (_NUMERIC, np.negative),
    Op.ABS: (_NUMERIC, np.abs),
    Op.EXP: (_FLOAT_ONLY, np.exp),
    Op.EXPM1: (_FLOAT_ONLY, np.expm1),
    Op.LOG: (_FLOAT_ONLY, np.log),
    Op.LOG1P: (_FLOAT_ONLY, np.log1p),
    Op.SQRT: (_FLOAT_ONLY, np.sqrt),
    Op.RSQRT: (_FLOAT_ONLY, lambda x: (1 / np.sqrt(x)).astype(x.dtype)),
    Op.TANH: (_FLOAT_ONLY, np.tanh),
    Op.SIGMOID: (_FLOAT_ONLY, _sigmoid),
    Op.ERF: (_FLOAT_ONLY, lambda x: np.asarray(_erf(x.astype(np.float64)), np.float64).astype(x.dtype)),
    Op.SIN: (_FLOAT_ONLY, np.sin),
    Op.COS: (_FLOAT_ONLY, np.cos),
    Op.FLOOR: (_FLOAT_ONLY, np.floor),
    Op.CEIL: (_FLOAT_ONLY, np.ceil),
    Op.ROUND: (_FLOAT_ONLY, np.round),     # half to even, as numpy and Keras
    Op.SIGN: (_NUMERIC, np.sign),
    Op.RECIPROCAL: (_FLOAT_ONLY, lambda x: (1 / x).astype(x.dtype)),
    Op.LOGICAL_NOT: (_BOOL_ONLY, np.logical_not),
}

BINARY = {
    Op.ADD: (_NUMERIC, np.add),
    Op.SUB: (_NUMERIC, np.subtract),
    Op.MUL: (_NUMERIC, np.multiply),
    Op.DIV: (_FLOAT_ONLY, np.divide),
    Op.POW: (_NUMERIC, np.power),
    Op.MOD: (_NUMERIC, np.mod),            # floor modulo: the result takes the divisor's sign
    Op.MAXIMUM: (_NUMERIC, np.maximum),
    Op.MINIMUM: (_NUMERIC, np.minimum),
    Op.LOGICAL_AND: (_BOOL_ONLY, np.logical_and),
    Op.LOGICAL_OR: (_BOOL_ONLY, np.logical_or),
}

COMPARE = {
    Op.EQUAL: np.equal,
    Op.NOT_EQUAL: np.not_equal,
    Op.LESS: np.less,
    Op.LESS_EQUAL: np.less_equal,
    Op.GREATER: np.greater,
    Op.GREATER_EQUAL: np.greater_equal,
}


def _same_dtype(op: Op, types: tuple[TensorType, ...]) -> DType:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise TypeError(f"{op} expects operands of one dtype, received "
                        + ", ".join(t.dtype.name for t in types))
    return types[0].dtype


def _unary_rule(op: Op, kind: str):
    def infer(ts, attrs):
        _check_kind(op, ts[0], kind)
        return (ts[0],)
    return infer


def _binary_rule(op: Op, kind: str, result: DType | None = None):
    def infer(ts, attrs):
        dtype = _same_dtype(op, ts)
        if kind:
            _check_kind(op, ts[0], kind)
        return (TensorType(result or dtype, broadcast_shapes(ts[0].shape, ts[1].shape)),)
    return infer


def _ref(fn):
    def reference(arrays, attrs):
        out = fn(*arrays)
        return (np.asarray(out, dtype=arrays[0].dtype if out.dtype != np.bool_ else np.bool_),)
    return reference


for _op, (_kind, _fn) in UNARY.items():
    register(_op, NoAttrs, 1, _unary_rule(_op, _kind), _ref(_fn))
for _op, (_kind, _fn) in BINARY.items():
    register(_op, NoAttrs, 2, _binary_rule(_op, _kind), _ref(_fn))
for _op, _fn in COMPARE.items():
    register(_op, NoAttrs, 2, _binary_rule(_op, "", DType.bool),
             lambda arrays, attrs, _fn=_fn: (np.asarray(_fn(*arrays)),))


def _select_infer(ts, attrs):
    if ts[0].dtype is not DType.bool:
        raise TypeError(f"select expects a bool condition, received {ts[0].dtype.name}")
    dtype = _same_dtype(Op.SELECT, ts[1:])
    return (TensorType(dtype, broadcast_shapes(ts[0].shape, ts[1].shape, ts[2].shape)),)


register(Op.SELECT, NoAttrs, 3, _select_infer,
         lambda arrays, attrs: (np.where(*arrays).astype(arrays[1].dtype),))


def _cast_reference(arrays, attrs: CastAttrs):
    x = arrays[0]
    target = attrs.dtype.numpy
    if x.dtype.kind == "f" and attrs.dtype.is_integer:
        # fptosi/fptoui are undefined out of range; define it as saturating (NaN -> 0).
        # Clip in float64, where the int8..int32 bounds are exact (float16 cannot hold them,
        # float32 rounds 2**31 - 1 up). int64's max still rounds up to 2**63, which astype
        # does not saturate (x86 gives INT_MIN): pin it to the bound.
        info = np.iinfo(target)
        with np.errstate(invalid="ignore"):
            t = np.nan_to_num(np.clip(np.trunc(x.astype(np.float64)), info.min, info.max), nan=0.0)
            return (np.where(t >= info.max, info.max, t.astype(target)).astype(target),)
    return (x.astype(target),)


register(Op.CAST, CastAttrs, 1, lambda ts, a: (TensorType(a.dtype, ts[0].shape),), _cast_reference)

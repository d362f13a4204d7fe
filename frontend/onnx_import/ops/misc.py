"""Constants, shape queries, Identity and Dropout.

Constant, ConstantOfShape, Shape, Size and Range produce values known at
import, which is what lets shape arithmetic in exported graphs fold away.
Shape of a tensor with the symbolic batch gives the batch as a placeholder
(``values.BATCH_SIZE``) that structural ops carry and Reshape / Expand turn
back into the batch dim; anything that would compute with it is refused.
"""
from __future__ import annotations

import numpy as np

from frontend.onnx_import.context import NodeContext, NodeView
from frontend.onnx_import.errors import ATTRIBUTE, DYNAMIC, RANDOM
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import BATCH_SIZE, binary, const, is_static, mul, shape, where
from frontend.ops.core import apply
from ir.attrs import BroadcastAttrs
from ir.opcodes import Op
from ir.shapes import SymDim

_CONSTANT_ATTRS = ("value", "value_float", "value_floats", "value_int", "value_ints")


def _check_constant(view: NodeView):
    if not any(view.has_attr(a) for a in _CONSTANT_ATTRS):
        kind = next((a for a in ("sparse_value", "value_string", "value_strings") if view.has_attr(a)),
                    "no value")
        return ATTRIBUTE, f"Constant with {kind} is not supported (dense numeric tensors only)"
    return None


@importer("Constant", check=_check_constant)
def _constant(n: NodeContext):
    if n.has_attr("value"):
        return np.asarray(n.attr("value"))
    for name, dt in (("value_float", np.float32), ("value_floats", np.float32),
                     ("value_int", np.int64), ("value_ints", np.int64)):
        if n.has_attr(name):
            return np.asarray(n.attr(name), dtype=dt)
    raise n.unsupported("Constant has no value attribute")


@importer("ConstantOfShape", static_inputs=(0,))
def _constant_of_shape(n: NodeContext):
    dims = [int(d) for d in n.static(0, "ConstantOfShape's shape").reshape(-1)]
    value = n.attr("value", None)
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    return np.full(dims, fill[0], dtype=fill.dtype)


@importer("Shape")
def _shape(n: NodeContext):
    dims = shape(n.input(0))
    r = len(dims)
    start, end = int(n.attr("start", 0)), n.attr("end", None)
    # Out-of-range start and end are clamped, as ONNX specifies.
    start = min(max(start + r if start < 0 else start, 0), r)
    end = r if end is None else min(max(int(end) + r if int(end) < 0 else int(end), 0), r)
    # The batch dim becomes a placeholder that Reshape and Expand turn back into the batch.
    return np.asarray([BATCH_SIZE if isinstance(d, SymDim) else d for d in dims[start:end]], np.int64)


@importer("Size")
def _size(n: NodeContext):
    dims = shape(n.input(0))
    if any(isinstance(d, SymDim) for d in dims):
        raise n.unsupported("Size of a tensor with the symbolic batch is known only at run time, "
                            "and Horn's IR has no op that reads a size", DYNAMIC)
    return np.asarray(int(np.prod(dims)), dtype=np.int64)


@importer("Range", static_inputs=(0, 1, 2))
def _range(n: NodeContext):
    start, limit, delta = (n.static(i, f"Range's {w}") for i, w in enumerate(("start", "limit", "delta")))
    return np.arange(start, limit, delta, dtype=np.asarray(start).dtype)


@importer("Identity", batch_operands=(0,))
def _identity(n: NodeContext):
    return n.input(0)


def _check_dropout(view: NodeView):
    if view.opset < 7 and not view.attr("is_test", 0):
        return ATTRIBUTE, "Dropout with is_test=0 (opset < 7) is not supported"
    return None


@importer("Dropout", static_inputs=(1, 2), check=_check_dropout)
def _dropout(n: NodeContext):
    x = n.input(0)
    if n.opset < 12:
        ratio, declared = float(n.attr("ratio", 0.5)), False
    else:
        r = n.static(1, "Dropout's ratio")
        t = n.static(2, "Dropout's training_mode")
        ratio = 0.5 if r is None else float(np.asarray(r).reshape(-1)[0])
        declared = False if t is None else bool(np.asarray(t).reshape(-1)[0])
    if declared and ratio > 0:
        raise n.unsupported(
            "Dropout with training_mode=True draws random numbers at inference; Horn's random "
            "stream cannot reproduce another runtime's, so the result would not be the file's", RANDOM)
    if n.training and ratio > 0 and not is_static(x):
        # Fine-tuning with fit: drop as Keras' Dropout does, from the step's random key.
        from frontend.random import uniform
        keep = binary(Op.GREATER_EQUAL, uniform(tuple(None if isinstance(d, SymDim) else d
                                                      for d in shape(x)), dtype=x.dtype),
                      const(ratio, x))
        y = where(keep, mul(x, const(1 / (1 - ratio), x)), const(0, x))
        return y, keep
    return x, _all_true(n, x)


def _all_true(n: NodeContext, x):
    dims = shape(x)
    if all(isinstance(d, int) for d in dims):
        return np.ones(dims, dtype=bool)
    return apply(Op.BROADCAST_TO, [n.tracer.constant(np.array(True))], BroadcastAttrs(dims))

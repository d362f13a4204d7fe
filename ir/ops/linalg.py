"""Batched matrix multiply."""
from __future__ import annotations

import numpy as np

from ir.attrs import NoAttrs
from ir.dtypes import DType
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import TensorType, broadcast_shapes, format_shape


def _matmul_infer(ts, attrs):
    a, b = ts
    if a.dtype != b.dtype or a.dtype is DType.bool:
        raise TypeError(f"matmul expects two numeric operands of one dtype, received "
                        f"{a.dtype.name} and {b.dtype.name}")
    if a.rank < 2 or b.rank < 2:
        raise ValueError("matmul expects operands of rank >= 2")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"contracting dims differ: {format_shape(a.shape)} @ {format_shape(b.shape)}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return (TensorType(a.dtype, batch + (a.shape[-2], b.shape[-1])),)


register(Op.MATMUL, NoAttrs, 2, _matmul_infer, lambda arrays, attrs: (np.matmul(*arrays),))

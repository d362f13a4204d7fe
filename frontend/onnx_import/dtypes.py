"""ONNX element types and the Horn dtypes they map to.

Horn has eight dtypes; ONNX has many more. Anything not in ``_TO_HORN`` is
refused with its ONNX name (``UINT16``, ``BFLOAT16``, ``STRING``...), so the
error says exactly which type is missing.
"""
from __future__ import annotations

import onnx

from ir.dtypes import DType

_TO_HORN = {
    onnx.TensorProto.FLOAT: DType.float32,
    onnx.TensorProto.DOUBLE: DType.float64,
    onnx.TensorProto.FLOAT16: DType.float16,
    onnx.TensorProto.INT8: DType.int8,
    onnx.TensorProto.UINT8: DType.uint8,
    onnx.TensorProto.INT32: DType.int32,
    onnx.TensorProto.INT64: DType.int64,
    onnx.TensorProto.BOOL: DType.bool,
}
_FROM_HORN = {d: t for t, d in _TO_HORN.items()}


def onnx_type_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


def horn_dtype(elem_type: int) -> DType | None:
    """The Horn dtype of an ONNX element type, or None when Horn has none."""
    return _TO_HORN.get(elem_type)


def onnx_elem_type(dtype: DType) -> int:
    return _FROM_HORN[dtype]

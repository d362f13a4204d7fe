"""ONNX for matmul: ONNX ``MatMul`` broadcasts batch dims as numpy's ``matmul`` does."""
from __future__ import annotations

from codegen.onnx.emitter import FLOATS, OnnxBuilder, onnx_mapping
from ir.dtypes import DType
from ir.graph import Node
from ir.opcodes import Op


@onnx_mapping(Op.MATMUL)
def _matmul(b: OnnxBuilder, node: Node) -> None:
    # int8/uint8 run in int32 and wrap back, as numpy's int8 matmul wraps.
    b.native(node, "MatMul", FLOATS | {DType.int32, DType.int64})

"""ONNX for reductions and arg-reductions.

``ReduceSum`` takes its axes as an input from opset 13; ``ReduceMax``,
``ReduceMin`` and ``ReduceMean`` take them as an attribute up to opset 17 and
as an input from opset 18, so the emitter follows the opset being written.
An empty axis list means "reduce nothing" in the IR but "reduce everything"
in ONNX, so it becomes an Identity.
"""
from __future__ import annotations

from codegen.onnx.emitter import FLOATS, NUMERIC, OnnxBuilder, onnx_mapping
from ir.attrs import ArgReduceAttrs, ReduceAttrs
from ir.dtypes import DType
from ir.graph import Node
from ir.opcodes import Op

# op -> (ONNX operator, operand dtypes ONNX Runtime implements it for, first opset with axes as input)
_REDUCE = {
    Op.REDUCE_SUM: ("ReduceSum", FLOATS | {DType.int32, DType.int64}, 13),
    Op.REDUCE_MAX: ("ReduceMax", NUMERIC, 18),
    Op.REDUCE_MIN: ("ReduceMin", NUMERIC, 18),
    Op.REDUCE_MEAN: ("ReduceMean", FLOATS, 18),
}


@onnx_mapping(*_REDUCE)
def _reduce(b: OnnxBuilder, node: Node) -> None:
    a: ReduceAttrs = node.attrs
    if not a.axes:
        b.add("Identity", [b.input(node, 0)], b.output(node))
        return
    op_type, supported, axes_input_from = _REDUCE[node.op]
    if b.opset >= axes_input_from:
        b.native(node, op_type, supported, extra_inputs=[b.ints(a.axes, "axes")],
                 keepdims=int(a.keepdims))
    else:
        b.native(node, op_type, supported, axes=list(a.axes), keepdims=int(a.keepdims))


@onnx_mapping(Op.ARGMAX, Op.ARGMIN)
def _arg_reduce(b: OnnxBuilder, node: Node) -> None:
    # select_last_index=0: the first index wins ties, as numpy. ONNX answers int64; the IR int32.
    a: ArgReduceAttrs = node.attrs
    op_type = "ArgMax" if node.op is Op.ARGMAX else "ArgMin"
    idx = b.add(op_type, [b.input(node, 0)], axis=a.axis, keepdims=int(a.keepdims), select_last_index=0)
    b.cast(idx, DType.int32, b.output(node))

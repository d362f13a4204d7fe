"""ONNX for data movement: reshape, transpose, broadcast_to, slice, concat, pad, gather,
and constants.

The symbolic batch dim never becomes a number in the file. Reshape puts -1
where the target has it (every other target dim is static, so ONNX infers
it from the element count). Broadcast_to writes 1 where the operand already
has the symbolic dim (Expand broadcasts it through) and the run-time size,
read with ``Shape`` from a graph input, where the dim is new.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from codegen.onnx.emitter import OnnxBuilder, OnnxExportError, flat_pads, onnx_mapping
from ir.attrs import (BroadcastAttrs, ConcatAttrs, ConstantAttrs, GatherAttrs, PadAttrs, ReshapeAttrs,
                      SliceAttrs, TransposeAttrs)
from ir.graph import Node
from ir.opcodes import Op
from ir.shapes import SymDim

# Slice's "through index 0" bound for a negative step: ONNX clamps it to -1 (before the start).
_BEFORE_START = np.iinfo(np.int64).min


@onnx_mapping(Op.RESHAPE)
def _reshape(b: OnnxBuilder, node: Node) -> None:
    a: ReshapeAttrs = node.attrs
    syms = [d for d in a.shape if isinstance(d, SymDim)]
    if 0 in a.shape and syms:
        raise OnnxExportError(f"reshape at {node.name}: an empty target with a symbolic dim has no "
                              f"ONNX Reshape form")
    if len(syms) > 1:
        # Several symbolic dims (batch and sequence length) have no single -1 form: the
        # target is assembled at run time from the inputs' sizes.
        b.add("Reshape", [b.input(node, 0), b.shape_tensor(a.shape)], b.output(node))
        return
    target = [-1 if isinstance(d, SymDim) else d for d in a.shape]
    # ONNX reads a 0 in the target as "copy the input's dim" unless allowzero=1, which in
    # turn forbids -1; a static empty target (no symbolic dim) takes allowzero=1.
    allowzero = int(0 in target and not syms)
    b.add("Reshape", [b.input(node, 0), b.ints(target, "shape")], b.output(node), allowzero=allowzero)


@onnx_mapping(Op.TRANSPOSE)
def _transpose(b: OnnxBuilder, node: Node) -> None:
    a: TransposeAttrs = node.attrs
    b.add("Transpose", [b.input(node, 0)], b.output(node), perm=list(a.perm))


@onnx_mapping(Op.BROADCAST_TO)
def _broadcast_to(b: OnnxBuilder, node: Node) -> None:
    a: BroadcastAttrs = node.attrs
    src = node.inputs[0].shape
    lead = len(a.shape) - len(src)
    target = []
    for i, d in enumerate(a.shape):
        if isinstance(d, SymDim) and i >= lead and src[i - lead] == d:
            target.append(1)     # Expand keeps the operand's own (run-time) size
        else:
            target.append(d)
    b.add("Expand", [b.input(node, 0), b.shape_tensor(tuple(target))], b.output(node))


@onnx_mapping(Op.SLICE)
def _slice(b: OnnxBuilder, node: Node) -> None:
    a: SliceAttrs = node.attrs
    axes, starts, ends, steps = [], [], [], []
    for axis, (start, stop, step) in enumerate(zip(a.starts, a.stops, a.steps)):
        if (start, stop, step) == (0, None, 1):
            continue     # whole axis (a symbolic axis takes this or (-1, None, -1): ONNX reads
                         # start -1 from the end, as the IR does)
        axes.append(axis)
        starts.append(start)
        steps.append(step)
        if stop is None:
            ends.append(int(node.inputs[0].shape[axis]) if step > 0 else _BEFORE_START)
        else:
            ends.append(stop)
    if not axes:
        b.add("Identity", [b.input(node, 0)], b.output(node))
        return
    b.add("Slice", [b.input(node, 0), b.ints(starts, "starts"), b.ints(ends, "ends"), b.ints(axes, "axes"),
                    b.ints(steps, "steps")], b.output(node))


@onnx_mapping(Op.CONCAT)
def _concat(b: OnnxBuilder, node: Node) -> None:
    a: ConcatAttrs = node.attrs
    b.add("Concat", [b.input(node, i) for i in range(len(node.inputs))], b.output(node), axis=a.axis)


@onnx_mapping(Op.PAD)
def _pad(b: OnnxBuilder, node: Node) -> None:
    a: PadAttrs = node.attrs
    dtype = node.inputs[0].dtype
    value = b.const(np.asarray(a.value).astype(dtype.numpy), hint="pad_value")
    b.add("Pad", [b.input(node, 0), b.ints(flat_pads(a.pads), "pads"), value], b.output(node), mode="constant")


@onnx_mapping(Op.GATHER)
def _gather(b: OnnxBuilder, node: Node) -> None:
    # The IR clamps indices into range; ONNX Gather reads negatives from the end and leaves
    # larger ones undefined, so clip first.
    a: GatherAttrs = node.attrs
    idx_dtype = node.inputs[1].dtype.numpy
    n = int(node.inputs[0].shape[a.axis])
    lo, hi = b.const(np.asarray(0, idx_dtype), hint="zero"), b.const(np.asarray(n - 1, idx_dtype), hint="last")
    idx = b.add("Clip", [b.input(node, 1), lo, hi])
    b.add("Gather", [b.input(node, 0), idx], b.output(node), axis=a.axis)


@onnx_mapping(Op.CONSTANT)
def _constant(b: OnnxBuilder, node: Node) -> None:
    a: ConstantAttrs = node.attrs
    name = b.output(node)
    b.initializers[name] = numpy_helper.from_array(np.asarray(a.value, order="C"), name)

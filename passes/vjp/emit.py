"""What VJP rules build gradients with: one small emitter per rule application.

Every helper appends core ops to the graph being differentiated, names them
under ``grad/<forward node>/`` (so a dump shows which forward node a gradient
node serves), and skips ops that would do nothing (a reshape to the same
shape, a sum over no axes), so gradient graphs stay as small as the rules
allow without a cleanup pass. All of them work on shapes with symbolic dims.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ir.attrs import (BroadcastAttrs, CastAttrs, PadAttrs, ReduceAttrs, ReshapeAttrs, SliceAttrs,
                      TransposeAttrs)
from ir.dtypes import DType
from ir.graph import Graph, Node, Value
from ir.opcodes import Op
from ir.shapes import Dim, Shape, SymDim, TensorType

Cotangents = Sequence["Value | None"]
VjpRule = Callable[[Graph, Node, tuple["Value | None", ...]], Sequence["Value | None"]]
"""``rule(graph, node, output cotangents) -> one cotangent per operand`` (None: zero / none)."""


def no_gradient(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[None]:
    """The rule of an op with no gradient to any operand.

    Used for ops whose result is boolean or integer (compare, logical, argmax,
    casts to int/bool), ops piecewise constant in their operands (floor, ceil,
    round, sign) and leaves (constant, random_uniform, whose key is an integer):
    the derivative is zero wherever it exists, as in JAX and Keras.
    """
    return [None] * len(node.inputs)


def whole(d: Dim) -> tuple[int, int | None, int]:
    """Slice bounds that take an axis of size ``d`` whole, normalized as the frontend does."""
    return (0, None, 1) if isinstance(d, SymDim) else (0, d, 1)


class Emit:
    """Appends gradient nodes for one forward ``node`` to ``graph``."""

    def __init__(self, graph: Graph, node: Node):
        self.graph = graph
        self.prefix = f"grad/{node.name}"

    def op(self, op: Op, inputs: Sequence[Value], attrs: Any = None) -> Value:
        return self.graph.add_node(op, inputs, attrs, f"{self.prefix}/{op.value}").output

    def const(self, value: Any, dtype: DType) -> Value:
        return self.graph.add_constant(np.asarray(value, dtype.numpy), name=f"{self.prefix}/const")

    # -- arithmetic (numpy broadcasting, as the ops themselves) ----------------
    def add(self, a: Value, b: Value) -> Value:
        return self.op(Op.ADD, [a, b])

    def sub(self, a: Value, b: Value) -> Value:
        return self.op(Op.SUB, [a, b])

    def mul(self, a: Value, b: Value) -> Value:
        return self.op(Op.MUL, [a, b])

    def div(self, a: Value, b: Value) -> Value:
        return self.op(Op.DIV, [a, b])

    def neg(self, a: Value) -> Value:
        return self.op(Op.NEG, [a])

    def scale(self, a: Value, factor: float) -> Value:
        """``a * factor`` with the factor a scalar constant of ``a``'s dtype."""
        return self.mul(a, self.const(factor, a.dtype))

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        return self.op(Op.SELECT, [cond, a, b])

    def cast(self, a: Value, dtype: DType) -> Value:
        return a if a.dtype is dtype else self.op(Op.CAST, [a], CastAttrs(dtype))

    # -- shapes ---------------------------------------------------------------
    def reshape(self, a: Value, shape: Shape) -> Value:
        shape = tuple(shape)
        return a if tuple(a.shape) == shape else self.op(Op.RESHAPE, [a], ReshapeAttrs(shape))

    def transpose(self, a: Value, perm: Sequence[int]) -> Value:
        perm = tuple(perm)
        return a if perm == tuple(range(a.type.rank)) else self.op(Op.TRANSPOSE, [a], TransposeAttrs(perm))

    def broadcast(self, a: Value, shape: Shape) -> Value:
        shape = tuple(shape)
        return a if tuple(a.shape) == shape else self.op(Op.BROADCAST_TO, [a], BroadcastAttrs(shape))

    def sum(self, a: Value, axes: Sequence[int], keepdims: bool = False) -> Value:
        axes = tuple(sorted(set(axes)))
        return a if not axes else self.op(Op.REDUCE_SUM, [a], ReduceAttrs(axes, keepdims))

    def slice(self, a: Value, bounds: Sequence[tuple[int, int | None, int]]) -> Value:
        """``a[start:stop:step, ...]`` with one ``(start, stop, step)`` per axis."""
        if all(b == whole(d) or b == (0, None, 1) for b, d in zip(bounds, a.shape)):
            return a
        starts, stops, steps = zip(*bounds)
        return self.op(Op.SLICE, [a], SliceAttrs(tuple(starts), tuple(stops), tuple(steps)))

    def slice_axis(self, a: Value, axis: int, start: int, stop: int | None, step: int = 1) -> Value:
        bounds = [whole(d) for d in a.shape]
        bounds[axis] = (start, stop, step)
        return self.slice(a, bounds)

    def pad(self, a: Value, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Value:
        pads = tuple((int(lo), int(hi)) for lo, hi in pads)
        return a if not any(lo or hi for lo, hi in pads) else self.op(Op.PAD, [a], PadAttrs(pads, value))

    def zeros(self, type: TensorType) -> Value:
        """A zero tensor of ``type``: a scalar broadcast, never a materialized constant array."""
        return self.broadcast(self.const(0, type.dtype), type.shape)

    def unbroadcast(self, ct: Value, shape: Shape) -> Value:
        """The cotangent of an operand of ``shape`` that numpy broadcasting stretched to ``ct``'s shape.

        Sums over the leading axes the operand lacks and over its size-1 axes that
        broadcasting widened (a SymDim is never 1, so ``N`` against ``1`` sums too),
        then reshapes to ``shape``.
        """
        shape = tuple(shape)
        if tuple(ct.shape) == shape:
            return ct
        lead = ct.type.rank - len(shape)
        axes = list(range(lead)) + [lead + i for i, d in enumerate(shape)
                                    if d == 1 and ct.shape[lead + i] != 1]
        return self.reshape(self.sum(ct, axes), shape)

    def dilate(self, a: Value, axis: int, factor: int) -> Value:
        """``factor - 1`` zeros between the elements along ``axis`` (length ``(L-1)*factor + 1``).

        Spelled with core ops: a new size-1 axis after ``axis`` padded to ``factor``
        (the element, then its zeros), merged back into ``axis``, and the trailing
        zeros cut off.
        """
        if factor == 1:
            return a
        shape = tuple(a.shape)
        length = shape[axis]
        if isinstance(length, SymDim) or length == 0:
            raise ValueError(f"cannot dilate axis {axis} of {a.type}: it must be static and non-empty")
        wide = self.reshape(a, shape[:axis + 1] + (1,) + shape[axis + 1:])
        pads = [(0, 0)] * len(wide.shape)
        pads[axis + 1] = (0, factor - 1)
        merged = self.reshape(self.pad(wide, pads), shape[:axis] + (length * factor,) + shape[axis + 1:])
        return self.slice_axis(merged, axis, 0, (length - 1) * factor + 1)


def swap_last_two(rank: int) -> tuple[int, ...]:
    return tuple(range(rank - 2)) + (rank - 1, rank - 2)

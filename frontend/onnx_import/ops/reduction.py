"""Reductions (Reduce*, with axes as an attribute or, in newer opsets, an operand)
and the arg-reductions ArgMax / ArgMin."""
from __future__ import annotations

from frontend.onnx_import.context import NodeContext
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import add, cast, const, dtype, mul, normalize_axis, rank, shape, sub, unary
from frontend.ops.core import apply
from frontend.ops.movement import reshape_to, slice_axes
from ir.attrs import ArgReduceAttrs, ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op


def _axes(n: NodeContext, x) -> tuple[int, ...] | None:
    """The reduced axes, sorted; None when the node reduces nothing (noop_with_empty_axes)."""
    axes = n.ints(1, "axes", "the reduction axes")
    r = rank(x)
    if not axes:
        return None if n.attr("noop_with_empty_axes", 0) else tuple(range(r))
    return tuple(sorted({normalize_axis(a, r, n.where) for a in axes}))


def _reduce(op: Op, x, axes, keepdims: bool):
    if not axes:
        return x
    d = dtype(x)
    if d is DType.bool:      # max/min of bools: or/and, computed on 0/1
        return cast(_reduce(op, cast(x, DType.uint8), axes, keepdims), DType.bool)
    if op is Op.REDUCE_MEAN and not d.is_floating:
        return cast(_reduce(op, cast(x, DType.float64), axes, keepdims), d)
    return apply(op, [x], ReduceAttrs(axes, keepdims))


_PLAIN = {"ReduceSum": Op.REDUCE_SUM, "ReduceMean": Op.REDUCE_MEAN, "ReduceMax": Op.REDUCE_MAX,
          "ReduceMin": Op.REDUCE_MIN}
# Reductions of a transformed input, then a transform of the result.
_COMPOSED = {
    "ReduceSumSquare": (lambda x: mul(x, x), None),
    "ReduceL1": (lambda x: unary(Op.ABS, x), None),
    "ReduceL2": (lambda x: mul(x, x), lambda y: unary(Op.SQRT, y)),
    "ReduceLogSum": (None, lambda y: unary(Op.LOG, y)),
}


@importer(*_PLAIN, *_COMPOSED, "ReduceLogSumExp", static_inputs=(1,))
def _reduction(n: NodeContext):
    x = n.input(0)
    axes = _axes(n, x)
    keepdims = bool(n.attr("keepdims", 1))
    if axes is None:
        axes = ()
    if n.op_type in _PLAIN:
        return _reduce(_PLAIN[n.op_type], x, axes, keepdims)
    if n.op_type == "ReduceLogSumExp":
        if not axes:
            return x
        # max + log(sum(exp(x - max))): no overflow for large inputs.
        top = _reduce(Op.REDUCE_MAX, x, axes, True)
        lse = add(top, unary(Op.LOG, _reduce(Op.REDUCE_SUM, unary(Op.EXP, sub(x, top)), axes, True)))
        return lse if keepdims else reshape_to(lse, tuple(d for i, d in enumerate(shape(x))
                                                         if i not in axes))
    before, after = _COMPOSED[n.op_type]
    y = _reduce(Op.REDUCE_SUM, before(x) if before else x, axes, keepdims)
    return after(y) if after else y


@importer("ArgMax", "ArgMin")
def _arg_reduction(n: NodeContext):
    x = n.input(0)
    axis = normalize_axis(n.attr("axis", 0), rank(x), n.where)
    keepdims = bool(n.attr("keepdims", 1))
    op = Op.ARGMAX if n.op_type == "ArgMax" else Op.ARGMIN
    if dtype(x) is DType.bool:
        x = cast(x, DType.uint8)
    if not n.attr("select_last_index", 0):
        return cast(apply(op, [x], ArgReduceAttrs(axis, keepdims)), DType.int64)
    # The last index of the extreme: the first one in the reversed axis, counted from the end.
    size = shape(x)[axis]
    flipped = slice_axes(x, {axis: (size - 1, None, -1)})
    first = cast(apply(op, [flipped], ArgReduceAttrs(axis, keepdims)), DType.int64)
    return sub(const(size - 1, DType.int64), first)

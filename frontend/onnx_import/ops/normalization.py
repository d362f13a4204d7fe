"""BatchNormalization, LayerNormalization, InstanceNormalization, Softmax, LogSoftmax.

BatchNormalization works on the channels-first tensor directly: its per-channel
parameters are reshaped to ``(C, 1, ...)`` and broadcast, so no transposes.
In inference it uses the stored statistics. It uses the batch's statistics
when the node says ``training_mode=1`` (and returns the updated running
statistics as ONNX specifies), and when Horn fine-tunes the model with ``fit``
and the statistics are initializers: then, as Keras' BatchNormalization does,
the running statistics move toward the batch's with the node's momentum.
"""
from __future__ import annotations

from frontend.onnx_import.context import NodeContext, NodeView
from frontend.onnx_import.errors import ATTRIBUTE
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import (add, cast, const, div, dtype, mul, normalize_axis, rank,
                                         shape, sub, unary)
from frontend.ops.core import apply
from frontend.ops.movement import reshape_to
from ir.attrs import ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op


def _reduce(op: Op, x, axes, keepdims: bool = True):
    return apply(op, [x], ReduceAttrs(tuple(sorted(axes)), keepdims))


def _moments(x, axes, keepdims: bool = True):
    """Mean and biased variance over ``axes`` (what ONNX's normalizations use)."""
    mean = _reduce(Op.REDUCE_MEAN, x, axes, True)
    centered = sub(x, mean)
    var = _reduce(Op.REDUCE_MEAN, mul(centered, centered), axes, keepdims)
    return (mean if keepdims else reshape_to(mean, shape(var))), var, centered


def _check_batch_norm(view: NodeView):
    if view.opset < 9 and view.attr("spatial", 1) == 0:
        return ATTRIBUTE, "spatial=0 (statistics per activation) is not supported"
    if view.opset < 14 and any(view.has_output(i) for i in range(1, 5)):
        return ATTRIBUTE, "the training outputs of BatchNormalization before opset 14 are not supported"
    return None


@importer("BatchNormalization", check=_check_batch_norm, state_inputs=(3, 4))
def _batch_norm(n: NodeContext):
    x, scale, bias, mean, var = (n.input(i) for i in range(5))
    r = rank(x)
    eps, momentum = n.attr("epsilon", 1e-5), n.attr("momentum", 0.9)

    def per_channel(v):
        return reshape_to(v, (shape(v)[0],) + (1,) * (r - 2))

    declared = bool(n.attr("training_mode", 0))
    fitting = n.training and n.variable(3) is not None and n.variable(4) is not None
    if not (declared or fitting):
        inv = div(scale, unary(Op.SQRT, add(var, const(eps, var))))
        return add(mul(sub(x, per_channel(mean)), per_channel(inv)), per_channel(bias))
    axes = (0, *range(2, r))
    batch_mean, batch_var, centered = _moments(x, axes, keepdims=False)
    inv = div(scale, unary(Op.SQRT, add(batch_var, const(eps, batch_var))))
    y = add(mul(centered, per_channel(inv)), per_channel(bias))
    keep = const(momentum, mean)
    new_mean = add(mul(mean, keep), mul(batch_mean, const(1 - momentum, mean)))
    new_var = add(mul(var, keep), mul(batch_var, const(1 - momentum, var)))
    if fitting:
        n.variable(3).assign(new_mean)
        n.variable(4).assign(new_var)
    return (y, new_mean, new_var) if declared else y


@importer("LayerNormalization")
def _layer_norm(n: NodeContext):
    x, scale, bias = n.input(0), n.input(1), n.input(2)
    r = rank(x)
    axis = normalize_axis(n.attr("axis", -1), r, n.where)
    axes = tuple(range(axis, r))
    d = dtype(x)
    # stash_type=1 (the default): statistics in float32 even for float16 inputs.
    stash = DType.float32 if n.attr("stash_type", 1) == 1 and d.itemsize < 4 else d
    xs = cast(x, stash)
    mean, var, centered = _moments(xs, axes)
    inv_std = unary(Op.RSQRT, add(var, const(n.attr("epsilon", 1e-5), var)))
    normalized = mul(centered, inv_std)
    y = mul(cast(normalized, d), scale)
    if bias is not None:
        y = add(y, bias)
    return y, mean, inv_std


@importer("InstanceNormalization")
def _instance_norm(n: NodeContext):
    x, scale, bias = n.input(0), n.input(1), n.input(2)
    r = rank(x)
    _, var, centered = _moments(x, range(2, r))
    inv_std = unary(Op.RSQRT, add(var, const(n.attr("epsilon", 1e-5), var)))

    def per_channel(v):
        return reshape_to(v, (shape(v)[0],) + (1,) * (r - 2))

    return add(mul(mul(centered, inv_std), per_channel(scale)), per_channel(bias))


def _softmax_axes(n: NodeContext, x) -> tuple[int, ...]:
    r = rank(x)
    if n.opset < 13:
        # Before opset 13 the input was seen as 2-D: [dims before axis] x [axis and after].
        return tuple(range(normalize_axis(n.attr("axis", 1), r, n.where), r))
    return (normalize_axis(n.attr("axis", -1), r, n.where),)


@importer("Softmax")
def _softmax(n: NodeContext):
    x = n.input(0)
    axes = _softmax_axes(n, x)
    e = unary(Op.EXP, sub(x, _reduce(Op.REDUCE_MAX, x, axes)))
    return div(e, _reduce(Op.REDUCE_SUM, e, axes))


@importer("LogSoftmax")
def _log_softmax(n: NodeContext):
    x = n.input(0)
    axes = _softmax_axes(n, x)
    shifted = sub(x, _reduce(Op.REDUCE_MAX, x, axes))
    return sub(shifted, unary(Op.LOG, _reduce(Op.REDUCE_SUM, unary(Op.EXP, shifted), axes)))

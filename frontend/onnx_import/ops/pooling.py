"""MaxPool, AveragePool and the global pools.

Without dilation a pool is the IR's channels-last POOL, whose padded
positions never win a max and are not counted by an average. ONNX's options
map onto that: ``ceil_mode`` adds high padding so the last window (which must
start inside the input or its pads) exists; ``count_include_pad=1`` pads the
input with zeros explicitly first, so those zeros are counted while the
ceil-mode extra is not, as ONNX specifies. Integer max pools run in float64,
exact for every integer dtype Horn has that ONNX allows here (8-bit).

With dilation (or pads as wide as the window, which POOL rejects) the pool is
computed separably: a window is a product of per-axis windows, so the max
(or sum) over it is a max over axis 1 of a max over axis 2..., each a max of
``kernel`` strided slices. Averages divide by the per-window count of the
positions ONNX counts, an outer product of per-axis counts known at import.
"""
from __future__ import annotations

import math

import numpy as np

from frontend.onnx_import.context import NodeContext, NodeView
from frontend.onnx_import.errors import ATTRIBUTE
from frontend.onnx_import.ops.conv import explicit_pads, spatial_attrs, to_channels_first, to_channels_last
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import add, cast, const, div, dtype, maximum, rank, shape, static_size
from frontend.ops.core import apply
from frontend.ops.movement import slice_axes
from ir.attrs import PadAttrs, PoolAttrs, PoolKind, ReduceAttrs
from ir.dtypes import DType
from ir.opcodes import Op


def _output_sizes(sizes, window, strides, dilations, pads, ceil_mode: bool) -> list[int]:
    out = []
    for size, k, s, d, (lo, hi) in zip(sizes, window, strides, dilations, pads):
        span = (k - 1) * d + 1
        room = size + lo + hi - span
        if ceil_mode:
            o = -(-room // s) + 1
            if (o - 1) * s >= size + lo:   # the last window would start in the high padding
                o -= 1
        else:
            o = room // s + 1
        out.append(max(o, 0))
    return out


def _pool_geometry(n: NodeContext, x):
    nsp = rank(x) - 2
    window = tuple(int(k) for k in n.attr("kernel_shape"))
    if len(window) != nsp:
        raise ValueError(f"kernel_shape {window} must have {nsp} entries for a rank-{rank(x)} input")
    sizes = [static_size(d, f"{n.op_type}'s spatial dims") for d in shape(x)[2:]]
    strides, dilations = spatial_attrs(n, nsp)
    pads = explicit_pads(n, sizes, window, strides, dilations)
    outs = _output_sizes(sizes, window, strides, dilations, pads, bool(n.attr("ceil_mode", 0)))
    # High padding the last window needs beyond the declared pads (ceil mode).
    extra = [max((o - 1) * s + (k - 1) * d + 1 - (size + lo + hi), 0)
             for o, s, k, d, size, (lo, hi) in zip(outs, strides, window, dilations, sizes, pads)]
    return window, sizes, strides, dilations, pads, outs, extra


def _check_max_pool(view: NodeView):
    if view.has_output(1):
        return ATTRIBUTE, "the optional Indices output of MaxPool is not supported"
    return None


@importer("MaxPool", check=_check_max_pool)
def _max_pool(n: NodeContext):
    x = n.input(0)
    d = dtype(x)
    xf = x if d.is_floating else cast(x, DType.float64)
    y = _pool(n, xf, PoolKind.MAX, count_include_pad=False)
    return y if d.is_floating else cast(y, d)


@importer("AveragePool")
def _average_pool(n: NodeContext):
    return _pool(n, n.input(0), PoolKind.AVG, bool(n.attr("count_include_pad", 0)))


def _pool(n: NodeContext, x, kind: PoolKind, count_include_pad: bool):
    window, sizes, strides, dilations, pads, outs, extra = _pool_geometry(n, x)
    pool_pads = [(lo, hi + e) for (lo, hi), e in zip(pads, extra)]
    if kind is PoolKind.AVG and count_include_pad:
        pool_pads = [(0, e) for e in extra]
    fits = all(lo < k and hi < k for (lo, hi), k in zip(pool_pads, window))
    if any(d != 1 for d in dilations) or not fits:
        return _separable_pool(x, kind, count_include_pad, window, sizes, strides, dilations, pads,
                               outs, extra)
    xc = to_channels_last(x)
    if kind is PoolKind.AVG and count_include_pad and any(lo or hi for lo, hi in pads):
        xc = apply(Op.PAD, [xc], PadAttrs(((0, 0), *pads, (0, 0)), 0.0))
    y = apply(Op.POOL, [xc], PoolAttrs(kind, window, strides, tuple(pool_pads)))
    return to_channels_first(y)


def _separable_pool(x, kind, count_include_pad, window, sizes, strides, dilations, pads, outs, extra):
    fill = -math.inf if kind is PoolKind.MAX else 0.0
    full = ((0, 0), (0, 0), *[(lo, hi + e) for (lo, hi), e in zip(pads, extra)])
    y = apply(Op.PAD, [x], PadAttrs(full, fill)) if any(a or b for a, b in full) else x
    combine = maximum if kind is PoolKind.MAX else add
    for axis, (k, s, d, o) in enumerate(zip(window, strides, dilations, outs)):
        taps = [slice_axes(y, {2 + axis: (j * d, j * d + (o - 1) * s + 1, s)}) for j in range(k)]
        acc = taps[0]
        for t in taps[1:]:
            acc = combine(acc, t)
        y = acc
    if kind is PoolKind.MAX:
        return y
    counts = np.ones((1, 1), np.float64)
    for k, s, d, o, size, (lo, hi) in zip(window, strides, dilations, outs, sizes, pads):
        first, last = (-lo, size + hi) if count_include_pad else (0, size)
        pos = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - lo
        per_axis = ((pos >= first) & (pos < last)).sum(axis=1)
        counts = counts[..., None] * per_axis
    return div(y, const(np.maximum(counts, 1), x))


@importer("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(n: NodeContext):
    x = n.input(0)
    op = Op.REDUCE_MEAN if n.op_type == "GlobalAveragePool" else Op.REDUCE_MAX
    return apply(op, [x], ReduceAttrs(tuple(range(2, rank(x))), True))

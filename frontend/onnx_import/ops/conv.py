"""Conv and ConvTranspose: ONNX's channels-first layout around Horn's channels-last CONV.

The input is transposed NC... -> N...C, the CONV runs, the bias is added on
the (now last) channel axis, and the result is transposed back. Kernels go
to the IR's ``(*window, in // groups, out)`` layout through ``layouts``, so an
initializer kernel is stored that way once, at import.

ConvTranspose is a CONV of the input dilated by the strides
(``lhs_dilation``) with the kernel flipped and its in/out channels swapped
per group; ONNX's pads, output_padding and output_shape become that CONV's
padding, and where the padding would be negative, a crop of its result.
"""
from __future__ import annotations

from frontend.onnx_import.context import NodeContext, NodeView
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import add, rank, shape, static_size
from frontend.ops.core import apply
from frontend.ops.movement import reshape_to, slice_axes
from frontend.tensors import TracedTensor
from ir.attrs import ConvAttrs, SliceAttrs, TransposeAttrs
from ir.opcodes import Op


def permute(x, perm: tuple[int, ...]):
    """TRANSPOSE by ``perm``; when ``x`` is itself the inverse transpose of a value, that value.

    Conv followed by a pool (or Conv) transposes back to channels-first only to
    transpose to channels-last again; cancelling the pair here keeps those
    round trips out of the graph (the unused transpose is dropped by DCE).
    """
    if isinstance(x, TracedTensor):
        node = x.value.producer
        if node is not None and node.op is Op.TRANSPOSE and \
                tuple(node.attrs.perm[p] for p in perm) == tuple(range(len(perm))):
            return TracedTensor(node.inputs[0], x.tracer)
    return apply(Op.TRANSPOSE, [x], TransposeAttrs(perm))


def to_channels_last(x):
    r = rank(x)
    return permute(x, (0, *range(2, r), 1))


def to_channels_first(x):
    r = rank(x)
    return permute(x, (0, r - 1, *range(1, r - 1)))


def spatial_attrs(n: NodeContext, nsp: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(strides, dilations), defaulting to ones."""
    strides = tuple(n.attr("strides", [1] * nsp))
    dilations = tuple(n.attr("dilations", [1] * nsp))
    if len(strides) != nsp or len(dilations) != nsp:
        raise ValueError(f"strides {strides} and dilations {dilations} must have {nsp} entries")
    return strides, dilations


def explicit_pads(n: NodeContext, sizes, window, strides, dilations) -> tuple[tuple[int, int], ...]:
    """ONNX ``pads`` / ``auto_pad`` as (low, high) per spatial axis, for Conv and the pools."""
    nsp = len(sizes)
    auto = n.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for size, k, s, d in zip(sizes, window, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return tuple(out)
    if auto == "VALID":
        return ((0, 0),) * nsp
    if auto != "NOTSET":
        raise ValueError(f"auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID; received {auto!r}")
    pads = list(n.attr("pads", [0] * (2 * nsp)))
    if len(pads) != 2 * nsp:
        raise ValueError(f"pads {pads} must have {2 * nsp} entries")
    return tuple((int(pads[i]), int(pads[i + nsp])) for i in range(nsp))


def conv_kernel(w, view: NodeView):
    """ONNX ``(O, I / g, *window)`` -> the IR's ``(*window, I / g, O)``."""
    r = rank(w)
    return apply(Op.TRANSPOSE, [w], TransposeAttrs((*range(2, r), 1, 0)))


def conv_transpose_kernel(w, view: NodeView):
    """ONNX ``(C, M / g, *window)`` -> a CONV kernel ``(*window, C / g, M)``, window flipped."""
    s = shape(w)
    g = int(view.attr("group", 1))
    c, mg, window = s[0], s[1], s[2:]
    nsp = len(window)
    w5 = reshape_to(w, (g, c // g, mg, *window))
    w5 = apply(Op.TRANSPOSE, [w5], TransposeAttrs((*range(3, 3 + nsp), 1, 0, 2)))
    k = reshape_to(w5, (*window, c // g, g * mg))
    return apply(Op.SLICE, [k], SliceAttrs(
        starts=tuple(d - 1 for d in window) + (0, 0), stops=(None,) * (nsp + 2),
        steps=(-1,) * nsp + (1, 1)))


def _finish(n: NodeContext, y, crops=None):
    """Bias on the channel axis, optional crops of the spatial axes, then back to channels-first."""
    b = n.input(2)
    if b is not None:
        y = add(y, b)
    if crops and any(lo or hi for lo, hi in crops):
        sizes = shape(y)[1:-1]
        y = slice_axes(y, {1 + i: (lo, size - hi, 1) for i, ((lo, hi), size) in
                           enumerate(zip(crops, sizes))})
    return to_channels_first(y)


@importer("Conv", layouts={1: conv_kernel})
def _conv(n: NodeContext):
    x, w = n.input(0), n.weight(1)
    nsp = rank(x) - 2
    window = shape(w)[:nsp]
    sizes = [static_size(d, "Conv's spatial dims") for d in shape(x)[2:]]
    strides, dilations = spatial_attrs(n, nsp)
    pads = explicit_pads(n, sizes, window, strides, dilations)
    y = apply(Op.CONV, [to_channels_last(x), w], ConvAttrs(
        strides=strides, padding=pads, dilation=dilations, lhs_dilation=(1,) * nsp,
        groups=int(n.attr("group", 1))))
    return _finish(n, y)


@importer("ConvTranspose", layouts={1: conv_transpose_kernel})
def _conv_transpose(n: NodeContext):
    x, k = n.input(0), n.weight(1)
    nsp = rank(x) - 2
    window = shape(k)[:nsp]
    sizes = [static_size(d, "ConvTranspose's spatial dims") for d in shape(x)[2:]]
    strides, dilations = spatial_attrs(n, nsp)
    out_pad = tuple(n.attr("output_padding", [0] * nsp))
    spans = [(w - 1) * d + 1 for w, d in zip(window, dilations)]
    full = [s * (i - 1) + op + span for s, i, op, span in zip(strides, sizes, out_pad, spans)]
    auto = n.attr("auto_pad", "NOTSET")
    output_shape = n.attr("output_shape", None)
    if output_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [i * s for i, s in zip(sizes, strides)]
    if output_shape is not None:
        # ONNX's rule: the total padding makes the output output_shape; the odd unit goes to the
        # end for SAME_UPPER and to the start otherwise.
        totals = [f - o for f, o in zip(full, list(output_shape)[-nsp:])]
        pads = [(t // 2, t - t // 2) if auto == "SAME_UPPER" else (t - t // 2, t // 2) for t in totals]
    elif auto == "VALID":
        pads = [(0, 0)] * nsp
    else:
        raw = list(n.attr("pads", [0] * (2 * nsp)))
        pads = [(int(raw[i]), int(raw[i + nsp])) for i in range(nsp)]
    # The equivalent CONV pads by span - 1 - pad on each side (output_padding on the high one);
    # a negative amount cannot be padded, so it is cropped from the result instead.
    conv_pads, crops = [], []
    for span, (lo, hi), op in zip(spans, pads, out_pad):
        plo, phi = span - 1 - lo, span - 1 - hi + op
        conv_pads.append((max(plo, 0), max(phi, 0)))
        crops.append((max(-plo, 0), max(-phi, 0)))
    y = apply(Op.CONV, [to_channels_last(x), k], ConvAttrs(
        strides=(1,) * nsp, padding=tuple(conv_pads), dilation=dilations, lhs_dilation=strides,
        groups=int(n.attr("group", 1))))
    return _finish(n, y, crops)

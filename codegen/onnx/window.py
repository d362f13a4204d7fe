"""ONNX for convolution and pooling.

Layout: the IR (and Keras) is channels-last, ONNX's Conv and pools are
channels-first. The exported graph keeps the model's own layout at its inputs
and outputs and wraps each window op in a Transpose pair (NHWC -> NCHW ->
NHWC). A pair is local, so every op stays correct on its own; ONNX Runtime's
transpose optimizer cancels the back-to-back pairs between consecutive
window ops when it loads the model.

Kernels: the IR's kernel is Keras' ``(*window, in // groups, out)``. ONNX
wants ``(out, in // groups, *window)``. A kernel that depends on weights and
constants only (always, for Keras layers: depthwise kernels are reshaped and
transposed-conv kernels flipped in the graph) is computed at export time and
stored in ONNX's layout, so the file holds one ready initializer per kernel.

``lhs_dilation`` (transposed convolution): with unit strides and a known
kernel it is an ONNX ``ConvTranspose`` with strides = lhs_dilation and the
window flipped back. Otherwise the zeros are inserted explicitly, by a
depthwise ``ConvTranspose`` with a unit kernel (exact: every output element
is one input times 1.0, or nothing), and a plain ``Conv`` follows.
"""
from __future__ import annotations

import numpy as np

from codegen.onnx.emitter import OnnxBuilder, flat_pads, onnx_mapping, source_param, spatial_perms
from ir.attrs import ConvAttrs, PoolAttrs, PoolKind
from ir.graph import Node
from ir.opcodes import Op


@onnx_mapping(Op.CONV)
def _conv(b: OnnxBuilder, node: Node) -> None:
    a: ConvAttrs = node.attrs
    nsp = node.inputs[1].type.rank - 2
    to_first, to_last = spatial_perms(nsp + 2)
    x = b.add("Transpose", [b.input(node, 0)], perm=to_first)
    kernel = b.static(node.inputs[1])
    if any(d != 1 for d in a.lhs_dilation):
        if kernel is not None and all(s == 1 for s in a.strides):
            y = _conv_transpose(b, node, x, kernel)
            b.add("Transpose", [y], b.output(node), perm=to_last)
            return
        x = _insert_zeros(b, node, x)
    if kernel is not None:
        w = b.const(np.ascontiguousarray(kernel.transpose(nsp + 1, nsp, *range(nsp))), name=_kernel_name(node))
    else:
        w = b.add("Transpose", [b.input(node, 1)], perm=[nsp + 1, nsp, *range(nsp)])
    y = b.add("Conv", [x, w], kernel_shape=list(node.inputs[1].shape[:nsp]), strides=list(a.strides),
              pads=flat_pads(a.padding), dilations=list(a.dilation), group=a.groups)
    b.add("Transpose", [y], b.output(node), perm=to_last)


def _kernel_name(node: Node) -> str:
    """The weight's own name for its ONNX-layout copy (the original is then left out)."""
    param = source_param(node.inputs[1])
    return param.name if param is not None else f"{node.name}/kernel"


def _conv_transpose(b: OnnxBuilder, node: Node, x: str, kernel: np.ndarray) -> str:
    """The IR conv over a zero-dilated input as one ONNX ConvTranspose (channels-first result).

    IR: ``out[o] = sum over k, i with o + k*dil - low = i*d of x[i] * w[k]``.
    ONNX ConvTranspose with stride ``d`` and kernel ``W``: ``out[o] = sum over
    k', i with o + pad_begin = i*d + k'*dil of x[i] * W[k']``. They agree for
    ``W[k'] = w[K-1-k']``, ``pad_begin = (K-1)*dil - low`` and
    ``pad_end = (K-1)*dil - high``. ONNX pads crop; a negative pad (the IR
    padded past the kernel's reach, Keras' ``output_padding``) is zeros,
    added after by a Pad.
    """
    a: ConvAttrs = node.attrs
    nsp = kernel.ndim - 2
    window = kernel.shape[:nsp]
    cin_g, cout = kernel.shape[-2:]
    g = a.groups
    reach = [(k - 1) * d for k, d in zip(window, a.dilation)]
    begin = [r - lo for r, (lo, _) in zip(reach, a.padding)]
    end = [r - hi for r, (_, hi) in zip(reach, a.padding)]
    flipped = kernel[tuple(slice(None, None, -1) for _ in range(nsp))]
    # (*K, cin/g, cout) -> (*K, cin/g, g, cout/g) -> (g, cin/g, cout/g, *K) -> (cin, cout/g, *K)
    w = flipped.reshape(*window, cin_g, g, cout // g).transpose(nsp + 1, nsp, nsp + 2, *range(nsp))
    w = b.const(np.ascontiguousarray(w.reshape(g * cin_g, cout // g, *window)), name=_kernel_name(node))
    y = b.add("ConvTranspose", [x, w], kernel_shape=list(window), strides=list(a.lhs_dilation),
              dilations=list(a.dilation), group=g,
              pads=[max(p, 0) for p in begin] + [max(p, 0) for p in end])
    if any(p < 0 for p in begin + end):
        zeros = [0, 0] + [max(-p, 0) for p in begin] + [0, 0] + [max(-p, 0) for p in end]
        y = b.add("Pad", [y, b.ints(zeros, "pads")], mode="constant")
    return y


def _insert_zeros(b: OnnxBuilder, node: Node, x: str) -> str:
    """``d - 1`` zeros between neighbours along each spatial axis of a channels-first tensor."""
    a: ConvAttrs = node.attrs
    nsp = len(a.lhs_dilation)
    channels = node.inputs[0].shape[-1]
    unit = b.const(np.ones((channels, 1) + (1,) * nsp, node.inputs[0].dtype.numpy), hint="unit_kernel")
    return b.add("ConvTranspose", [x, unit], kernel_shape=[1] * nsp, strides=list(a.lhs_dilation),
                 group=channels)


@onnx_mapping(Op.POOL)
def _pool(b: OnnxBuilder, node: Node) -> None:
    # Padding never wins a max (ONNX pads MaxPool with -inf) and is not counted by an
    # average (count_include_pad=0): Keras' 'same' pooling, which the IR defines.
    a: PoolAttrs = node.attrs
    to_first, to_last = spatial_perms(len(a.window) + 2)
    x = b.add("Transpose", [b.input(node, 0)], perm=to_first)
    common = dict(kernel_shape=list(a.window), strides=list(a.strides), pads=flat_pads(a.padding))
    if a.kind is PoolKind.MAX:
        y = b.add("MaxPool", [x], **common)
    else:
        y = b.add("AveragePool", [x], count_include_pad=0, **common)
    b.add("Transpose", [y], b.output(node), perm=to_last)

"""VJP rules of the window ops: conv, pool and pool_grad.

conv, with respect to the input, is again a convolution (the transposed one):
the cotangent dilated by the forward strides (``lhs_dilation``), the kernel
flipped with its channel roles swapped per group, and paddings chosen so that
output position ``i`` lands on input element ``i``; the forward
``lhs_dilation`` becomes the stride. With respect to the kernel it is a
contraction over batch and output positions of the cotangent with the input
patch each tap saw: the patches are strided slices of the (dilated, padded)
input, and one batched matmul per group contracts them. The classic "conv
over the batch axis" formulation would need the batch as a conv's channel
dim, which must be static, while the batch is symbolic here.

pool's adjoint is ``POOL_GRAD``: routing each window's cotangent to its
maximum (or spreading it over its real taps) is a scatter that no
combination of the other ops expresses at pooling's cost. Max-pool ties go
to the first maximal position in row-major window order (TensorFlow's and
PyTorch's rule; XLA's select-and-scatter also picks one position).
"""
from __future__ import annotations

import itertools

import numpy as np

from ir.attrs import ConcatAttrs, ConvAttrs, PoolAttrs, PoolKind
from ir.dtypes import DType
from ir.graph import Graph, Node, Value
from ir.opcodes import Op
from passes.vjp.emit import Emit, VjpRule, whole


def _conv(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,) = cts
    x, w = node.inputs
    if any(d == 0 for d in ct.shape[1:]) or any(d == 0 for d in x.shape[1:]):
        return [None, None]          # no output position or no input element: nothing flows
    e = Emit(graph, node)
    return [_conv_input_grad(e, x, w, ct, node.attrs), _conv_kernel_grad(e, x, w, ct, node.attrs)]


def _conv_input_grad(e: Emit, x: Value, w: Value, ct: Value, a: ConvAttrs) -> Value:
    """dx as one convolution of ``ct``; see the module docstring.

    Along one axis (window k, stride s, dilation d, lhs dilation D, pad_lo p),
    input element i sits at position ``p + i*D`` of the padded, dilated input,
    and ``dx[i] = sum_k' ctd[p + i*D - (k-1)d + k'd] wflip[k']`` with ``ctd`` the
    cotangent dilated by s. So the new conv pads ``lo = (k-1)d - p`` and steps D.
    When ``lo < 0`` (padding wider than the kernel's reach) the conv computes
    every padded position with stride 1 instead, and a strided slice keeps the
    input elements.
    """
    nsp = w.type.rank - 2
    g = a.groups
    cin_g, cout = w.shape[-2], w.shape[-1]
    flipped = e.slice(w, [(k - 1, None, -1) for k in w.shape[:nsp]] + [whole(cin_g), whole(cout)])
    if g == 1:
        kernel = e.transpose(flipped, (*range(nsp), nsp + 1, nsp))                # (*K, O, C)
    else:
        cout_g = cout // g
        split = e.reshape(flipped, (*w.shape[:nsp], cin_g, g, cout_g))
        kernel = e.reshape(e.transpose(split, (*range(nsp), nsp + 2, nsp + 1, nsp)),
                           (*w.shape[:nsp], cout_g, g * cin_g))                     # (*K, O/g, C)
    strides, pads, crop = [], [], [whole(ct.shape[0])]
    for i in range(nsp):
        size, k, s, d, lhs = x.shape[1 + i], w.shape[i], a.strides[i], a.dilation[i], a.lhs_dilation[i]
        pad_lo = a.padding[i][0]
        span = (k - 1) * d + 1
        ct_len = (ct.shape[1 + i] - 1) * s + 1
        lo = (k - 1) * d - pad_lo
        if lo >= 0:
            hi = (size - 1) * lhs + span - ct_len - lo
            strides.append(lhs)
            crop.append((0, size, 1))
        else:
            lo = (k - 1) * d
            hi = pad_lo + (size - 1) * lhs + span - ct_len - lo
            strides.append(1)
            crop.append((pad_lo, pad_lo + (size - 1) * lhs + 1, lhs))
        # A negative hi means the cotangent reaches past the last position needed:
        # pad nothing there and let the crop drop the extra outputs.
        pads.append((lo, max(hi, 0)))
    attrs = ConvAttrs(tuple(strides), tuple(pads), a.dilation, a.strides, g)
    full = e.op(Op.CONV, [ct, kernel], attrs)
    return e.slice(full, crop + [whole(x.shape[-1])])


def _conv_kernel_grad(e: Emit, x: Value, w: Value, ct: Value, a: ConvAttrs) -> Value:
    """dw[k, ci, co] = sum over batch and output positions o of ct[o, co] * xp[o*s + k*d, ci].

    ``xp`` is the input dilated by ``lhs_dilation`` and padded; the patch of tap
    k over all o is one strided slice of it. Patches of all taps side by side
    ``(N, P, K*C)`` meet the cotangent ``(N, P, O)`` in one matmul per batch
    element (and group), then a sum over the batch.
    """
    nsp = w.type.rank - 2
    window = tuple(w.shape[:nsp])
    cin_g, cout = w.shape[-2], w.shape[-1]
    c_in = x.shape[-1]
    g = a.groups
    batch = x.shape[0]
    out_sp = tuple(ct.shape[1:-1])
    xd = x
    for i in range(nsp):
        xd = e.dilate(xd, 1 + i, a.lhs_dilation[i])
    pads = [(0, 0)]
    for i in range(nsp):
        reach = (out_sp[i] - 1) * a.strides[i] + (window[i] - 1) * a.dilation[i] + 1
        pad_lo = a.padding[i][0]
        # Only the high padding some tap reads is materialized.
        pads.append((pad_lo, max(0, reach - xd.shape[1 + i] - pad_lo)))
    xp = e.pad(xd, pads + [(0, 0)])
    positions = int(np.prod(out_sp, dtype=np.int64))
    taps = []
    for offs in itertools.product(*(range(k) for k in window)):
        bounds = [whole(batch)]
        for i, o in enumerate(offs):
            start = o * a.dilation[i]
            bounds.append((start, start + (out_sp[i] - 1) * a.strides[i] + 1, a.strides[i]))
        patch = e.slice(xp, bounds + [whole(c_in)])
        taps.append(e.reshape(patch, (batch, positions, 1, c_in)))
    patches = taps[0] if len(taps) == 1 else e.op(Op.CONCAT, taps, ConcatAttrs(2))
    ntaps = len(taps)
    ct3 = e.reshape(ct, (batch, positions, cout))
    if g == 1:
        cols = e.reshape(patches, (batch, positions, ntaps * c_in))
        rows = e.transpose(ct3, (0, 2, 1))                                      # (N, O, P)
        per_example = e.op(Op.MATMUL, [rows, cols])                              # (N, O, K*C)
        total = e.sum(per_example, (0,))
        return e.reshape(e.transpose(total, (1, 0)), (*window, c_in, cout))
    cout_g = cout // g
    split = e.reshape(patches, (batch, positions, ntaps, g, cin_g))
    cols = e.reshape(e.transpose(split, (0, 3, 1, 2, 4)), (batch, g, positions, ntaps * cin_g))
    rows = e.transpose(e.reshape(ct3, (batch, positions, g, cout_g)), (0, 2, 3, 1))   # (N, g, O/g, P)
    total = e.sum(e.op(Op.MATMUL, [rows, cols]), (0,))                         # (g, O/g, K*C/g)
    per_tap = e.reshape(total, (g, cout_g, ntaps, cin_g))
    return e.reshape(e.transpose(per_tap, (2, 3, 0, 1)), (*window, cin_g, cout))


def _pool(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,), (x,) = cts, node.inputs
    return [Emit(graph, node).op(Op.POOL_GRAD, [x, ct], node.attrs)]


def _pool_grad(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """pool_grad is linear in dy; in x it is piecewise constant (no gradient).

    avg: the adjoint of spreading ``dy / count`` over each window is averaging
    over the window, i.e. avg pooling itself. max: each window reads the
    cotangent at the position its ``dy`` went to, found as ``POOL_GRAD`` finds
    it (the first real tap holding the maximum, a NaN winning) by a scan over
    the window's taps, each a strided slice: with ``x`` padded by ``-inf`` and
    static masks of which taps are real and which is the first real one.
    """
    (ct,), (x, dy) = cts, node.inputs
    a: PoolAttrs = node.attrs
    e = Emit(graph, node)
    if a.kind is PoolKind.AVG:
        return [None, e.op(Op.POOL, [ct], a)]
    nsp = len(a.window)
    out_sp = tuple(dy.shape[1:-1])
    in_sp = tuple(x.shape[1:-1])
    pads = [(0, 0), *a.padding, (0, 0)]
    xp = e.pad(x, pads, float("-inf"))
    cp = e.pad(ct, pads)
    real = np.pad(np.ones(in_sp, bool), a.padding)
    seen = np.zeros(out_sp, bool)          # output positions that already met a real tap
    best = picked = None
    for offs in itertools.product(*(range(k) for k in a.window)):
        idx = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offs, out_sp, a.strides))
        tap_real = real[idx]
        first = tap_real & ~seen
        seen |= tap_real
        if not tap_real.any():
            continue
        bounds = [whole(x.shape[0])] + [(i.start, i.stop, i.step) for i in idx] + [whole(x.shape[-1])]
        xk, ck = e.slice(xp, bounds), e.slice(cp, bounds)
        take = None
        if best is not None:
            wins = e.op(Op.GREATER, [xk, best])
            nan_wins = e.op(Op.LOGICAL_AND, [e.op(Op.NOT_EQUAL, [xk, xk]), e.op(Op.EQUAL, [best, best])])
            take = e.op(Op.LOGICAL_OR, [wins, nan_wins])
            if not tap_real.all():
                take = e.op(Op.LOGICAL_AND, [take, _mask(e, tap_real, nsp)])
        if first.any():
            take = _mask(e, first, nsp) if take is None else e.op(Op.LOGICAL_OR, [take, _mask(e, first, nsp)])
        if best is None and first.all():
            best, picked = xk, ck
            continue
        best = e.select(take, xk, best if best is not None else e.const(-np.inf, x.dtype))
        picked = e.select(take, ck, picked if picked is not None else e.const(0, x.dtype))
    return [None, picked]        # picked is None only for an empty input: no window has a tap


def _mask(e: Emit, mask: np.ndarray, nsp: int) -> Value:
    """A static per-position mask as a bool constant ``(1, *spatial, 1)`` that broadcasts."""
    return e.graph.add_constant(mask.reshape((1, *mask.shape, 1)), DType.bool, name=f"{e.prefix}/mask")


RULES: dict[Op, VjpRule] = {
    Op.CONV: _conv,
    Op.POOL: _pool,
    Op.POOL_GRAD: _pool_grad,
}

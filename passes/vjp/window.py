"""VJP rules of the window ops: conv, pool and pool_grad.

conv, with respect to the input, is again a convolution (the transposed one):
the cotangent dilated by the forward strides (``lhs_dilation``), the kernel
flipped with its channel roles swapped per group, and paddings chosen so that
output position ``i`` lands on input element ``i``; the forward
``lhs_dilation`` becomes the stride. With respect to the kernel it is a
contraction over batch and output positions of the cotangent with the input
element each tap saw: one gather builds, per example, the (channels x taps,
positions) matrix of those elements, and one batched MATMUL against the
cotangent as it lies, summed over the batch, contracts them. The classic
"conv over the batch axis" formulation would need the batch as a conv's
channel dim, which must be static, while the batch is symbolic here.

pool's adjoint is ``POOL_GRAD``: routing each window's cotangent to its
maximum (or spreading it over its real taps) is a scatter that no
combination of the other ops expresses at pooling's cost. Max-pool ties go
to the first maximal position in row-major window order (TensorFlow's and
PyTorch's rule; XLA's select-and-scatter also picks one position).
"""
from __future__ import annotations

import itertools

import numpy as np

from ir.attrs import ConvAttrs, GatherAttrs, PoolAttrs, PoolKind
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


# From this many input channels a dense conv's patches are gathered channels-last (each
# gather step copies a row of C contiguous elements, and the cotangent is transposed once);
# below it, and for grouped convs, channel-major (one element per step, no cotangent
# transpose). Measured on the seed convnets' layers: rows are 10-15% faster from C = 32 on.
_ROWS_MIN_CHANNELS = 8


def _conv_kernel_grad(e: Emit, x: Value, w: Value, ct: Value, a: ConvAttrs) -> Value:
    """dw[k, ci, co] = sum over batch and output positions p of xp[p*s + k*d, ci] * ct[p, co].

    ``xp`` is the input dilated by ``lhs_dilation`` and padded. Per example this is
    one matrix product between the cotangent ``(P, O)`` and the patches: for every
    output position p and tap k, the input element the tap read there. One GATHER
    builds all patches, with a static (tap, position) index table (``_tap_table``)
    that sends taps landing in the padding or on a hole of the dilation to one zero
    appended to the input: no dilated or padded copy, no per-tap slices, no concat.
    Then one batched MATMUL and a sum over the batch:

    * dense, C >= ``_ROWS_MIN_CHANNELS``: patches ``(N, P, K*C)`` gathered from the
      input as it lies (rows of C), ``ct^T (N, O, P) @ patches``, and a transpose of
      the small (O, K*C) result;
    * otherwise: patches ``(N, C, K, P)`` gathered from the channel-major input (a
      reshape when C = 1), ``patches (N, [g,] C/g*K, P) @ ct (N, [g,] P, O/g)`` with
      the cotangent as it lies (transposed per group when grouped).

    The batch cannot join the contraction axis (one GEMM with K = N*P), because it is
    symbolic and a reshape cannot merge it with a static axis.
    """
    nsp = w.type.rank - 2
    window = tuple(int(k) for k in w.shape[:nsp])
    cin_g, cout = int(w.shape[-2]), int(w.shape[-1])
    c_in = int(x.shape[-1])
    g = a.groups
    batch = x.shape[0]
    in_sp = tuple(int(s) for s in x.shape[1:-1])
    out_sp = tuple(int(s) for s in ct.shape[1:-1])
    hw = int(np.prod(in_sp, dtype=np.int64))
    positions = int(np.prod(out_sp, dtype=np.int64))
    ntaps = int(np.prod(window, dtype=np.int64))
    table = _tap_table(in_sp, out_sp, window, a)
    ct3 = e.reshape(ct, (batch, positions, cout))
    index_type = DType.int32 if hw < 2**31 else DType.int64
    if g == 1 and c_in >= _ROWS_MIN_CHANNELS:
        # Channels-last patches: each (position, tap) is one contiguous row of C input elements.
        xf = e.reshape(x, (batch, hw, c_in))
        if (table == hw).any():
            xf = e.pad(xf, [(0, 0), (0, 1), (0, 0)])
        index = e.graph.add_constant(np.ascontiguousarray(table.T), index_type, name=f"{e.prefix}/taps")
        cols = e.reshape(e.op(Op.GATHER, [xf, index], GatherAttrs(1)), (batch, positions, ntaps * c_in))
        rows = e.transpose(ct3, (0, 2, 1))                                        # (N, O, P)
        total = e.sum(e.op(Op.MATMUL, [rows, cols]), (0,))                        # (O, K*C)
        return e.reshape(e.transpose(total, (1, 0)), (*window, c_in, cout))
    # (N, *spatial, C) -> (N, C, H*W): channel-major, so a tap's row is a gather along the last axis.
    if c_in == 1:
        xt = e.reshape(x, (batch, 1, hw))
    else:
        xt = e.reshape(e.transpose(x, (0, nsp + 1, *range(1, nsp + 1))), (batch, c_in, hw))
    if (table == hw).any():
        xt = e.pad(xt, [(0, 0), (0, 0), (0, 1)])             # the zero that padding and holes read
    index = e.graph.add_constant(table, index_type, name=f"{e.prefix}/taps")
    cols = e.op(Op.GATHER, [xt, index], GatherAttrs(2))                      # (N, C, K, P)
    if g == 1:
        total = e.sum(e.op(Op.MATMUL, [e.reshape(cols, (batch, c_in * ntaps, positions)), ct3]), (0,))
        ck = e.reshape(total, (c_in, ntaps, cout))
        if c_in > 1 and ntaps > 1:
            ck = e.transpose(ck, (1, 0, 2))
        return e.reshape(ck, (*window, c_in, cout))
    cout_g = cout // g
    rows = e.reshape(cols, (batch, g, cin_g * ntaps, positions))
    right = e.transpose(e.reshape(ct3, (batch, positions, g, cout_g)), (0, 2, 1, 3))   # (N, g, P, O/g)
    total = e.sum(e.op(Op.MATMUL, [rows, right]), (0,))                     # (g, C/g * K, O/g)
    per_tap = e.transpose(e.reshape(total, (g, cin_g, ntaps, cout_g)), (2, 1, 0, 3))
    return e.reshape(per_tap, (*window, cin_g, cout))


def _tap_table(in_sp: tuple[int, ...], out_sp: tuple[int, ...], window: tuple[int, ...],
               a: ConvAttrs) -> np.ndarray:
    """(K, P) flat input index read by tap k at output position p; ``prod(in_sp)`` where the
    tap lands in the padding or on a hole of ``lhs_dilation`` (both read zero)."""
    hw = int(np.prod(in_sp, dtype=np.int64))
    nsp = len(in_sp)
    flat = np.zeros(window + out_sp, np.int64)
    valid = np.ones(window + out_sp, bool)
    for i in range(nsp):
        k = np.arange(window[i]).reshape([-1 if j == i else 1 for j in range(nsp)] + [1] * nsp)
        o = np.arange(out_sp[i]).reshape([1] * nsp + [-1 if j == i else 1 for j in range(nsp)])
        p = o * a.strides[i] + k * a.dilation[i] - a.padding[i][0]      # on the dilated input
        lhs = a.lhs_dilation[i]
        valid &= (p >= 0) & (p % lhs == 0) & (p // lhs < in_sp[i])
        flat = flat * in_sp[i] + p // lhs
    table = np.where(valid, flat, hw).reshape(int(np.prod(window, dtype=np.int64)), -1)
    return table.astype(np.int32 if hw < 2**31 else np.int64)


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

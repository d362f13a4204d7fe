"""Sliding-window ops over channels-last tensors: convolution and pooling."""
from __future__ import annotations

import itertools

import numpy as np

from ir.attrs import ConvAttrs, PoolAttrs, PoolKind
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import SymDim, TensorType


def window_output_size(size: int, window: int, stride: int, pad: tuple[int, int],
                       dilation: int = 1, lhs_dilation: int = 1) -> int:
    """Output length along one spatial axis; the single formula every facet uses."""
    dilated_in = (size - 1) * lhs_dilation + 1 if size > 0 else 0
    span = dilation * (window - 1) + 1
    n = dilated_in + pad[0] + pad[1] - span
    return n // stride + 1 if n >= 0 else 0


def _check_spatial(op: str, t: TensorType, nsp: int, lengths: dict[str, tuple]) -> None:
    if t.rank != nsp + 2:
        raise ValueError(f"{op} expects a rank-{nsp + 2} input (batch, {nsp} spatial, channels), "
                         f"received rank {t.rank}")
    for name, val in lengths.items():
        if len(val) != nsp:
            raise ValueError(f"{op}: {name} has {len(val)} entries, expected {nsp}")
    for d in t.shape[1:]:
        if isinstance(d, SymDim):
            raise ValueError(f"{op}: spatial and channel dims must be static, received {d}")


def _conv_infer(ts, a: ConvAttrs):
    x, w = ts
    nsp = w.rank - 2
    if nsp < 1:
        raise ValueError(f"conv kernel must have rank >= 3, received rank {w.rank}")
    _check_spatial("conv", x, nsp, {"strides": a.strides, "padding": a.padding,
                                    "dilation": a.dilation, "lhs_dilation": a.lhs_dilation})
    if x.dtype != w.dtype or not x.dtype.is_floating:
        raise TypeError(f"conv expects floating operands of one dtype, received "
                        f"{x.dtype.name} and {w.dtype.name}")
    cin, cin_g, cout = x.shape[-1], w.shape[-2], w.shape[-1]
    if a.groups < 1 or cin % a.groups or cout % a.groups or cin // a.groups != cin_g:
        raise ValueError(f"input channels {cin} with groups={a.groups} do not match kernel "
                         f"input channels {cin_g} (and output channels {cout} must divide by groups)")
    spatial = tuple(window_output_size(x.shape[1 + i], w.shape[i], a.strides[i], a.padding[i],
                                       a.dilation[i], a.lhs_dilation[i]) for i in range(nsp))
    return (TensorType(x.dtype, (x.shape[0],) + spatial + (cout,)),)


def _dilate_and_pad(x: np.ndarray, lhs_dilation, padding, fill) -> np.ndarray:
    if any(d != 1 for d in lhs_dilation):
        shape = [x.shape[0]] + [(s - 1) * d + 1 if s else 0
                                for s, d in zip(x.shape[1:-1], lhs_dilation)] + [x.shape[-1]]
        xd = np.zeros(shape, x.dtype)
        xd[(slice(None),) + tuple(slice(None, None, d) for d in lhs_dilation) + (slice(None),)] = x
        x = xd
    return np.pad(x, [(0, 0), *padding, (0, 0)], constant_values=fill)


def _windows(x: np.ndarray, window, strides, dilation, out_sp):
    """Yields (window offset, strided view of x at that offset) for each window position."""
    for offs in itertools.product(*(range(k) for k in window)):
        idx = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                    for o, d, s, n in zip(offs, dilation, strides, out_sp))
        yield offs, x[(slice(None),) + idx + (slice(None),)]


def _conv_reference(arrays, a: ConvAttrs):
    x, w = arrays
    nsp = w.ndim - 2
    xp = _dilate_and_pad(x, a.lhs_dilation, a.padding, 0)
    out_sp = [window_output_size(x.shape[1 + i], w.shape[i], a.strides[i], a.padding[i],
                                 a.dilation[i], a.lhs_dilation[i]) for i in range(nsp)]
    g, cin_g, cout = a.groups, w.shape[-2], w.shape[-1]
    cout_g = cout // g
    out = np.zeros([x.shape[0], *out_sp, cout], x.dtype)
    if min(out_sp, default=1) == 0:
        return (out,)
    for offs, xs in _windows(xp, w.shape[:nsp], a.strides, a.dilation, out_sp):
        for gi in range(g):
            out[..., gi * cout_g:(gi + 1) * cout_g] += (
                xs[..., gi * cin_g:(gi + 1) * cin_g] @ w[offs][:, gi * cout_g:(gi + 1) * cout_g])
    return (out,)


register(Op.CONV, ConvAttrs, 2, _conv_infer, _conv_reference)


def _pool_infer(ts, a: PoolAttrs):
    x = ts[0]
    nsp = len(a.window)
    _check_spatial("pool", x, nsp, {"strides": a.strides, "padding": a.padding})
    if not x.dtype.is_floating:
        raise TypeError(f"pool expects a floating operand, received {x.dtype.name}")
    if any(p[0] >= k or p[1] >= k for p, k in zip(a.padding, a.window)):
        raise ValueError(f"pool padding {a.padding} must be smaller than the window {a.window}")
    spatial = tuple(window_output_size(x.shape[1 + i], a.window[i], a.strides[i], a.padding[i])
                    for i in range(nsp))
    return (TensorType(x.dtype, (x.shape[0],) + spatial + (x.shape[-1],)),)


def _pool_reference(arrays, a: PoolAttrs):
    x = arrays[0]
    nsp = len(a.window)
    ones = (1,) * nsp
    out_sp = [window_output_size(x.shape[1 + i], a.window[i], a.strides[i], a.padding[i])
              for i in range(nsp)]
    if a.kind is PoolKind.MAX:
        xp = _dilate_and_pad(x, ones, a.padding, -np.inf)
        out = np.full([x.shape[0], *out_sp, x.shape[-1]], -np.inf, x.dtype)
        for _, xs in _windows(xp, a.window, a.strides, ones, out_sp):
            out = np.maximum(out, xs)
        return (out,)
    xp = _dilate_and_pad(x, ones, a.padding, 0)
    cp = _dilate_and_pad(np.ones((1, *x.shape[1:-1], 1), x.dtype), ones, a.padding, 0)
    total = np.zeros([x.shape[0], *out_sp, x.shape[-1]], x.dtype)
    count = np.zeros([1, *out_sp, 1], x.dtype)
    for (_, xs), (_, cs) in zip(_windows(xp, a.window, a.strides, ones, out_sp),
                                _windows(cp, a.window, a.strides, ones, out_sp)):
        total += xs
        count += cs
    return ((total / count).astype(x.dtype),)


register(Op.POOL, PoolAttrs, 1, _pool_infer, _pool_reference)


def _pool_grad_infer(ts, a: PoolAttrs):
    x, dy = ts
    (y,) = _pool_infer((x,), a)
    if dy != y:
        raise ValueError(f"pool_grad: dy must have the pool's output type {y}, received {dy}")
    return (x,)


def _pool_grad_reference(arrays, a: PoolAttrs):
    """``dx`` for ``y = pool(x)`` and the cotangent ``dy``.

    max: each window's ``dy`` goes whole to the *first* real position (window
    offsets in row-major order) holding the window's maximum, NaN counting as
    the maximum, as ``np.argmax`` picks; padding never receives anything.
    avg: each window's ``dy / count`` goes to each of its ``count`` real positions.
    Windows overlap when strides < window: contributions add.
    """
    x, dy = arrays
    nsp = len(a.window)
    ones = (1,) * nsp
    out_sp = dy.shape[1:-1]
    dxp = np.zeros(_dilate_and_pad(x, ones, a.padding, 0).shape, x.dtype)
    taps = list(_windows(dxp, a.window, a.strides, ones, out_sp))   # views into dxp
    if a.kind is PoolKind.MAX:
        xp = _dilate_and_pad(x, ones, a.padding, -np.inf)
        real = _dilate_and_pad(np.ones((1, *x.shape[1:-1], 1), bool), ones, a.padding, False)
        best = np.full(dy.shape, -np.inf, x.dtype)
        arg = np.full(dy.shape, -1)
        for t, ((_, xs), (_, rs)) in enumerate(zip(_windows(xp, a.window, a.strides, ones, out_sp),
                                                  _windows(real, a.window, a.strides, ones, out_sp))):
            take = rs & ((arg < 0) | (xs > best) | (np.isnan(xs) & ~np.isnan(best)))
            best = np.where(take, xs, best)
            arg = np.where(take, t, arg)
        for t, (_, view) in enumerate(taps):
            # One tap of distinct windows touches distinct positions, so += on the view is exact.
            view += np.where(arg == t, dy, 0).astype(x.dtype)
    else:
        cp = _dilate_and_pad(np.ones((1, *x.shape[1:-1], 1), x.dtype), ones, a.padding, 0)
        count = np.zeros([1, *out_sp, 1], x.dtype)
        for _, cs in _windows(cp, a.window, a.strides, ones, out_sp):
            count += cs
        share = (dy / count).astype(x.dtype)
        for _, view in taps:
            view += share
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(a.padding, x.shape[1:-1]))
    return (np.ascontiguousarray(dxp[(slice(None),) + crop + (slice(None),)]),)


register(Op.POOL_GRAD, PoolAttrs, 2, _pool_grad_infer, _pool_grad_reference)

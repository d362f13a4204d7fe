"""CPU lowerings of the sliding-window ops over channels-last tensors: CONV, POOL and
POOL_GRAD (pooling's adjoint, for autodiff).

All three are direct: no im2col buffer and no padded or dilated copy of the input.
CONV is a register-blocked micro-kernel (see the section comment above
:class:`_ConvEmitter`; :func:`emit_conv_into` is the entry fused kernels call with an
epilogue); POOL and POOL_GRAD run vectors over the channels, which are contiguous in
NHWC. Along one spatial axis, window offset ``k`` of output position ``o`` reads the
position ``p = o*stride + k*dilation - pad_lo`` of the zero-dilated input; ``p`` names
a real element iff ``0 <= p < (size-1)*lhs + 1`` and ``p % lhs == 0`` (then the element
is ``p // lhs``). Padding and the holes ``lhs_dilation`` inserts contribute nothing to
a convolution, never win a max and are not counted by an average, so skipping them by
index arithmetic is exactly the reference's meaning.
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import (I1, I32, I64, PTR, Epilogue, KernelContext, LoweringError, add, for_range,
                                i64, linear_index, lltype, loop_nest, lowering, mul)
from codegen.cpu.host import cpu_info
from codegen.cpu.lowerings._support import declare, entry_alloca, type_suffix
from codegen.cpu.lowerings.linalg import Arith
from codegen.cpu.parallel import parallel_for, rebind
from ir.attrs import ConvAttrs, PoolAttrs, PoolKind
from ir.dtypes import DType
from ir.opcodes import Op
from ir.shapes import TensorType

# float16 convolution is left out for the reason linalg.MATMUL_DTYPES gives: numpy's
# reference accumulates half products in float32.
CONV_DTYPES = frozenset({DType.float32, DType.float64})


def _row_strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of a static shape."""
    out, acc = [1] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        out[i] = acc
        acc *= shape[i]
    return out


@contextlib.contextmanager
def _window_taps(b: ll.IRBuilder, out_pos: Sequence[ll.Value], window: Sequence[int],
                 sizes: Sequence[int], strides: Sequence[int], pads: Sequence[tuple[int, int]],
                 dilation: Sequence[int], lhs: Sequence[int]
                 ) -> Iterator[tuple[list[ll.Value], list[ll.Value]]]:
    """Loops over the window offsets of one output position that land on a real input element.

    Yields ``(offsets, input_positions)``, one i64 per spatial axis; the body runs only for taps
    inside the input and off the ``lhs`` holes. Each axis is tested as soon as its offset is
    known, so a tap that misses on an outer axis skips the whole inner sub-window.
    """
    with contextlib.ExitStack() as stack:
        offs: list[ll.Value] = []
        pos: list[ll.Value] = []
        for d, k in enumerate(window):
            kk = stack.enter_context(for_range(b, 0, k, name=f"w{d}"))
            offs.append(kk)
            # p = o*stride + k*dilation - pad_lo, on the zero-dilated input.
            p = b.sub(b.add(mul(b, out_pos[d], i64(strides[d])), mul(b, kk, i64(dilation[d]))),
                      i64(pads[d][0]))
            extent = (sizes[d] - 1) * lhs[d] + 1 if sizes[d] > 0 else 0
            # With no padding and no holes every tap is in range (window_output_size guarantees
            # it), so no test is emitted and the loops stay branch-free.
            conds: list[ll.Value] = []
            if pads[d][0] > 0 or extent == 0:
                conds.append(b.icmp_signed(">=", p, i64(0)))
            if pads[d][1] > 0 or extent == 0:
                conds.append(b.icmp_signed("<", p, i64(extent)))
            if lhs[d] > 1:
                # p < 0 only happens with pad_lo > 0, where the p >= 0 test above is and-ed in,
                # so the unsigned remainder of a negative p never decides anything.
                conds.append(b.icmp_unsigned("==", b.urem(p, i64(lhs[d])), i64(0)))
                p = b.udiv(p, i64(lhs[d]))
            pos.append(p)
            if conds:
                ok: ll.Value = conds[0]
                for c in conds[1:]:
                    ok = b.and_(ok, c)
                stack.enter_context(b.if_then(ok))
        yield offs, pos


# -- convolution -----------------------------------------------------------------------------
#
# The fast path is a register-blocked direct convolution. The innermost spatial axis (W of
# NHWC) is cut into tiles of MR output positions. Every spatial size is static, so which
# window taps each position of a tile reads (all of them inside the image; fewer near a
# border, where some fall into the padding) and at which input offset are worked out here,
# in Python: the kernel never tests a tap of that axis at run time. Consecutive tiles whose
# positions read the same taps (the interior) run as one loop; the others are emitted one
# by one. ``lhs_dilation`` splits the axis into ``lhs / gcd(stride, lhs)`` phases, output
# positions congruent modulo that step, which all land on real input elements for the same
# taps: a phase is an ordinary strided convolution over the undilated input with some taps
# left out, so the holes are never visited (the input-gradient conv of a strided conv costs
# what the forward conv costs, not ``stride**2`` times more).
#
# A micro-kernel computes one tile by up to NV vectors of output channels, with the MR x NV
# accumulators in registers for the whole reduction over the outer-axis taps (tested at run
# time, once per tap row), the inner-axis taps (unrolled) and the input channels: per input
# channel and tap it loads NV weight vectors (HWIO is unit-stride in the output channel)
# and broadcasts the input element of each position that reads the tap. A depthwise conv
# (one input and one output channel per group) instead runs the vectors over the channels,
# which are contiguous in the input as well as in the output. Channel counts that are not a
# multiple of the vector width end in one masked vector. Finished accumulators go through
# the optional epilogue and are stored once. The weights are read in place (HWIO rows are
# unit-stride over the output channels and a layer's kernel stays in L2): the seed convnets'
# layers run at 100-110 GFLOP/s on one Zen 4 core, the FMA peak, without packing. Output
# rows (batch element x outer positions) are split across threads by ``parallel_for``.

# Upper bound on the FMAs the unrolled micro-kernels of one conv may contain; past it (huge
# 1-D windows with wide padding make many distinct tiles) the compact generic loop nest is
# used instead.
_UNROLL_BUDGET = 40_000


@dataclass(frozen=True)
class _TileGroup:
    """``count`` consecutive tiles of ``mr = len(rows)`` inner-axis output positions.

    Tile ``t`` holds positions ``phase + step * j`` for ``j = start + t * mr + r``, r < mr.
    Row r of every tile reads the taps ``rows[r]``: pairs (tap k, ``base``), where the tap
    reads input index ``base + j * jstride``.
    """

    phase: int
    start: int
    count: int
    rows: tuple[tuple[tuple[int, int], ...], ...]


def _inner_tiles(size: int, out_len: int, k: int, s: int, d: int, pad_lo: int, lhs: int,
                 mr_max: int) -> tuple[int, int, list[_TileGroup]]:
    """(step, jstride, tile groups) of the innermost spatial axis; see the section comment."""
    g = math.gcd(s, lhs)
    step, jstride = lhs // g, s // g
    groups: list[_TileGroup] = []
    for ph in range(min(step, out_len)):
        # A tap hits a real element (not a hole) for every position of this phase or for none.
        real = [(kk, (ph * s + kk * d - pad_lo) // lhs) for kk in range(k)
                if (ph * s + kk * d - pad_lo) % lhs == 0]
        count = (out_len - ph + step - 1) // step
        mr, full, tail = _tiles(count, mr_max)
        for j0 in range(0, count, mr):
            rows = tuple(tuple((kk, base) for kk, base in real if 0 <= base + j * jstride < size)
                         for j in range(j0, min(j0 + mr, count)))
            last = groups[-1] if groups else None
            if last and last.phase == ph and last.rows == rows:
                groups[-1] = _TileGroup(ph, last.start, last.count + 1, rows)
            else:
                groups.append(_TileGroup(ph, j0, 1, rows))
    return step, jstride, groups


def _tiles(length: int, mr_max: int) -> tuple[int, int, int]:
    """(mr, full tiles, tail) covering ``length`` positions with tiles as even as possible."""
    ntiles = -(-length // mr_max)
    mr = -(-length // ntiles)
    return mr, length // mr, length % mr


def _pow2_parts(n: int) -> list[int]:
    """``n`` as descending powers of two (13 -> [8, 4, 1])."""
    return [1 << i for i in range(n.bit_length() - 1, -1, -1) if n >> i & 1]


@dataclass(frozen=True)
class _Vec:
    """Vectors of ``lanes`` elements of one dtype; loads and stores of ``n < lanes`` are masked."""

    dt: DType
    lanes: int

    @property
    def ty(self) -> ll.Type:
        return lltype(self.dt)

    @property
    def vt(self) -> ll.VectorType:
        return ll.VectorType(self.ty, self.lanes)

    def const(self, value: float) -> ll.Constant:
        return ll.Constant(self.vt, [value] * self.lanes)

    def mask(self, n: int) -> ll.Constant:
        return ll.Constant(ll.VectorType(I1, self.lanes), [int(i < n) for i in range(self.lanes)])

    def _masked(self, b: ll.IRBuilder, kind: str) -> ll.Function:
        sfx = f"v{self.lanes}{type_suffix(self.ty)}"
        mask_t = ll.VectorType(I1, self.lanes)
        if kind == "load":
            return declare(b.module, f"llvm.masked.load.{sfx}.p0", self.vt, [PTR, I32, mask_t, self.vt])
        return declare(b.module, f"llvm.masked.store.{sfx}.p0", ll.VoidType(), [self.vt, PTR, I32, mask_t])

    def load(self, b: ll.IRBuilder, ptr: ll.Value, n: int) -> ll.Value:
        """``n`` elements at ``ptr`` in the low lanes (zeros above)."""
        if n == self.lanes:
            return b.load(ptr, typ=self.vt, align=self.dt.itemsize)
        return b.call(self._masked(b, "load"), [ptr, ll.Constant(I32, self.dt.itemsize), self.mask(n),
                                                self.const(0.0)])

    def store(self, b: ll.IRBuilder, v: ll.Value, ptr: ll.Value, n: int) -> None:
        """The low ``n`` lanes of ``v`` to ``ptr``."""
        if n == self.lanes:
            b.store(v, ptr, align=self.dt.itemsize)
        else:
            b.call(self._masked(b, "store"), [v, ptr, ll.Constant(I32, self.dt.itemsize), self.mask(n)])

    def splat(self, b: ll.IRBuilder, s: ll.Value, vt: ll.VectorType | None = None) -> ll.Value:
        vt = vt or self.vt
        undef = ll.Constant(vt, None)
        one = b.insert_element(undef, s, ll.Constant(I32, 0))
        return b.shuffle_vector(one, undef, ll.Constant(ll.VectorType(I32, vt.count), [0] * vt.count))


class _ConvEmitter:
    """Writes one convolution's loops; built by :func:`emit_conv_into`."""

    def __init__(self, ctx: KernelContext, x_ptr: ll.Value, w_ptr: ll.Value, out_ptr: ll.Value,
                 x: TensorType, w: TensorType, out: TensorType, a: ConvAttrs,
                 epilogue: Epilogue | None):
        self.ctx, self.b = ctx, ctx.builder
        self.x_ptr, self.w_ptr, self.out_ptr = x_ptr, w_ptr, out_ptr
        self.batch = x.shape[0]
        self.a, self.epilogue = a, epilogue
        self.dt = out.dtype
        self.ty = lltype(self.dt)
        self.arith = Arith(self.dt)
        nsp = w.rank - 2
        self.nsp = nsp
        self.in_sp = [int(s) for s in x.shape[1:-1]]
        self.out_sp = [int(s) for s in out.shape[1:-1]]
        self.window = [int(s) for s in w.shape[:nsp]]
        self.cin, self.cin_g, self.cout = int(x.shape[-1]), int(w.shape[-2]), int(w.shape[-1])
        self.groups = a.groups
        self.cout_g = self.cout // self.groups
        self.depthwise = self.groups > 1 and self.cin_g == 1 and self.cout_g == 1
        self.x_str = _row_strides([*self.in_sp, self.cin])
        self.w_str = _row_strides([*self.window, self.cin_g, self.cout])
        self.x_img = _numel([*self.in_sp, self.cin])
        info = cpu_info()
        nregs = info.registers
        self.lanes = info.lanes(self.dt)
        self.vec = _Vec(self.dt, self.lanes)
        self.vt = self.vec.vt
        width = self.cout if self.depthwise else self.cout_g
        # Tile: up to NV vectors of channels by MR positions, the accumulators plus NV weight
        # vectors and a broadcast in registers. AVX-512 / NEON (32 registers): 6 x 4 for 64+
        # channels (on the seed layers as fast as 5 x 4, 3-5% ahead of 12 x 2), 12 x 2 for 32;
        # AVX2 (16): 6 x 2.
        nv_max, mr_cap = (4 if nregs >= 32 else 2), 12
        tile = os.environ.get("HORN_CONV_TILE")        # "MRxNV", for tuning runs only
        if tile:
            mr_cap, nv_max = (int(t) for t in tile.split("x"))
        self.nv = max(1, min(nv_max, -(-width // self.lanes)))
        self.mr_max = max(1, min(mr_cap, (nregs - self.nv - 2) // self.nv))
        nr = self.nv * self.lanes
        self.col_full, rem = width // nr, width % nr
        self.tail_pieces = self._pieces(rem)
        last = nsp - 1
        self.step, self.jstride, self.groups_w = _inner_tiles(
            self.in_sp[last], self.out_sp[last], self.window[last], a.strides[last],
            a.dilation[last], a.padding[last][0], a.lhs_dilation[last], self.mr_max)

    def _pieces(self, width: int) -> list[tuple[int, int]]:
        """(channel offset, lanes used) of the vectors covering ``width`` channels."""
        full, rem = divmod(width, self.lanes)
        out = [(v * self.lanes, self.lanes) for v in range(full)]
        if rem:
            out.append((full * self.lanes, rem))
        return out

    def unrolled_fmas(self) -> int:
        """How many vector FMAs the unrolled micro-kernels will hold (a code size estimate)."""
        nblocks = (self.col_full > 0) + bool(self.tail_pieces)
        return sum(len(row) for grp in self.groups_w for row in grp.rows) * self.nv * nblocks

    # -- the loop structure --------------------------------------------------------------------
    def emit(self) -> None:
        """All output rows, split across threads: a row is one batch element and one position
        of the outer axes, and rows write disjoint outputs."""
        ctx = self.ctx
        nrows = mul(ctx.builder, ctx.dim(self.batch), i64(_numel(self.out_sp[:-1])))
        macs = self.out_sp[-1] * self.cout * _numel(self.window) * self.cin_g

        def body(wctx: KernelContext, lo: ll.Value, hi: ll.Value, _captured: list) -> None:
            # The worker has the kernel's argument layout: rebind the tensors to its arguments.
            self.ctx, self.b = wctx, wctx.builder
            self.x_ptr, self.w_ptr, self.out_ptr = (rebind(wctx.builder, p) for p in
                                                    (self.x_ptr, self.w_ptr, self.out_ptr))
            with for_range(wctx.builder, lo, hi, name="row") as r:
                self.emit_row(r)

        parallel_for(ctx, nrows, body, cost_per_item=max(1, macs))

    def emit_row(self, r: ll.Value) -> None:
        b = self.b
        outer = self.out_sp[:-1]
        per_n = _numel(outer)
        n = b.udiv(r, i64(per_n)) if per_n != 1 else r
        opos: list[ll.Value] = []
        rest = b.urem(r, i64(per_n)) if per_n != 1 else i64(0)
        for size, stride in zip(outer, _row_strides(outer)):
            opos.append(b.udiv(rest, i64(stride)) if stride != 1 else rest)
            if stride != 1:
                rest = b.urem(rest, i64(stride))
        x_n = self.ctx.element_ptr(self.x_ptr, self.dt, mul(b, n, i64(self.x_img)))
        row0 = mul(b, r, i64(self.out_sp[-1]))          # flattened index of this row's position 0
        for grp in self.groups_w:
            if grp.count == 1:
                self.emit_tile(grp, i64(grp.start), x_n, opos, row0)
            else:
                with for_range(b, 0, grp.count, name="tile") as t:
                    self.emit_tile(grp, b.add(i64(grp.start), b.mul(t, i64(len(grp.rows)))), x_n, opos, row0)

    def emit_tile(self, grp: _TileGroup, j0: ll.Value, x_n: ll.Value, opos: list[ll.Value],
                  row0: ll.Value) -> None:
        """One tile of ``grp``, its first position at ``j0``, by every output channel."""
        b = self.b
        nr = self.nv * self.lanes
        full_pieces = self._pieces(nr)
        group_loop = not self.depthwise and self.groups > 1
        with contextlib.ExitStack() as stack:
            g = stack.enter_context(for_range(b, 0, self.groups, name="g")) if group_loop else i64(0)
            if self.col_full == 1:
                self.micro(grp, j0, x_n, opos, row0, g, i64(0), full_pieces)
            elif self.col_full > 1:
                with for_range(b, 0, self.col_full, name="cb") as cb:
                    self.micro(grp, j0, x_n, opos, row0, g, b.mul(cb, i64(nr)), full_pieces)
            if self.tail_pieces:
                self.micro(grp, j0, x_n, opos, row0, g, i64(self.col_full * nr), self.tail_pieces)

    # -- the micro-kernel ----------------------------------------------------------------------
    def micro(self, grp: _TileGroup, j0: ll.Value, x_n: ll.Value, opos: list[ll.Value],
              row0: ll.Value, g: ll.Value, co0: ll.Value, pieces: list[tuple[int, int]]) -> None:
        """Accumulates a tile of ``grp`` by ``pieces`` in registers, then stores it once.

        ``co0`` is the first channel of the tile within its group (dense) or overall
        (depthwise); ``g`` the group.
        """
        b, ctx, dt, vt = self.b, self.ctx, self.dt, self.vt
        mr = len(grp.rows)
        accs = [[entry_alloca(b, vt, name=f"acc{r}_{p}") for p in range(len(pieces))] for r in range(mr)]
        zero = ll.Constant(vt, [self.arith.zero.constant] * self.lanes)
        for row in accs:
            for slot in row:
                b.store(zero, slot)
        last = self.nsp - 1
        a = self.a
        # Element offset of the tile's first channel, in the kernel's and the input's last axis.
        if self.depthwise:
            w_col, x_col = co0, co0
        else:
            w_col = add(b, mul(b, g, i64(self.cout_g)), co0)
            x_col = mul(b, g, i64(self.cin_g))
        # Input element offset of position j0, for every inner tap (plus the tap's own base).
        j_off = mul(b, j0, i64(self.jstride * self.cin))
        with _window_taps(b, opos, self.window[:last], self.in_sp[:last], a.strides[:last],
                          a.padding[:last], a.dilation[:last], a.lhs_dilation[:last]) as (offs, pos):
            x_tap = ctx.element_ptr(x_n, dt, add(b, linear_index(b, pos, [i64(s) for s in self.x_str[:last]]),
                                                 add(b, j_off, x_col)))
            w_tap = ctx.element_ptr(self.w_ptr, dt, add(b, linear_index(
                b, offs, [i64(s) for s in self.w_str[:last]]), w_col))
            # Every tap some position of the tile reads, and which positions read it.
            taps = sorted({tap for row in grp.rows for tap in row})
            readers = {tap: [r for r, row in enumerate(grp.rows) if tap in row] for tap in taps}

            def taps_step(taps: Sequence[tuple[int, int]], ci: ll.Value) -> None:
                """The FMAs of input channel ``ci`` for these inner-axis taps."""
                w_ci = ctx.element_ptr(w_tap, dt, mul(b, ci, i64(self.cout)))
                x_ci = ctx.element_ptr(x_tap, dt, ci)
                for kk, base in taps:
                    w_k = ctx.element_ptr(w_ci, dt, i64(kk * self.w_str[last]))
                    wv = [self.vec.load(b, ctx.element_ptr(w_k, dt, i64(off)), n) for off, n in pieces]
                    for r in readers[(kk, base)]:
                        x_r = ctx.element_ptr(x_ci, dt, i64((base + r * self.jstride) * self.cin))
                        if self.depthwise:
                            xs = [self.vec.load(b, ctx.element_ptr(x_r, dt, i64(off)), n) for off, n in pieces]
                        else:
                            xs = [self.vec.splat(b, b.load(x_r, typ=self.ty))] * len(pieces)
                        for p in range(len(pieces)):
                            acc = b.load(accs[r][p], typ=vt)
                            b.store(self.arith.multiply_add(b, acc, xs[p], wv[p]), accs[r][p])

            if self.cin_g == 1 or self.depthwise:
                taps_step(taps, i64(0))
            else:
                # One channel loop per tap, a GEMM micro-kernel each: live registers are the tile,
                # one tap's weight vectors and a broadcast. (All taps in one channel loop let LLVM
                # share broadcasts between taps, which spilled accumulators: 10% slower.)
                for tap in taps:
                    with for_range(b, 0, self.cin_g, name="ci") as ci:
                        taps_step([tap], ci)
        col0 = w_col
        for r in range(mr):
            # Flattened output position: this row's start plus phase + step * (j0 + r).
            pos_r = add(b, row0, add(b, i64(grp.phase + self.step * r), mul(b, j0, i64(self.step))))
            out_r = ctx.element_ptr(self.out_ptr, dt, mul(b, pos_r, i64(self.cout)))
            for p, (off, n) in enumerate(pieces):
                col = add(b, col0, i64(off))
                self._store(b.load(accs[r][p], typ=vt), pos_r, col, ctx.element_ptr(out_r, dt, col), n)

    def _store(self, acc: ll.Value, row: ll.Value, col: ll.Value, ptr: ll.Value, n: int) -> None:
        """Stores the low ``n`` lanes of ``acc`` (output channels ``col...``), through the epilogue."""
        b = self.b
        if self.epilogue is None:
            self.vec.store(b, acc, ptr, n)
            return
        if n == self.lanes:
            b.store(self.epilogue(b, row, col, acc), ptr, align=self.dt.itemsize)
            return
        # The epilogue sees exactly the lanes that exist: split into power-of-two vectors.
        off = 0
        for part in _pow2_parts(n):
            if part == 1:
                sub = b.extract_element(acc, ll.Constant(I32, off))
            else:
                sub = b.shuffle_vector(acc, ll.Constant(self.vt, None),
                                       ll.Constant(ll.VectorType(I32, part), list(range(off, off + part))))
            sub = self.epilogue(b, row, add(b, col, i64(off)), sub)
            b.store(sub, self.ctx.element_ptr(ptr, self.dt, i64(off)), align=self.dt.itemsize)
            off += part


def _emit_conv_generic(ctx: KernelContext, x_ptr: ll.Value, w_ptr: ll.Value, o_ptr: ll.Value,
                       x: TensorType, w: TensorType, out: TensorType, a: ConvAttrs,
                       epilogue: Epilogue | None) -> None:
    """The compact loop nest: per output position, a channel row accumulated on the stack.

    Used where unrolling the fast path would make too much code. The innermost loop runs over
    a group's output channels (unit-stride), which LLVM vectorizes.
    """
    dt = out.dtype
    arith = Arith(dt)
    b = ctx.builder
    nsp = w.rank - 2
    in_sp = [int(s) for s in x.shape[1:-1]]
    out_sp = [int(s) for s in out.shape[1:-1]]
    window = [int(s) for s in w.shape[:nsp]]
    cin, cin_g, cout = int(x.shape[-1]), int(w.shape[-2]), int(w.shape[-1])
    groups = a.groups
    cout_g = cout // groups
    x_str = _row_strides([*in_sp, cin])
    o_str = _row_strides([*out_sp, cout])
    w_str = _row_strides([*window, cin_g, cout])
    x_img, o_img = _numel([*in_sp, cin]), _numel([*out_sp, cout])
    acc = entry_alloca(b, lltype(dt), max(cout, 1), name="acc")

    with for_range(b, 0, ctx.dim(x.shape[0]), name="n") as n:
        x_n = ctx.element_ptr(x_ptr, dt, mul(b, n, i64(x_img)))
        o_n = ctx.element_ptr(o_ptr, dt, mul(b, n, i64(o_img)))
        with loop_nest(b, [i64(s) for s in out_sp], name="o") as opos:
            with for_range(b, 0, cout, name="zero") as co:
                ctx.store(arith.zero, acc, dt, co)
            with _window_taps(b, opos, window, in_sp, a.strides, a.padding, a.dilation,
                              a.lhs_dilation) as (offs, pos):
                x_pix = ctx.element_ptr(x_n, dt, linear_index(b, pos, [i64(s) for s in x_str[:-1]]))
                w_tap = ctx.element_ptr(w_ptr, dt, linear_index(b, offs, [i64(s) for s in w_str[:-2]]))
                with for_range(b, 0, groups, name="g") as g:
                    x_g = ctx.element_ptr(x_pix, dt, mul(b, g, i64(cin_g)))
                    a_g = ctx.element_ptr(acc, dt, mul(b, g, i64(cout_g)))
                    w_g = ctx.element_ptr(w_tap, dt, mul(b, g, i64(cout_g)))
                    with for_range(b, 0, cin_g, name="ci") as ci:
                        xv = ctx.load(x_g, dt, ci)
                        w_row = ctx.element_ptr(w_g, dt, mul(b, ci, i64(cout)))
                        with for_range(b, 0, cout_g, name="co") as co:
                            ctx.store(arith.multiply_add(b, ctx.load(a_g, dt, co), xv, ctx.load(w_row, dt, co)),
                                      a_g, dt, co)
            pix = linear_index(b, opos, [i64(s) for s in o_str[:-1]])
            o_row = ctx.element_ptr(o_n, dt, pix)
            row = add(b, mul(b, n, i64(_numel(out_sp))), b.udiv(pix, i64(cout)) if cout > 1 else pix)
            with for_range(b, 0, cout, name="st") as co:
                v = ctx.load(acc, dt, co)
                ctx.store(epilogue(b, row, co, v) if epilogue else v, o_row, dt, co)


def emit_conv_into(ctx: KernelContext, x_ptr: ll.Value, w_ptr: ll.Value, out_ptr: ll.Value,
                   x: TensorType, w: TensorType, out: TensorType, attrs: ConvAttrs,
                   epilogue: Epilogue | None = None) -> None:
    """Writes ``out = conv(x, w)`` (then ``epilogue`` per finished accumulator) at ``ctx.builder``.

    ``x_ptr``, ``w_ptr``, ``out_ptr`` point at contiguous row-major NHWC input, HWIO kernel
    and output buffers of these types (float32 or float64; only the batch may be symbolic).
    ``epilogue`` (see :data:`codegen.cpu.kernel.Epilogue`) sees each result once, with
    ``row`` the flattened (batch, spatial...) output position and ``col`` the output channel,
    and what it returns is stored. Every output element is written exactly once and the
    output is never read, so it may share memory with a tensor only the epilogue reads.
    """
    dt = out.dtype
    if dt not in CONV_DTYPES:
        raise LoweringError(f"{ctx.node.name}: no CPU convolution for {dt.name} "
                            f"(supported: float32, float64); cast to float32 first")
    if any(int(s) == 0 for s in out.shape[1:]):
        return                                      # no output element to write
    conv = _ConvEmitter(ctx, x_ptr, w_ptr, out_ptr, x, w, out, attrs, epilogue)
    if conv.unrolled_fmas() > _UNROLL_BUDGET:
        _emit_conv_generic(ctx, x_ptr, w_ptr, out_ptr, x, w, out, attrs, epilogue)
    else:
        conv.emit()


@lowering(Op.CONV)
def emit_conv(ctx: KernelContext) -> None:
    """CONV as its own kernel: :func:`emit_conv_into` with no epilogue."""
    x, w = ctx.node.inputs
    emit_conv_into(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], x.type, w.type, ctx.node.output.type,
                   ctx.node.attrs)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _smax(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def _smin(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _maximum(module: ll.Module, ty: ll.Type) -> ll.Function:
    """``llvm.maximum``: NaN-propagating like ``np.maximum``, and it vectorizes."""
    name = f"llvm.maximum.{ {'half': 'f16', 'float': 'f32', 'double': 'f64'}[str(ty)] }"
    if name in module.globals:
        return module.globals[name]
    return ll.Function(module, ll.FunctionType(ty, [ty, ty]), name)


def _pool_window(b: ll.IRBuilder, a: PoolAttrs, opos: Sequence[ll.Value], in_sp: Sequence[int]
                 ) -> tuple[list[ll.Value], list[tuple[ll.Value, ll.Value]], ll.Value]:
    """The real taps of the pooling window at output position ``opos``.

    Along each axis the taps k with ``0 <= o*s + k - pad_lo < size`` form one interval
    ``[lo, hi)``: returns per axis the window's first input position ``start`` and that
    interval, and the number of real taps (an average's divisor). Everything is computed
    here, before any tap loop, so the count dominates its uses.
    """
    count: ll.Value = i64(1)
    starts, bounds = [], []
    for d in range(len(a.window)):
        start = b.sub(mul(b, opos[d], i64(a.strides[d])), i64(a.padding[d][0]))
        lo = _smax(b, i64(0), b.sub(i64(0), start))
        hi = _smin(b, i64(a.window[d]), b.sub(i64(in_sp[d]), start))
        count = mul(b, count, _smax(b, i64(0), b.sub(hi, lo)))
        starts.append(start)
        bounds.append((lo, hi))
    return starts, bounds, count


@contextlib.contextmanager
def _pool_taps(b: ll.IRBuilder, starts: Sequence[ll.Value], bounds: Sequence[tuple[ll.Value, ll.Value]]
               ) -> Iterator[list[ll.Value]]:
    """Loops over the real taps in row-major window order; yields the input position per axis."""
    with contextlib.ExitStack() as stack:
        pos: list[ll.Value] = []
        for d, (start, (lo, hi)) in enumerate(zip(starts, bounds)):
            k = stack.enter_context(for_range(b, lo, hi, name=f"w{d}"))
            pos.append(b.add(start, k))
        yield pos


@lowering(Op.POOL)
def emit_pool(ctx: KernelContext) -> None:
    """Max / average pooling; window bounds are clamped per axis so no tap needs a test."""
    node = ctx.node
    a: PoolAttrs = node.attrs
    x, out = node.inputs[0], node.output
    dt = out.dtype
    if not dt.is_floating:
        raise LoweringError(f"{node.name}: pooling needs a floating dtype, received {dt.name}")
    ty = lltype(dt)
    b = ctx.builder
    in_sp = [int(s) for s in x.shape[1:-1]]
    out_sp = [int(s) for s in out.shape[1:-1]]
    ch = int(x.shape[-1])
    x_str = _row_strides([*in_sp, ch])
    o_str = _row_strides([*out_sp, ch])
    is_max = a.kind is PoolKind.MAX
    init = ll.Constant(ty, float("-inf") if is_max else 0.0)
    maximum = _maximum(ctx.module, ty) if is_max else None
    x_ptr, o_ptr = ctx.inputs[0], ctx.outputs[0]

    with for_range(b, 0, ctx.dim(x.shape[0]), name="n") as n:
        x_n = ctx.element_ptr(x_ptr, dt, mul(b, n, i64(_numel([*in_sp, ch]))))
        o_n = ctx.element_ptr(o_ptr, dt, mul(b, n, i64(_numel([*out_sp, ch]))))
        with loop_nest(b, [i64(s) for s in out_sp], name="o") as opos:
            o_row = ctx.element_ptr(o_n, dt, linear_index(b, opos, [i64(s) for s in o_str[:-1]]))
            with for_range(b, 0, ch, name="init") as c:
                ctx.store(init, o_row, dt, c)
            starts, bounds, count = _pool_window(b, a, opos, in_sp)
            with _pool_taps(b, starts, bounds) as pos:
                x_pix = ctx.element_ptr(x_n, dt, linear_index(b, pos, [i64(s) for s in x_str[:-1]]))
                with for_range(b, 0, ch, name="c") as c:
                    acc = ctx.load(o_row, dt, c)
                    v = ctx.load(x_pix, dt, c)
                    ctx.store(b.call(maximum, [acc, v]) if is_max else b.fadd(acc, v), o_row, dt, c)
            if not is_max:
                # Divide (not multiply by a reciprocal) so the result rounds like the reference's.
                # A window with no real element (only possible on an empty input) gives 0/0 = NaN,
                # as the reference does.
                denom = b.sitofp(count, ty)
                with for_range(b, 0, ch, name="avg") as c:
                    ctx.store(b.fdiv(ctx.load(o_row, dt, c), denom), o_row, dt, c)


# float16 is left out: the reference accumulates overlapping windows in float16 one add
# at a time, which only a float16 add per step reproduces; gradients are float32/float64.
POOL_GRAD_DTYPES = frozenset({DType.float32, DType.float64})


@lowering(Op.POOL_GRAD)
def emit_pool_grad(ctx: KernelContext) -> None:
    """dx of pooling: zero dx, then each window sends its dy to its taps (the reference's rule).

    Vectorized over channels (unit-stride in NHWC), a block of channels at a time with the
    per-channel state in vector registers. max: a scan over the window's real taps in
    row-major order keeps, per channel, the best value and the offset of the first tap
    holding it (a NaN beats any number, the first NaN stays); a second pass over the taps
    adds dy where the offset matches, so no lane is scattered on its own. avg: adds
    ``dy / count`` to every real tap.
    """
    node = ctx.node
    a: PoolAttrs = node.attrs
    x, dy = node.inputs
    out = node.output
    dt = out.dtype
    if dt not in POOL_GRAD_DTYPES:
        raise LoweringError(f"{node.name}: no CPU pool_grad for {dt.name} "
                            f"(supported: float32, float64); cast to float32 first")
    ty = lltype(dt)
    b = ctx.builder
    in_sp = [int(s) for s in x.shape[1:-1]]
    out_sp = [int(s) for s in dy.shape[1:-1]]
    ch = int(x.shape[-1])
    x_str = _row_strides([*in_sp, ch])
    o_str = _row_strides([*out_sp, ch])
    x_ptr, dy_ptr, dx_ptr = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    is_max = a.kind is PoolKind.MAX
    vec = _Vec(dt, cpu_info().lanes(dt))
    lanes, vt = vec.lanes, vec.vt
    # Tap offsets are compared lane-wise: i32 lanes when an image's offsets fit.
    it = I32 if _numel([*in_sp, ch]) < 2**31 else I64
    ivt = ll.VectorType(it, lanes)

    with for_range(b, 0, ctx.numel(out), name="z") as i:
        ctx.store(ll.Constant(ty, 0.0), dx_ptr, dt, i)
    if is_max:
        best = entry_alloca(b, vt, name="best")
        where = entry_alloca(b, ivt, name="where")
    with for_range(b, 0, ctx.dim(x.shape[0]), name="n") as n:
        x_n = ctx.element_ptr(x_ptr, dt, mul(b, n, i64(_numel([*in_sp, ch]))))
        dx_n = ctx.element_ptr(dx_ptr, dt, mul(b, n, i64(_numel([*in_sp, ch]))))
        dy_n = ctx.element_ptr(dy_ptr, dt, mul(b, n, i64(_numel([*out_sp, ch]))))
        with loop_nest(b, [i64(s) for s in out_sp], name="o") as opos:
            dy_row = ctx.element_ptr(dy_n, dt, linear_index(b, opos, [i64(s) for s in o_str[:-1]]))
            starts, bounds, count = _pool_window(b, a, opos, in_sp)

            def block(c0: ll.Value, nl: int) -> None:
                dyv = vec.load(b, ctx.element_ptr(dy_row, dt, c0), nl)
                if not is_max:
                    # dy / count per tap, the correctly rounded quotient the reference adds.
                    share = b.fdiv(dyv, vec.splat(b, b.sitofp(count, ty)))
                    with _pool_taps(b, starts, bounds) as pos:
                        p = ctx.element_ptr(dx_n, dt, add(b, linear_index(b, pos, [i64(s) for s in x_str[:-1]]), c0))
                        vec.store(b, b.fadd(vec.load(b, p, nl), share), p, nl)
                    return
                b.store(vec.const(float("-inf")), best)
                b.store(ll.Constant(ivt, [-1] * lanes), where)
                with _pool_taps(b, starts, bounds) as pos:
                    pix = linear_index(b, pos, [i64(s) for s in x_str[:-1]])
                    v = vec.load(b, ctx.element_ptr(x_n, dt, add(b, pix, c0)), nl)
                    old, at = b.load(best, typ=vt), b.load(where, typ=ivt)
                    take = b.or_(b.or_(b.icmp_signed("<", at, ll.Constant(ivt, [0] * lanes)),
                                       b.fcmp_ordered(">", v, old)),
                                 b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", old, old)))
                    b.store(b.select(take, v, old), best)
                    b.store(b.select(take, vec.splat(b, b.trunc(pix, it) if it is I32 else pix, ivt), at), where)
                at = b.load(where, typ=ivt)
                with _pool_taps(b, starts, bounds) as pos:
                    pix = linear_index(b, pos, [i64(s) for s in x_str[:-1]])
                    hit = b.icmp_signed("==", at, vec.splat(b, b.trunc(pix, it) if it is I32 else pix, ivt))
                    p = ctx.element_ptr(dx_n, dt, add(b, pix, c0))
                    vec.store(b, b.fadd(vec.load(b, p, nl), b.select(hit, dyv, vec.const(0.0))), p, nl)

            full, tail = divmod(ch, lanes)
            if full == 1:
                block(i64(0), lanes)
            elif full > 1:
                with for_range(b, 0, full, name="cb") as cb:
                    block(b.mul(cb, i64(lanes)), lanes)
            if tail:
                block(i64(full * lanes), tail)

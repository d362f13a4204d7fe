"""CPU lowering of MATMUL: a packed, cache-blocked, register-tiled, multi-threaded GEMM.

Each (batch) product ``C[M,N] = A[M,K] @ B[K,N]`` takes one of two paths:

**Packed** (floats, B larger than half of L2 and M of at least 4 tiles), the Goto/BLIS
loop nest, with threads splitting the columns (one parallel region per product)::

    for my NR-wide panels of B and C:                          (parallel_for, by columns)
      for jc in them step NC:                                  # NC columns at a time
        for pc in 0..K step KC:                                # K blocks of equal depth
          pack B[pc:+KC, jc:+NC] into NR-wide panels, zero-padded    (L3 -> L1 panels)
          for ic in 0..M step MC:
            pack A[ic:+MC, pc:+KC] into MR-tall panels, zero-padded  (stays in L2)
            for each B panel (KC x NR, stays in L1):
              for each A panel: micro-kernel -> MR x NR tile of C (+= C after the first K block)

The micro-kernel keeps an ``MR x NV`` tile of vectors of C in registers through the
whole KC loop: per k it loads NV vectors of B, broadcasts MR values of A and issues
MR*NV fused multiply-adds. Tile, vector width and KC/MC/NC come from the target CPU
(``codegen.cpu.host.gemm_params``; 12 x 2 zmm on AVX-512). A tile that crosses the
right or bottom edge is computed whole on the zero padding; only its valid part is stored.

**Direct** (small M as in batch-1 inference, B within half of L2, integers, or no memory
for the packing buffers): register tiles of 4 rows, then 1, read A and B in place, with
no packing to amortize; threads split the columns. The right edge uses masked loads of B.
A single row (a vector times a matrix) streams B row by row instead (``_stream``).

**Layouts**: A may be read transposed (its buffer a contiguous (K, M) matrix) and B too
(an (N, K) buffer), so a MATMUL of ``transpose(x)`` needs no transpose kernel: only the
packing routines (and the direct path's scalar loads of A) see the strides. A transposed
B always takes the packed path (its direct path would gather B element by element). A
GEMM may also add to C (``acc``): ``emit_batch_summed_matmul_into`` sums the products of a
batch that way when the batch cannot join the contraction axis in place.

A module's matmuls all call one GEMM function per dtype, whatever the layout (a ``layout``
argument), which the JIT compiles once per process (``runtime.jit``). A fused epilogue
(``codegen.cpu.kernel.Epilogue``) does not get a GEMM of its own: the kernel emits a small
``TILE_EPILOGUE`` function (``tile_epilogue``: the epilogue over a tile of C, vectorized over
columns) and passes it, with a context array of the kernel's pointers, to the shared GEMM,
which calls it once per finished register tile (or row, on the streamed path) while the tile
is still in L1: after the last K block, so every output element gets it exactly once
whatever the K blocking and the threads. Before this, each fused matmul inlined a whole
packed GEMM: most of a training step's LLVM time (convnet-S: 3.2 -> 1.85 s of CPU to compile).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import llvmlite.ir as ll

from codegen.cpu.host import GemmParams, cpu_info, gemm_params
from codegen.cpu.kernel import (I1, I32, I64, PTR, Epilogue, KernelContext, LoweringError, add, for_range,
                                i64, linear_index, lltype, loop_nest, lowering, mul)
from codegen.cpu.lowerings._support import declare
from codegen.cpu.parallel import max_threads, parallel_for, thread_index
from ir.dtypes import DType
from ir.shapes import TensorType
from ir.opcodes import Op
from ir.shapes import Dim

# Float multiply-adds may be fused into one FMA: it rounds once instead of twice, so it is
# never less accurate than numpy's (BLAS uses FMA too), and it doubles the vector throughput.
_CONTRACT = ("contract",)

# The dtypes whose arithmetic here matches numpy's in kind: float32/float64 round per
# operation in the operand dtype; integers wrap modulo 2**bits like numpy's. float16 is left
# out on purpose: numpy accumulates half-precision products in float32, while these kernels
# accumulate in the operand dtype.
MATMUL_DTYPES = frozenset({DType.float32, DType.float64, DType.int8, DType.uint8, DType.int32,
                           DType.int64})

# Below this many rows packing B (a copy of B per call) costs more than it saves: the direct
# path reads B in place, once per 4 rows. Measured on Zen 4 against numpy (K = 784, N = 128,
# one thread): direct 1.0-1.2x numpy at M = 16..36. With B within half of L2 the direct path
# also led at M = 48..512 (0.97-1.27x against 0.65-0.89x packed) and tied at M = 2048.
DIRECT_MAX_ROWS_FACTOR = 4          # times MR


@dataclass(frozen=True)
class Arith:
    """``zero`` and ``acc + x * y`` in one dtype; shared by the matmul and conv emitters."""

    dtype: DType

    @property
    def zero(self) -> ll.Constant:
        return ll.Constant(lltype(self.dtype), 0.0 if self.dtype.is_floating else 0)

    def multiply_add(self, b: ll.IRBuilder, acc: ll.Value, x: ll.Value, y: ll.Value) -> ll.Value:
        if self.dtype.is_floating:
            return b.fadd(acc, b.fmul(x, y, flags=_CONTRACT), flags=_CONTRACT)
        # Plain (wrapping) integer ops: numpy's integer matmul wraps the same way.
        return b.add(acc, b.mul(x, y))

    def add(self, b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
        return b.fadd(x, y) if self.dtype.is_floating else b.add(x, y)


# -- small IR helpers -------------------------------------------------------------------------------

def _smin(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    if isinstance(x, ll.Constant) and isinstance(y, ll.Constant):
        return i64(min(int(x.constant), int(y.constant)))
    return b.select(b.icmp_signed("<", x, y), x, y)


def _ceil_div(b: ll.IRBuilder, x: ll.Value, d: int) -> ll.Value:
    if isinstance(x, ll.Constant):
        return i64(-(-int(x.constant) // d))
    return b.udiv(b.add(x, i64(d - 1)), i64(d))


@contextlib.contextmanager
def _loop(b: ll.IRBuilder, start, stop, step: int = 1, name: str = "i", *, unroll: bool = False) -> Iterator[ll.Value]:
    """``for_range`` whose loop LLVM must not vectorize (nor unroll unless ``unroll``).

    The GEMM's loops are vectorized by hand already, and its edge and packing loops are
    short: letting the loop vectorizer add vector bodies, epilogues and runtime checks to
    each of them made one MATMUL kernel take seconds to compile, for no run-time gain.
    """
    with for_range(b, start, stop, step=step, name=name) as iv:
        yield iv
    latch = iv.incomings[-1][1]
    latch.instructions[-1].set_metadata("llvm.loop", _loop_id(b.module, unroll))


def _loop_id(module: ll.Module, unroll: bool) -> ll.Value:
    hints = [module.add_metadata([ll.MetaDataString(module, "llvm.loop.vectorize.enable"), ll.Constant(I1, 0)])]
    if not unroll:
        hints.append(module.add_metadata([ll.MetaDataString(module, "llvm.loop.unroll.disable")]))
    # A loop ID is a distinct node listing itself first; a unique string keeps llvmlite from
    # merging the IDs of different loops.
    count = getattr(module, "_horn_loop_ids", 0)
    module._horn_loop_ids = count + 1
    node = module.add_metadata([ll.MetaDataString(module, f"horn.loop.{count}")])
    node.operands = (node, *hints)
    return node


def _ceil_div_v(b: ll.IRBuilder, x: ll.Value, d: ll.Value) -> ll.Value:
    """ceil(x / d) for i64 values, d >= 1."""
    if isinstance(x, ll.Constant) and isinstance(d, ll.Constant):
        return i64(-(-int(x.constant) // int(d.constant)))
    return b.udiv(b.add(x, b.sub(d, i64(1))), d)


def _alloca(b: ll.IRBuilder, ty: ll.Type, count: int = 1, name: str = "") -> ll.Value:
    """A stack slot in the entry block of the function being written (SROA promotes scalars)."""
    here = b.block
    b.position_at_start(b.function.entry_basic_block)
    slot = b.alloca(ty, size=None if count == 1 else i64(count), name=name)
    b.position_at_end(here)
    if count > 1:
        # An opaque pointer (llvmlite types allocas as `T*`), so elements and vectors alike
        # can be loaded and stored through it, as with every other buffer here.
        slot.type = PTR
    return slot


def _panel_align(panel_bytes: int, vector_bytes: int) -> int:
    """Alignment of a vector in a packed panel: the 64-byte aligned buffer advanced by whole
    panel rows (``panel_bytes``) and whole vectors."""
    return min(64, panel_bytes & -panel_bytes, vector_bytes & -vector_bytes)


def _gep(b: ll.IRBuilder, base: ll.Value, ty: ll.Type, index: ll.Value) -> ll.Value:
    return b.gep(base, [index], inbounds=True, source_etype=ty)


def _splat(b: ll.IRBuilder, x: ll.Value, vt: ll.VectorType) -> ll.Value:
    undef = ll.Constant(vt, None)
    one = b.insert_element(undef, x, ll.Constant(I32, 0))
    return b.shuffle_vector(one, undef, ll.Constant(ll.VectorType(I32, vt.count), [0] * vt.count))


def _lane_mask(b: ll.IRBuilder, valid: ll.Value, lanes: int) -> ll.Value:
    """<lanes x i1>: lane l is on when l < valid (an i64)."""
    iota = ll.Constant(ll.VectorType(I64, lanes), list(range(lanes)))
    return b.icmp_signed("<", iota, _splat(b, valid, ll.VectorType(I64, lanes)))


def _masked_load(b: ll.IRBuilder, ptr: ll.Value, vt: ll.VectorType, mask: ll.Value, align: int) -> ll.Value:
    """``vt`` from ``ptr`` where ``mask`` is on, zero elsewhere; off lanes are never read."""
    suffix = f"v{vt.count}{'f32' if vt.element == ll.FloatType() else 'f64' if vt.element == ll.DoubleType() else 'i' + str(vt.element.width)}"
    fn = declare(b.module, f"llvm.masked.load.{suffix}.p0", vt, [PTR, I32, ll.VectorType(I1, vt.count), vt])
    zero = ll.Constant(vt, [ll.Constant(vt.element, 0.0 if isinstance(vt.element, (ll.FloatType, ll.DoubleType))
                                        else 0).constant] * vt.count)
    return b.call(fn, [ptr, ll.Constant(I32, align), mask, zero])


# -- the register tile --------------------------------------------------------------------------------

LoadA = Callable[[ll.IRBuilder, int, ll.Value], ll.Value]      # (b, r, k) -> scalar A[row r, k]
LoadB = Callable[[ll.IRBuilder, int, ll.Value], ll.Value]      # (b, v, k) -> vector v of B's row k


@dataclass
class _Gemm:
    """One GEMM being emitted: dtype, blocking, and what to do with finished tiles."""

    arith: Arith
    p: GemmParams
    # Operand layouts, as i1 values: constants where the GEMM is emitted inline (LLVM folds
    # them away), the ``layout`` argument in the shared GEMM function (one function serves
    # every layout, so a process compiles it once). A[i, k] lies at a[i*K + k], or at
    # a[k*M + i] when ``ta`` (A is the transpose of a contiguous (K, M) matrix); B[k, j] at
    # b[k*N + j], or at b[j*K + k] when ``tb``. Only the packing reads A and B through
    # these strides (and the direct path A), so a transposed operand costs no copy.
    # ``acc``: C += A @ B (C's old values are added), for sums of products.
    ta: ll.Value = ll.Constant(I1, 0)
    tb: ll.Value = ll.Constant(I1, 0)
    acc: ll.Value = ll.Constant(I1, 0)
    # The tile epilogue (``TILE_EPILOGUE``) and its context: a null ``tile_fn`` is none.
    tile_fn: ll.Value = ll.Constant(PTR, None)
    tile_ctx: ll.Value = ll.Constant(PTR, None)

    def finish(self, b: ll.IRBuilder, c: ll.Value, ldc: ll.Value, i: ll.Value, j: ll.Value,
               rows: ll.Value, cols: ll.Value, row0: ll.Value, when: ll.Value | None = None) -> None:
        """Runs the tile epilogue (if any) over the finished ``rows x cols`` of C at [i, j]
        (``when``: an i1, the last K block; the caller stores each element's final value
        before this, and calls this once per element)."""
        if isinstance(self.tile_fn, ll.Constant):
            return
        on = b.icmp_unsigned("!=", self.tile_fn, ll.Constant(PTR, None))
        if when is not None:
            on = b.and_(on, when)
        with b.if_then(on):
            # Through an integer: llvmlite types the callee by its pointer type (opaque here);
            # LLVM folds the round trip away.
            callee = b.inttoptr(b.ptrtoint(self.tile_fn, I64), ll.PointerType(TILE_EPILOGUE))
            tile = _gep(b, c, self.elt, b.add(b.mul(i, ldc), j))
            b.call(callee, [self.tile_ctx, tile, ldc, b.add(row0, i), j, rows, cols])

    def word(self, b: ll.IRBuilder) -> ll.Value:
        """The flags as one i64 of LAYOUT_* bits, for a worker function to capture."""
        out: ll.Value = i64(0)
        for flag, bit in ((self.ta, LAYOUT_TA), (self.tb, LAYOUT_TB), (self.acc, LAYOUT_ACC)):
            if not _is_false(flag):
                out = b.or_(out, b.select(flag, i64(bit), i64(0)))
        return out

    def in_worker(self, b: ll.IRBuilder, word: ll.Value, tile_fn: ll.Value, tile_ctx: ll.Value) -> "_Gemm":
        """This GEMM as seen from a worker function that captured ``word(b)``, ``tile_fn`` and
        ``tile_ctx``: values of the caller's function cannot be used there, constants can."""
        if isinstance(self.tile_fn, ll.Constant):
            tile_fn, tile_ctx = self.tile_fn, self.tile_ctx
        if all(isinstance(f, ll.Constant) for f in (self.ta, self.tb, self.acc)):
            flags = [self.ta, self.tb, self.acc]
        else:
            flags = [b.icmp_unsigned("!=", b.and_(word, i64(bit)), i64(0)) for bit in (LAYOUT_TA, LAYOUT_TB, LAYOUT_ACC)]
        return _Gemm(self.arith, self.p, *flags, tile_fn=tile_fn, tile_ctx=tile_ctx)

    def a_strides(self, b: ll.IRBuilder, m: ll.Value, k: ll.Value) -> tuple[ll.Value, ll.Value]:
        """(row stride, column stride) of A, in elements."""
        return b.select(self.ta, i64(1), k), b.select(self.ta, m, i64(1))

    def a_at(self, b: ll.IRBuilder, a: ll.Value, m: ll.Value, k: ll.Value, row: ll.Value, kk: ll.Value) -> ll.Value:
        """Pointer to A[row, kk]."""
        rs, cs = self.a_strides(b, m, k)
        return _gep(b, a, self.elt, b.add(b.mul(row, rs), b.mul(kk, cs)))

    def b_at(self, b: ll.IRBuilder, bm: ll.Value, k: ll.Value, n: ll.Value, kk: ll.Value, col: ll.Value) -> ll.Value:
        """Pointer to B[kk, col]."""
        return _gep(b, bm, self.elt, b.select(self.tb, b.add(b.mul(col, k), kk), b.add(b.mul(kk, n), col)))

    @property
    def dt(self) -> DType:
        return self.arith.dtype

    @property
    def elt(self) -> ll.Type:
        return lltype(self.dt)

    @property
    def vt(self) -> ll.VectorType:
        return ll.VectorType(self.elt, self.p.lanes)

    def vzero(self) -> ll.Constant:
        return ll.Constant(self.vt, [self.arith.zero.constant] * self.p.lanes)

    def tile(self, b: ll.IRBuilder, mr: int, nv: int, k: ll.Value, load_a: LoadA, load_b: LoadB) -> list[list]:
        """``acc[r][v] = sum_k A[r, k] * B[k, v-th vector]`` over ``k`` in [0, k); returns the
        accumulator slots (allocas that SROA keeps in registers)."""
        accs = [[_alloca(b, self.vt, name=f"acc{r}_{v}") for v in range(nv)] for r in range(mr)]
        for row in accs:
            for slot in row:
                b.store(self.vzero(), slot)
        with _loop(b, 0, k, name="k") as kk:
            bv = [load_b(b, v, kk) for v in range(nv)]
            for r in range(mr):
                av = _splat(b, load_a(b, r, kk), self.vt)
                for v in range(nv):
                    acc = b.load(accs[r][v], typ=self.vt)
                    b.store(self.arith.multiply_add(b, acc, av, bv[v]), accs[r][v])
        return accs

    def store_full(self, b: ll.IRBuilder, accs, c: ll.Value, ldc: ll.Value, i: ll.Value, j: ll.Value,
                   row0: ll.Value, accumulate: ll.Value | None) -> None:
        """Stores a whole tile at C[i:, j:] (``ldc`` = row stride), adding C's old values if
        ``accumulate`` (i1); ``finish`` then runs the tile epilogue."""
        lanes, size = self.p.lanes, self.dt.itemsize
        for r, row in enumerate(accs):
            c_row = _gep(b, c, self.elt, add(b, mul(b, add(b, i, i64(r)), ldc), j))
            for v, slot in enumerate(row):
                ptr = _gep(b, c_row, self.elt, i64(v * lanes))
                val = b.load(slot, typ=self.vt)
                if accumulate is not None:
                    val = b.select(accumulate, self.arith.add(b, val, b.load(ptr, typ=self.vt, align=size)), val)
                b.store(val, ptr, align=size)

    def store_part(self, b: ll.IRBuilder, accs, c: ll.Value, ldc: ll.Value, i: ll.Value, j: ll.Value,
                   rows: ll.Value, cols: ll.Value, row0: ll.Value, accumulate: ll.Value | None) -> None:
        """Stores the top-left ``rows x cols`` of a tile (an edge tile), element by element."""
        mr, nv, lanes = len(accs), len(accs[0]), self.p.lanes
        nr = nv * lanes
        spill = _alloca(b, self.elt, mr * nr, name="edge")
        for r, row in enumerate(accs):
            for v, slot in enumerate(row):
                b.store(b.load(slot, typ=self.vt), _gep(b, spill, self.elt, i64(r * nr + v * lanes)),
                        align=self.dt.itemsize)
        with _loop(b, 0, rows, name="er") as r:
            with _loop(b, 0, cols, name="ec") as cc:
                val = b.load(_gep(b, spill, self.elt, b.add(b.mul(r, i64(nr)), cc)), typ=self.elt)
                ptr = _gep(b, c, self.elt, b.add(b.mul(b.add(i, r), ldc), b.add(j, cc)))
                if accumulate is not None:
                    val = b.select(accumulate, self.arith.add(b, val, b.load(ptr, typ=self.elt)), val)
                b.store(val, ptr)


# -- the direct path: A and B read in place -----------------------------------------------------------------

def _direct(wctx: KernelContext, g: _Gemm, a: ll.Value, bm: ll.Value, c: ll.Value, m: ll.Value,
            k: ll.Value, n: ll.Value, row0: ll.Value, col_lo: ll.Value, col_hi: ll.Value) -> None:
    """C[:, col_lo:col_hi] for all M rows; ``col_lo`` is a multiple of NR."""
    b, p, elt, size = wctx.builder, g.p, g.elt, g.dt.itemsize
    nr, lanes = p.dnr, p.lanes
    with _loop(b, col_lo, col_hi, step=nr, name="jd") as j:
        width = b.sub(col_hi, j)
        full = b.icmp_signed(">=", width, i64(nr))

        # (B is never transposed here: ``_packed`` and ``_define_gemm`` route that elsewhere.)
        def load_b_full(bb, v, kk):
            return bb.load(_gep(bb, bm, elt, bb.add(bb.mul(kk, n), bb.add(j, i64(v * lanes)))), typ=g.vt, align=size)

        masks: list = []

        def load_b_part(bb, v, kk):
            ptr = _gep(bb, bm, elt, bb.add(bb.mul(kk, n), bb.add(j, i64(v * lanes))))
            return _masked_load(bb, ptr, g.vt, masks[v], size)

        with b.if_else(full) as (then, otherwise):
            with then:
                _direct_rows(b, g, a, c, m, k, n, row0, j, None, load_b_full)
            with otherwise:
                masks.extend(_lane_mask(b, b.sub(width, i64(v * lanes)), lanes) for v in range(p.dnv))
                _direct_rows(b, g, a, c, m, k, n, row0, j, width, load_b_part)


def _direct_rows(b: ll.IRBuilder, g: _Gemm, a, c, m, k, n, row0, j, width, load_b) -> None:
    """Row blocks of MR, then 4, 2 and 1 rows, over one NR-wide column block at ``j``."""
    elt = g.elt
    rs, cs = g.a_strides(b, m, k)
    start: ll.Value = i64(0)
    for mr in sorted({min(4, g.p.mr), 1}, reverse=True):
        if mr > g.p.mr:
            continue
        stop = b.add(start, b.mul(b.udiv(b.sub(m, start), i64(mr)), i64(mr)))   # whole blocks of mr
        with _loop(b, start, stop, step=mr, name=f"i{mr}") as i:
            rows = [_gep(b, a, elt, b.mul(b.add(i, i64(r)), rs)) for r in range(mr)]

            def load_a(bb, r, kk, rows=rows):
                return bb.load(_gep(bb, rows[r], elt, bb.mul(kk, cs)), typ=elt)

            accs = g.tile(b, mr, g.p.dnv, k, load_a, load_b)
            accumulate = None if _is_false(g.acc) else g.acc
            if width is None:
                g.store_full(b, accs, c, n, i, j, row0, accumulate)
            else:
                g.store_part(b, accs, c, n, i, j, i64(mr), width, row0, accumulate)
            g.finish(b, c, n, i, j, i64(mr), i64(g.p.dnr) if width is None else width, row0)
        start = stop


# -- the packed path ------------------------------------------------------------------------------------

def _pack_b(wctx: KernelContext, g: _Gemm, bm, n, jc, pc, kcur, ncur, bp, lo, hi, k=None) -> None:
    """Panels [lo, hi) of B[pc:pc+kcur, jc:jc+ncur] into ``bp``: panel q is kcur x NR, zero-padded."""
    b = wctx.builder
    if _is_false(g.tb):
        _pack_b_rows(b, g, bm, n, jc, pc, kcur, ncur, bp, lo, hi)
        return
    with b.if_else(g.tb) as (then, otherwise):
        with then:
            _pack_bt(b, g, bm, k, n, jc, pc, kcur, ncur, bp, lo, hi)
        with otherwise:
            _pack_b_rows(b, g, bm, n, jc, pc, kcur, ncur, bp, lo, hi)


def _pack_b_rows(b: ll.IRBuilder, g: _Gemm, bm, n, jc, pc, kcur, ncur, bp, lo, hi) -> None:
    """``_pack_b`` for B as it lies: each panel row is NR contiguous elements of a row of B."""
    elt, nr, lanes, size = g.elt, g.p.nr, g.p.lanes, g.dt.itemsize
    with _loop(b, lo, hi, name="pb") as q:
        j = b.add(jc, b.mul(q, i64(nr)))
        width = b.sub(b.add(jc, ncur), j)
        dst = _gep(b, bp, elt, b.mul(q, b.mul(kcur, i64(nr))))
        src = _gep(b, bm, elt, b.add(b.mul(pc, n), j))
        with b.if_else(b.icmp_signed(">=", width, i64(nr))) as (then, otherwise):
            with then:
                with _loop(b, 0, kcur, name="pbk") as kk:
                    s = _gep(b, src, elt, b.mul(kk, n))
                    d = _gep(b, dst, elt, b.mul(kk, i64(nr)))
                    for v in range(g.p.nv):
                        x = b.load(_gep(b, s, elt, i64(v * lanes)), typ=g.vt, align=size)
                        b.store(x, _gep(b, d, elt, i64(v * lanes)), align=_panel_align(nr * size, lanes * size))
            with otherwise:
                masks = [_lane_mask(b, b.sub(width, i64(v * lanes)), lanes) for v in range(g.p.nv)]
                with _loop(b, 0, kcur, name="pbe") as kk:
                    s = _gep(b, src, elt, b.mul(kk, n))
                    d = _gep(b, dst, elt, b.mul(kk, i64(nr)))
                    for v in range(g.p.nv):
                        x = _masked_load(b, _gep(b, s, elt, i64(v * lanes)), g.vt, masks[v], size)
                        b.store(x, _gep(b, d, elt, i64(v * lanes)), align=_panel_align(nr * size, lanes * size))


def _pack_bt(b: ll.IRBuilder, g: _Gemm, bm, k, n, jc, pc, kcur, ncur, bp, lo, hi) -> None:
    """``_pack_b`` for a transposed B (B[kk, j] at bm[j*K + kk]): each column of a panel is a
    contiguous run of B's buffer, copied into the panel's column (stride NR); columns past
    the edge are zeros (read from the last valid column, so no load leaves B)."""
    elt, nr = g.elt, g.p.nr
    with _loop(b, lo, hi, name="pbt") as q:
        j = b.add(jc, b.mul(q, i64(nr)))
        width = b.sub(b.add(jc, ncur), j)
        dst = _gep(b, bp, elt, b.mul(q, b.mul(kcur, i64(nr))))
        srcs, valid = [], []
        for cc in range(nr):
            ok = b.icmp_signed("<", i64(cc), width)
            srcs.append(_gep(b, bm, elt, b.add(b.mul(b.select(ok, b.add(j, i64(cc)), j), k), pc)))
            valid.append(ok)
        with _loop(b, 0, kcur, name="pbtk") as kk:
            d = _gep(b, dst, elt, b.mul(kk, i64(nr)))
            for cc in range(nr):
                x = b.load(_gep(b, srcs[cc], elt, kk), typ=elt)
                b.store(b.select(valid[cc], x, g.arith.zero), _gep(b, d, elt, i64(cc)))


def _pack_a(b: ll.IRBuilder, g: _Gemm, a, m, k, i_lo, i_hi, pc, kcur, ap) -> None:
    """Rows [i_lo, i_hi) of A[:, pc:pc+kcur] into MR-tall panels at ``ap`` (kcur x MR each);
    rows past M are zeros (read from row M-1 and replaced, so no load leaves A)."""
    elt, mr = g.elt, g.p.mr
    last = b.sub(m, i64(1))
    _, cs = g.a_strides(b, m, k)
    with _loop(b, i_lo, i_hi, step=mr, name="pa") as i:
        panel = _gep(b, ap, elt, b.mul(b.sub(i, i_lo), kcur))        # (i - i_lo) / mr * kcur * mr
        srcs, valid = [], []
        for r in range(mr):
            row = b.add(i, i64(r))
            ok = b.icmp_signed("<", row, m)
            # A transposed: row r's elements lie M apart, starting at A[row, pc].
            srcs.append(g.a_at(b, a, m, k, b.select(ok, row, last), pc))
            valid.append(ok)
        with _loop(b, 0, kcur, name="pak") as kk:
            dst = _gep(b, panel, elt, b.mul(kk, i64(mr)))
            step = b.mul(kk, cs)
            for r in range(mr):
                x = b.load(_gep(b, srcs[r], elt, step), typ=elt)
                b.store(b.select(valid[r], x, g.arith.zero), _gep(b, dst, elt, i64(r)))


def gemm(ctx: KernelContext, arith: Arith, a: ll.Value, bm: ll.Value, c: ll.Value,
         m: ll.Value, k: ll.Value, n: ll.Value, *, epilogue: Epilogue | None = None,
         row0: ll.Value | None = None, ta: bool = False, tb: bool = False, acc: bool = False) -> None:
    """Writes ``c[m, n] = a[m, k] @ bm[k, n]`` (contiguous row-major, at these pointers).

    ``ta``: ``a`` holds A transposed, a contiguous (k, m) matrix; ``tb``: ``bm`` holds B
    transposed, (n, k). ``acc``: adds the product to c's values instead (no epilogue).
    ``row0`` is the epilogue's row index of c's first row (default 0). May split the work
    across threads (``codegen.cpu.parallel``). This is a call to one GEMM function per module
    and dtype (layout and epilogue are its arguments: ``tile_epilogue``), so a graph of many
    matmuls compiles it once.
    """
    if acc and epilogue is not None:
        raise ValueError("gemm: an epilogue needs the finished product (acc=False)")
    fn = _shared_gemm(ctx, arith)
    layout = ta * LAYOUT_TA | tb * LAYOUT_TB | acc * LAYOUT_ACC
    tile_fn, tile_ctx = (ll.Constant(PTR, None),) * 2
    if epilogue is not None:
        tile_fn, tile_ctx = tile_epilogue(ctx, arith.dtype, epilogue)
    ctx.builder.call(fn, [ctx.sym, a, bm, c, m, k, n, i64(layout), tile_fn, tile_ctx,
                          row0 if row0 is not None else i64(0)])


# ``void (ptr ctx, ptr tile, i64 ldc, i64 row, i64 col, i64 rows, i64 cols)``: applies an
# epilogue in place to the ``rows x cols`` elements at ``tile`` (row stride ``ldc``), which
# are output elements [row:+rows, col:+cols]; ``ctx`` holds the kernel's (sym, inputs..,
# outputs..) pointers. The shared GEMM calls it once per finished register tile.
TILE_EPILOGUE = ll.FunctionType(ll.VoidType(), [PTR, PTR, I64, I64, I64, I64, I64])


def tile_epilogue(ctx: KernelContext, dtype: DType, epilogue: Epilogue) -> tuple[ll.Value, ll.Value]:
    """(function, context) that run ``epilogue`` over tiles of a finished C, for the shared GEMM.

    The epilogue reaches the kernel's tensors through ``rebind``: its body is written in a
    function with the kernel's argument layout first (sym, inputs.., outputs..), which a
    ``TILE_EPILOGUE`` wrapper calls with the pointers it reads from the context array.
    Full vectors of columns first, then single elements. Cached per kernel and epilogue,
    so a batch loop of GEMMs shares one.
    """
    cache = ctx.function.__dict__.setdefault("_horn_tile_epilogues", {})
    if id(epilogue) in cache:
        return cache[id(epilogue)][1:]
    module, lanes = ctx.module, gemm_params(dtype).lanes
    kargs = [ctx.sym, *ctx.inputs, *ctx.outputs]
    elt, vt, size = lltype(dtype), ll.VectorType(lltype(dtype), lanes), dtype.itemsize
    base = f"{ctx.function.name}.epi"
    count = 0
    while f"{base}{count}" in module.globals:
        count += 1
    inner = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * len(kargs) + [PTR] + [I64] * 5),
                        f"{base}{count}.body")
    inner.linkage = "internal"
    inner.attributes.add("alwaysinline")
    b = ll.IRBuilder(inner.append_basic_block("entry"))
    tile, ldc, row, col, rows, cols = inner.args[len(kargs):]
    full = b.mul(b.udiv(cols, i64(lanes)), i64(lanes))
    with _loop(b, 0, rows, name="er") as r:
        line = _gep(b, tile, elt, b.mul(r, ldc))
        at_row = b.add(row, r)
        with _loop(b, 0, full, step=lanes, name="ev") as cc:
            ptr = _gep(b, line, elt, cc)
            b.store(epilogue(b, at_row, b.add(col, cc), b.load(ptr, typ=vt, align=size)), ptr, align=size)
        with _loop(b, full, cols, name="es") as cc:
            ptr = _gep(b, line, elt, cc)
            b.store(epilogue(b, at_row, b.add(col, cc), b.load(ptr, typ=elt)), ptr)
    b.ret_void()

    outer = ll.Function(module, TILE_EPILOGUE, f"{base}{count}")
    outer.linkage = "internal"
    ob = ll.IRBuilder(outer.append_basic_block("entry"))
    cptr = outer.args[0]
    ptrs = [ob.load(ob.gep(cptr, [i64(x)], inbounds=True, source_etype=PTR), typ=PTR) for x in range(len(kargs))]
    ob.call(inner, [*ptrs, *outer.args[1:]])
    ob.ret_void()

    # The context: the kernel's pointers, in a stack array of the kernel's entry block.
    kb = ctx.builder
    here = kb.block
    kb.position_at_start(ctx.function.entry_basic_block)
    arr = kb.alloca(ll.ArrayType(PTR, len(kargs)), name="epi.ctx")
    for x, v in enumerate(kargs):
        kb.store(v, kb.gep(arr, [i64(0), i64(x)], inbounds=True))
    kb.position_at_end(here)
    arr = kb.bitcast(arr, PTR)
    cache[id(epilogue)] = (epilogue, outer, arr)      # the epilogue kept alive: its id stays its own
    return outer, arr


# Bits of the shared GEMM function's ``layout`` argument.
LAYOUT_TA, LAYOUT_TB, LAYOUT_ACC = 1, 2, 4


def _is_false(flag: ll.Value) -> bool:
    return isinstance(flag, ll.Constant) and not flag.constant


# Functions every module defines the same way, by name: a JIT process compiles each once and
# links it into later modules (runtime.jit), instead of optimizing a copy per module.
SHARED_FUNCTIONS: dict[str, Callable[[ll.Module], ll.Function]] = {}
SHARED_PREFIX = "horn.gemm."


def _shared_gemm(ctx: KernelContext, arith: Arith) -> ll.Function:
    """``void horn.gemm.<dtype>...(ptr sym, ptr a, ptr b, ptr c, i64 m, i64 k, i64 n, i64 layout,
    ptr tile_fn, ptr tile_ctx, i64 row0)``, defined (internal) in the module on first use;
    ``layout`` holds the LAYOUT_* bits; ``tile_fn`` (null: none) is a ``TILE_EPILOGUE`` run
    with ``tile_ctx`` once over every element of C when it is final, its rows counted
    from ``row0``."""
    p = gemm_params(arith.dtype)
    name = f"{SHARED_PREFIX}{arith.dtype.name}.{p.mr}x{p.nv}x{p.lanes}.kc{p.kc}.nc{p.nc}.d{p.dnv}"
    fn = ctx.module.globals.get(name)
    if fn is None:
        SHARED_FUNCTIONS[name] = lambda module: _define_gemm(module, name, arith, p)
        fn = _define_gemm(ctx.module, name, arith, p)
        fn.linkage = "internal"
    return fn


def _define_gemm(module: ll.Module, name: str, arith: Arith, p: GemmParams) -> ll.Function:
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * 4 + [I64] * 4 + [PTR, PTR, I64]), name)
    fn.attributes.add("noinline")        # one copy per module: that is the point
    for arg in fn.args[1:4]:
        arg.add_attribute("noalias")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    # The workers of parallel_for mirror (sym, inputs, outputs): here (sym, a, b, c).
    gctx = KernelContext(module, fn, b, None, {}, inputs=list(fn.args[1:3]), outputs=[fn.args[3]])
    a, bm, c, m, k, n, layout, tile_fn, tile_ctx, row0 = fn.args[1:11]
    flag = [b.icmp_unsigned("!=", b.and_(layout, i64(bit)), i64(0)) for bit in (LAYOUT_TA, LAYOUT_TB, LAYOUT_ACC)]
    g = _Gemm(arith, p, *flag, tile_fn=tile_fn, tile_ctx=tile_ctx)
    if arith.dtype.is_floating:
        _packed(gctx, g, a, bm, c, m, k, n, row0)
    else:
        # Integer products take the direct path, which reads B as it lies.
        with b.if_else(g.tb) as (then, otherwise):
            with then:
                _scalar_gemm(b, g, a, bm, c, m, k, n, row0)
            with otherwise:
                _direct_parallel(gctx, g, a, bm, c, m, k, n, row0)
    gctx.builder.ret_void()
    return fn


# Threads take the packed path's columns in chunks of at least this many: each chunk packs
# all of A again, which at 512 columns costs about 3% of the chunk's multiply-adds.
_MIN_CHUNK_COLUMNS = 512

# Up to this many rows, the product streams B row after row (``_stream``). Measured (one
# thread, CPU time): 1 x 1024 x 1024 in 65 us against numpy's 70 (the column tiles: 93-95 us);
# streaming 4 rows at once (3 of them idle at M = 1) was slower than the tiles for M <= 4.
STREAM_MAX_ROWS = 1
_STREAM_SCRATCH_BYTES = 64 << 10       # STREAM_MAX_ROWS rows of C's accumulators, on the stack
_STREAM_CHUNK_VECTORS = 8              # columns per thread work item: 8 vectors


def _stream_parallel(ctx: KernelContext, g: _Gemm, a, bm, c, m, k, n, row0) -> None:
    """``C = A @ B`` for M <= STREAM_MAX_ROWS (a matrix-vector product): B streamed row by row.

    Reading B in column blocks (the tiles) strides through memory by a row of B per k; for
    a vector times a matrix that leaves caches, reading each row of B contiguously is what
    keeps the prefetchers ahead. The row(s) of C accumulate in a stack buffer (rows past M
    repeat row M-1 of A and are dropped) while four rows of B at a time stream through;
    the finished rows then go to C through the epilogue, once. Threads split the columns.
    """
    b, lanes, elt = ctx.builder, g.p.lanes, g.elt
    elems = _STREAM_SCRATCH_BYTES // g.dt.itemsize
    scratch = _alloca(b, elt, elems, name="stream.acc")
    scratch.align = 64
    ld = b.mul(_ceil_div(b, n, lanes), i64(lanes))                  # scratch row stride
    chunk = _STREAM_CHUNK_VECTORS * lanes

    def body(w: KernelContext, lo, hi, cap):
        ca, cb, cc, cm, ck, cn, crow0, cs, cld, cword, cfn, cctx = cap
        wb = w.builder
        _stream(w, g.in_worker(wb, cword, cfn, cctx), ca, cb, cc, cm, ck, cn, crow0, cs, cld,
                wb.mul(lo, i64(chunk)), _smin(wb, wb.mul(hi, i64(chunk)), cn))

    parallel_for(ctx, _ceil_div(b, n, chunk), body, cost_per_item=b.mul(k, i64(2 * chunk)),
                 captures=[a, bm, c, m, k, n, row0, scratch, ld, g.word(b), g.tile_fn, g.tile_ctx])


def _stream(w: KernelContext, g: _Gemm, a, bm, c, m, k, n, row0, scratch, ld, col_lo, col_hi) -> None:
    b, lanes, elt, vt, size = w.builder, g.p.lanes, g.elt, g.vt, g.dt.itemsize
    rows = STREAM_MAX_ROWS
    last = b.sub(m, i64(1))
    arows = [_gep(b, a, elt, b.mul(_smin(b, i64(r), last), k)) for r in range(rows)]
    srows = [_gep(b, scratch, elt, b.mul(i64(r), ld)) for r in range(rows)]
    full_hi = b.add(col_lo, b.mul(b.udiv(b.sub(col_hi, col_lo), i64(lanes)), i64(lanes)))
    tail = b.sub(col_hi, full_hi)
    with _loop(b, col_lo, b.add(full_hi, b.select(b.icmp_signed(">", tail, i64(0)), i64(lanes), i64(0))),
               step=lanes, name="sz") as j:
        for r in range(rows):
            b.store(g.vzero(), _gep(b, srows[r], elt, j), align=size)

    def update(kk: ll.Value, unroll: int) -> None:
        av = [[_splat(b, b.load(_gep(b, arows[r], elt, b.add(kk, i64(u))), typ=elt), vt)
               for u in range(unroll)] for r in range(rows)]
        brow = [_gep(b, bm, elt, b.mul(b.add(kk, i64(u)), n)) for u in range(unroll)]

        def step(bb: ll.IRBuilder, j: ll.Value, mask) -> None:
            bv = [bb.load(_gep(bb, brow[u], elt, j), typ=vt, align=size) if mask is None
                  else _masked_load(bb, _gep(bb, brow[u], elt, j), vt, mask, size) for u in range(unroll)]
            for r in range(rows):
                ptr = _gep(bb, srows[r], elt, j)
                acc = bb.load(ptr, typ=vt, align=size)
                for u in range(unroll):
                    acc = g.arith.multiply_add(bb, acc, av[r][u], bv[u])
                bb.store(acc, ptr, align=size)

        with _loop(b, col_lo, full_hi, step=lanes, name="sj") as j:
            step(b, j, None)
        with b.if_then(b.icmp_signed(">", tail, i64(0))):
            step(b, full_hi, _lane_mask(b, tail, lanes))

    k4 = b.mul(b.udiv(k, i64(4)), i64(4))
    with _loop(b, 0, k4, step=4, name="sk4") as kk:
        update(kk, 4)
    with _loop(b, k4, k, name="sk1") as kk:
        update(kk, 1)
    # The finished rows (those below M) go to C, then through the tile epilogue.
    with _loop(b, 0, m, name="sr") as r:
        srow = _gep(b, scratch, elt, b.mul(r, ld))
        crow = _gep(b, c, elt, b.mul(r, n))
        with _loop(b, col_lo, full_hi, step=lanes, name="sc") as j:
            val = b.load(_gep(b, srow, elt, j), typ=vt, align=size)
            b.store(val, _gep(b, crow, elt, j), align=size)
        with _loop(b, full_hi, col_hi, name="st") as j:
            val = b.load(_gep(b, srow, elt, j), typ=elt)
            b.store(val, _gep(b, crow, elt, j))
        g.finish(b, c, n, r, col_lo, i64(1), b.sub(col_hi, col_lo), row0)


def _direct_parallel(ctx: KernelContext, g: _Gemm, a, bm, c, m, k, n, row0) -> None:
    """The direct path with threads over column blocks (a single row with N short enough to keep
    its accumulators on the stack: streamed)."""
    b = ctx.builder
    elems = _STREAM_SCRATCH_BYTES // g.dt.itemsize
    fits = b.icmp_signed("<=", b.mul(b.add(n, i64(g.p.lanes)), i64(STREAM_MAX_ROWS)), i64(elems))
    # The stream reads A's rows contiguously (A transposed: the same for one row) and
    # overwrites C: sums of products (``acc``) take the tiles.
    fits = b.and_(fits, b.not_(g.acc))
    with b.if_else(b.and_(b.icmp_signed("<=", m, i64(STREAM_MAX_ROWS)), fits)) as (then, otherwise):
        with then:
            _stream_parallel(ctx, g, a, bm, c, m, k, n, row0)
        with otherwise:
            _direct_tiles(ctx, g, a, bm, c, m, k, n, row0)


def _direct_tiles(ctx: KernelContext, g: _Gemm, a, bm, c, m, k, n, row0) -> None:
    """The direct path's register tiles, threads over column blocks."""
    b, nr = ctx.builder, g.p.dnr
    blocks = _ceil_div(b, n, nr)

    def body(w: KernelContext, lo, hi, cap):
        ca, cb, cc, cm, ck, cn, crow0, cword, cfn, cctx = cap
        wb = w.builder
        _direct(w, g.in_worker(wb, cword, cfn, cctx), ca, cb, cc, cm, ck, cn, crow0, wb.mul(lo, i64(nr)),
                _smin(wb, wb.mul(hi, i64(nr)), cn))

    parallel_for(ctx, blocks, body, cost_per_item=b.mul(b.mul(m, k), i64(nr)),
                 captures=[a, bm, c, m, k, n, row0, g.word(b), g.tile_fn, g.tile_ctx])


def _packed(ctx: KernelContext, g: _Gemm, a, bm, c, m, k, n, row0) -> None:
    b, p, size = ctx.builder, g.p, g.dt.itemsize
    mr, nr = p.mr, p.nr
    # K blocks: kc deep. Blocks of equal depth (K = 784 in 4 blocks of 196, not 3 of 256 and
    # one of 16): a shallow last block would pay a whole tile's load and store for little work.
    blocks = _ceil_div(b, k, p.kc)
    blocks = b.select(b.icmp_signed("<", blocks, i64(1)), i64(1), blocks) \
        if not isinstance(blocks, ll.Constant) else i64(max(1, int(blocks.constant)))
    kc = _ceil_div_v(b, k, blocks)
    if not isinstance(g.tile_fn, ll.Constant):
        # With a tile epilogue, all of K at once while a K x NR panel of B fits in an A
        # block's share of L2 (mc x kc): C is then stored once, already final. Measured
        # (one thread, 128 x 1600 x 128 + bias + relu): 0.60-0.63 ms in one block against
        # 0.65-0.67 ms in 7 blocks of 229. Deeper products block K; the epilogue then runs
        # after the last block.
        whole = b.and_(b.icmp_unsigned("!=", g.tile_fn, ll.Constant(PTR, None)),
                       b.icmp_signed("<=", b.mul(k, i64(nr)), i64(p.mc * p.kc)))
        kc = b.select(whole, k, kc)
    kc_nz = b.select(b.icmp_signed("<", kc, i64(1)), i64(1), kc) if not isinstance(kc, ll.Constant) \
        else i64(max(1, int(kc.constant)))
    # A block: mcp panels of MR rows, mc x kc elements of A as the blocking says (half of L2),
    # however deep the K block actually is.
    mcp = b.udiv(i64(p.mc * p.kc // mr), kc_nz)
    mcp = b.select(b.icmp_signed("<", mcp, i64(1)), i64(1), mcp)
    # B block: nc columns, fewer when the K block is deeper than kc (an epilogue's), so that
    # it stays at kc x nc elements.
    nc = b.mul(b.udiv(b.udiv(i64(p.kc * p.nc), kc_nz), i64(nr)), i64(nr))
    nc = b.select(b.icmp_signed("<", nc, i64(nr)), i64(nr), nc)
    ncb = _smin(b, nc, b.mul(_ceil_div(b, n, nr), i64(nr)))
    threads = max_threads(ctx)
    b_elems = b.mul(kc_nz, ncb)
    a_elems = b.mul(b.mul(mcp, i64(mr)), kc_nz)
    # Per thread: its B block, then its A block, each 64-byte aligned.
    per_thread = b.and_(b.add(b.add(b_elems, a_elems), i64(64 // size - 1)), i64(~(64 // size - 1)))
    nbytes = b.mul(b.mul(threads, per_thread), i64(size))
    alloc = declare(ctx.module, "aligned_alloc", PTR, [I64, I64])
    free = declare(ctx.module, "free", ll.VoidType(), [PTR])
    # Few rows: packing B would cost as much as the product; the direct path reads it in place.
    # So it does when B fits in half of L2 (it stays there, whatever the stride), and when
    # the packing buffers cannot be allocated.
    # A transposed B always packs: the direct path would gather it element by element (slow,
    # and its code took 0.8 s to compile), while packing costs a copy of B, which is what a
    # transpose kernel in front of the product cost anyway.
    small = b.and_(b.not_(g.tb),
                   b.or_(b.icmp_signed("<", m, i64(DIRECT_MAX_ROWS_FACTOR * p.mr)),
                         b.icmp_signed("<=", b.mul(b.mul(k, n), i64(size)), i64(cpu_info().l2 // 2))))
    slot = _alloca(b, PTR, name="gemm.buf")
    b.store(ll.Constant(PTR, None), slot)
    with b.if_then(b.not_(small)):
        b.store(b.call(alloc, [i64(64), nbytes]), slot)
    buf = b.load(slot, typ=PTR)
    with b.if_else(b.icmp_unsigned("==", buf, ll.Constant(PTR, None))) as (then, otherwise):
        with then:
            if _is_false(g.tb):
                _direct_parallel(ctx, g, a, bm, c, m, k, n, row0)
            else:
                with b.if_else(g.tb) as (tb_then, tb_otherwise):
                    with tb_then:
                        _scalar_gemm(b, g, a, bm, c, m, k, n, row0)     # no memory to pack: slow but right
                    with tb_otherwise:
                        _direct_parallel(ctx, g, a, bm, c, m, k, n, row0)
        with otherwise:
            # Threads split the columns: each runs the whole blocked loop nest over its own
            # NR-wide panels of B and C, with its own packing buffers. One parallel region
            # per product (not two per K block) keeps the threads from meeting at barriers,
            # which is what costs most when the cores are shared with other work.
            def body(w: KernelContext, lo, hi, cap):
                ca, cb, cc, cm, ck, cn, crow0, ckc, cncb, cmcp, cbuf, cper, cword, cfn, cctx = cap
                wb = w.builder
                wg = g.in_worker(wb, cword, cfn, cctx)
                mine = _gep(wb, cbuf, g.elt, wb.mul(thread_index(w), cper))
                col_lo, col_hi = wb.mul(lo, i64(nr)), _smin(wb, wb.mul(hi, i64(nr)), cn)
                _packed_columns(w, wg, ca, cb, cc, cm, ck, cn, crow0, ckc, cncb, cmcp, mine,
                                _gep(wb, mine, g.elt, wb.mul(_at_least_one(wb, ckc), cncb)), col_lo, col_hi)

            parallel_for(ctx, _ceil_div(b, n, nr), body, cost_per_item=b.mul(b.mul(m, k), i64(nr)),
                         captures=[a, bm, c, m, k, n, row0, kc, ncb, mcp, buf, per_thread, g.word(b),
                                   g.tile_fn, g.tile_ctx],
                         max_threads=threads, min_grain=-(-_MIN_CHUNK_COLUMNS // nr))
            b.call(free, [buf])


def _scalar_gemm(b: ll.IRBuilder, g: _Gemm, a, bm, c, m, k, n, row0) -> None:
    """C = A @ B (or C += with ``acc``) one element at a time, any layout: the packed path's
    fallback for a transposed B when the packing buffers cannot be allocated."""
    elt = g.elt
    with _loop(b, 0, m, name="xi") as i:
        with _loop(b, 0, n, name="xj") as j:
            slot = _alloca(b, elt, name="xacc")
            b.store(g.arith.zero, slot)
            with _loop(b, 0, k, name="xk") as kk:
                x = b.load(g.a_at(b, a, m, k, i, kk), typ=elt)
                y = b.load(g.b_at(b, bm, k, n, kk, j), typ=elt)
                b.store(g.arith.multiply_add(b, b.load(slot, typ=elt), x, y), slot)
            ptr = _gep(b, c, elt, b.add(b.mul(i, n), j))
            val = b.load(slot, typ=elt)
            if not _is_false(g.acc):
                val = b.select(g.acc, g.arith.add(b, val, b.load(ptr, typ=elt)), val)
            b.store(val, ptr)
        g.finish(b, c, n, i, i64(0), i64(1), n, row0)


def _at_least_one(b: ll.IRBuilder, kc: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", kc, i64(1)), i64(1), kc)


def _packed_columns(w: KernelContext, g: _Gemm, a, bm, c, m, k, n, row0, kc, ncb, mcp, bp, ap,
                    col_lo, col_hi) -> None:
    """C[:, col_lo:col_hi] by the blocked loop nest, on one thread (``col_lo`` a multiple of NR)."""
    b, mr, nr = w.builder, g.p.mr, g.p.nr
    row_panels = _ceil_div(b, m, mr)
    pre = b.block
    head, body_bb, done = (b.append_basic_block(f"jc.{x}") for x in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    jc = b.phi(I64, name="jc")
    jc.add_incoming(col_lo, pre)
    b.cbranch(b.icmp_signed("<", jc, col_hi), body_bb, done)
    b.position_at_end(body_bb)
    ncur = _smin(b, ncb, b.sub(col_hi, jc))
    # pc over [0, K) in steps of kc; K = 0 still runs once (kcur = 0) so C gets its zeros.
    pc_pre = b.block
    pc_head, pc_body, pc_done = (b.append_basic_block(f"pc.{x}") for x in ("head", "body", "done"))
    b.branch(pc_head)
    b.position_at_end(pc_head)
    pc = b.phi(I64, name="pc")
    pc.add_incoming(i64(0), pc_pre)
    b.cbranch(b.or_(b.icmp_signed("==", pc, i64(0)), b.icmp_signed("<", pc, k)), pc_body, pc_done)
    b.position_at_end(pc_body)
    kcur = _smin(b, kc, b.sub(k, pc))
    _pack_b(w, g, bm, n, jc, pc, kcur, ncur, bp, i64(0), _ceil_div(b, ncur, nr), k)
    _macro_range(w, g, a, c, m, k, n, row0, jc, pc, kcur, ncur, bp, ap, mcp, i64(0), row_panels)
    nxt = b.select(b.icmp_signed("<", kc, i64(1)), k, b.add(pc, kc))
    pc.add_incoming(b.select(b.icmp_signed("<", k, i64(1)), i64(1), nxt), b.block)
    b.branch(pc_head)
    b.position_at_end(pc_done)
    jc.add_incoming(b.add(jc, ncur), b.block)
    b.branch(head)
    b.position_at_end(done)


def _macro_range(wctx: KernelContext, g: _Gemm, a, c, m, k, n, row0, jc, pc, kcur, ncur, bp, ap, mcp,
                 panel_lo, panel_hi) -> None:
    """This thread's row panels [panel_lo, panel_hi), in A blocks of ``mcp`` panels."""
    b, p, elt = wctx.builder, g.p, g.elt
    mr, nr = p.mr, p.nr
    accumulate = b.or_(g.acc, b.icmp_signed(">", pc, i64(0)))
    npanels_b = _ceil_div(b, ncur, nr)
    # The tile epilogue runs once per element: after the last K block's store.
    last_block = b.icmp_signed(">=", b.add(pc, kcur), k)
    pre = b.block
    head = b.append_basic_block("ic.head")
    body_bb = b.append_basic_block("ic.body")
    done = b.append_basic_block("ic.done")
    b.branch(head)
    b.position_at_end(head)
    q0 = b.phi(I64, name="q0")
    q0.add_incoming(panel_lo, pre)
    b.cbranch(b.icmp_signed("<", q0, panel_hi), body_bb, done)
    b.position_at_end(body_bb)
    q1 = _smin(b, b.add(q0, mcp), panel_hi)
    i_lo, i_hi = b.mul(q0, i64(mr)), b.mul(q1, i64(mr))
    _pack_a(b, g, a, m, k, i_lo, i_hi, pc, kcur, ap)
    with _loop(b, 0, npanels_b, name="jr") as qb:
        j = b.add(jc, b.mul(qb, i64(nr)))
        cols = _smin(b, b.sub(b.add(jc, ncur), j), i64(nr))
        bpanel = _gep(b, bp, elt, b.mul(qb, b.mul(kcur, i64(nr))))
        with _loop(b, i_lo, i_hi, step=mr, name="ir") as i:
            apanel = _gep(b, ap, elt, b.mul(b.sub(i, i_lo), kcur))

            def load_a(bb, r, kk, apanel=apanel):
                return bb.load(_gep(bb, apanel, elt, bb.add(bb.mul(kk, i64(mr)), i64(r))), typ=elt)

            def load_b(bb, v, kk, bpanel=bpanel):
                return bb.load(_gep(bb, bpanel, elt, bb.add(bb.mul(kk, i64(nr)), i64(v * p.lanes))),
                               typ=g.vt, align=_panel_align(nr * g.dt.itemsize, p.lanes * g.dt.itemsize))

            rows = _smin(b, b.sub(m, i), i64(mr))

            def full_height() -> None:
                accs = g.tile(b, mr, p.nv, kcur, load_a, load_b)
                whole = b.and_(b.icmp_signed("==", rows, i64(mr)), b.icmp_signed("==", cols, i64(nr)))
                with b.if_else(whole) as (then, otherwise):
                    with then:
                        g.store_full(b, accs, c, n, i, j, row0, accumulate)
                    with otherwise:
                        g.store_part(b, accs, c, n, i, j, rows, cols, row0, accumulate)

            def short(heights: list[int]) -> None:
                # The bottom panel with few valid rows: a shorter tile over the same packed
                # panel, not MR rows of multiply-adds on its zero padding (M = 64 with MR = 12
                # computed 72 rows).
                if len(heights) == 1:
                    g.store_part(b, g.tile(b, heights[0], p.nv, kcur, load_a, load_b), c, n, i, j, rows, cols,
                                 row0, accumulate)
                    return
                with b.if_else(b.icmp_signed("<=", rows, i64(heights[0]))) as (then, otherwise):
                    with then:
                        short(heights[:1])
                    with otherwise:
                        short(heights[1:])

            heights = [h for h in _SHORT_TILES if h < mr]
            if not heights:
                full_height()
            else:
                with b.if_else(b.icmp_signed(">", rows, i64(heights[-1]))) as (then, otherwise):
                    with then:
                        full_height()
                    with otherwise:
                        short(heights)
            g.finish(b, c, n, i, j, rows, cols, row0, last_block)
    q0.add_incoming(q1, b.block)
    b.branch(head)
    b.position_at_end(done)


# Row counts of the shorter tiles a packed GEMM's bottom panel may use (those below MR).
_SHORT_TILES = (4, 8)


# -- MATMUL ------------------------------------------------------------------------------------------

def _batch_strides(ctx: KernelContext, shape: tuple[Dim, ...], out_batch: tuple[Dim, ...],
                   matrix_size: ll.Value) -> list[ll.Value]:
    """Element stride of an operand per *output* batch axis; 0 where the operand broadcasts."""
    own = shape[:-2]
    dims = [ctx.dim(d) for d in own]
    strides = [mul(ctx.builder, s, matrix_size) for s in ctx.strides(dims)]
    lead = len(out_batch) - len(own)
    out = [i64(0)] * lead
    for d, s in zip(own, strides):
        out.append(i64(0) if d == 1 else s)
    return out


def _operand_dims(ctx: KernelContext, lhs: TensorType, rhs: TensorType, lhs_t: bool, rhs_t: bool):
    """(m, k, n) of ``A @ B`` where A, B are the buffers ``lhs``, ``rhs``, transposed as flagged."""
    m, k = (lhs.shape[-1], lhs.shape[-2]) if lhs_t else (lhs.shape[-2], lhs.shape[-1])
    n = rhs.shape[-2] if rhs_t else rhs.shape[-1]
    return m, k, n


def emit_matmul_into(ctx: KernelContext, lhs_ptr: ll.Value, rhs_ptr: ll.Value, out_ptr: ll.Value,
                     lhs: TensorType, rhs: TensorType, out: TensorType,
                     epilogue: Epilogue | None = None, *, lhs_transposed: bool = False,
                     rhs_transposed: bool = False) -> None:
    """``out = A @ B`` (numpy matmul semantics, batch axes broadcast) at these pointers.

    ``lhs`` and ``rhs`` are the types of the buffers at ``lhs_ptr`` and ``rhs_ptr``; A is
    ``lhs`` with its last two axes swapped when ``lhs_transposed`` (likewise B): the GEMM
    reads the buffer through those strides, so the transpose costs no copy.

    Every output element is stored once, after ``epilogue`` (if any) was applied to it
    (see ``codegen.cpu.kernel.Epilogue``: ``row`` counts over all output axes but the
    last). The epilogue may be called inside a worker function: tensors it loads must
    go through ``codegen.cpu.parallel.rebind(b, ptr)``.
    """
    arith = _arith(ctx, out)
    b = ctx.builder
    md, kd, nd = _operand_dims(ctx, lhs, rhs, lhs_transposed, rhs_transposed)
    m, k, n = ctx.dim(md), ctx.dim(kd), ctx.dim(nd)
    out_batch = tuple(out.shape[:-2])
    flags = dict(ta=lhs_transposed, tb=rhs_transposed)

    # (B.., M, K) @ (K, N) where only A is batched: B is shared, so the output batch is A's
    # (with leading 1s at most) and A's rows are contiguous across it: one GEMM with
    # M' = B..*M, which amortizes packing B and gives the threads more rows.
    if all(d == 1 for d in rhs.shape[:-2]) and not lhs_transposed:
        rows = m
        for d in out_batch:
            rows = mul(b, rows, ctx.dim(d))
        gemm(ctx, arith, lhs_ptr, rhs_ptr, out_ptr, rows, k, n, epilogue=epilogue, **flags)
        return

    a_str = _batch_strides(ctx, lhs.shape, out_batch, mul(b, m, k))
    b_str = _batch_strides(ctx, rhs.shape, out_batch, mul(b, k, n))
    c_str = [mul(b, s, mul(b, m, n)) for s in ctx.strides([ctx.dim(d) for d in out_batch])]
    with loop_nest(b, [ctx.dim(d) for d in out_batch], name="batch") as ivs:
        c_off = linear_index(b, ivs, c_str)
        gemm(ctx, arith,
             ctx.element_ptr(lhs_ptr, out.dtype, linear_index(b, ivs, a_str)),
             ctx.element_ptr(rhs_ptr, out.dtype, linear_index(b, ivs, b_str)),
             ctx.element_ptr(out_ptr, out.dtype, c_off),
             m, k, n, epilogue=epilogue, row0=linear_index(b, ivs, [mul(b, s, m) for s in
                                                                     ctx.strides([ctx.dim(d) for d in out_batch])]),
             **flags)


def batch_sum_mergeable(lhs: TensorType, rhs: TensorType, lhs_transposed: bool, rhs_transposed: bool) -> bool:
    """Whether ``sum_b A_b @ B_b`` over the buffers ``lhs`` (N, ., .) and ``rhs`` (N, ., .) is one
    GEMM whose contraction runs over (b, k) with the buffers as they lie.

    A' (M, N*K) must be a strided view of ``lhs``: it is when ``lhs`` holds A transposed
    ((N, K, M) = (N*K, M) row-major) or M = 1; B' (N*K, N2) likewise when ``rhs`` holds B as
    is ((N, K, N2) = (N*K, N2)) or N2 = 1.
    """
    m = lhs.shape[-1] if lhs_transposed else lhs.shape[-2]
    n = rhs.shape[-2] if rhs_transposed else rhs.shape[-1]
    return (lhs_transposed or m == 1) and (not rhs_transposed or n == 1)


def emit_batch_summed_matmul_into(ctx: KernelContext, lhs_ptr: ll.Value, rhs_ptr: ll.Value, out_ptr: ll.Value,
                                  lhs: TensorType, rhs: TensorType, out: TensorType,
                                  epilogue: Epilogue | None = None, *, lhs_transposed: bool = False,
                                  rhs_transposed: bool = False) -> None:
    """``out = sum_b A[b] @ B[b]``: ``REDUCE_SUM(MATMUL(A, B), axes=(0,))`` for rank-3 A and B
    batched alike, as one GEMM with no per-batch intermediate (operands as in
    ``emit_matmul_into``; ``out`` is the (M, N) sum).

    When ``batch_sum_mergeable``, the batch joins the contraction: one GEMM with
    K' = batch * K reads both buffers in place (the weight gradients of Dense and conv
    layers, ``x^T @ dy``). Otherwise the products accumulate into ``out`` one after the
    other (``acc``), and an epilogue runs over the finished sum afterwards.
    """
    if lhs.rank != 3 or rhs.rank != 3 or lhs.shape[0] != rhs.shape[0] or out.rank != 2:
        raise LoweringError(f"{ctx.node.name}: a batch-summed matmul takes two (N, ., .) operands with one "
                            f"batch N and gives a matrix; received {lhs}, {rhs} -> {out}")
    arith = _arith(ctx, out)
    b = ctx.builder
    md, kd, nd = _operand_dims(ctx, lhs, rhs, lhs_transposed, rhs_transposed)
    m, k, n = ctx.dim(md), ctx.dim(kd), ctx.dim(nd)
    batch = ctx.dim(lhs.shape[0])
    flags = dict(ta=lhs_transposed, tb=rhs_transposed)
    if batch_sum_mergeable(lhs, rhs, lhs_transposed, rhs_transposed):
        gemm(ctx, arith, lhs_ptr, rhs_ptr, out_ptr, m, mul(b, batch, k), n, epilogue=epilogue, **flags)
        return
    # Product 0 writes out (zeros for an empty batch: K = 0), the others add to it.
    first_k = b.select(b.icmp_signed(">", batch, i64(0)), k, i64(0))
    gemm(ctx, arith, lhs_ptr, rhs_ptr, out_ptr, m, first_k, n, **flags)
    a_step, b_step = mul(b, m, k), mul(b, k, n)
    with _loop(b, 1, batch, name="bsum") as i:
        gemm(ctx, arith, ctx.element_ptr(lhs_ptr, out.dtype, b.mul(i, a_step)),
             ctx.element_ptr(rhs_ptr, out.dtype, b.mul(i, b_step)), out_ptr, m, k, n, acc=True, **flags)
    if epilogue is not None:
        # The finished sum, as one tile.
        tile_fn, tile_ctx = tile_epilogue(ctx, out.dtype, epilogue)
        b.call(tile_fn, [tile_ctx, out_ptr, n, i64(0), i64(0), m, n])


def _arith(ctx: KernelContext, out: TensorType) -> Arith:
    if out.dtype not in MATMUL_DTYPES:
        raise LoweringError(f"{ctx.node.name}: no CPU matmul for {out.dtype.name} operands "
                            f"(supported: {', '.join(sorted(d.name for d in MATMUL_DTYPES))}); "
                            f"cast to float32 first")
    return Arith(out.dtype)


@lowering(Op.MATMUL)
def emit_matmul(ctx: KernelContext) -> None:
    """Batched ``A @ B`` with numpy broadcasting over the leading (batch) axes."""
    x, y = ctx.node.inputs
    emit_matmul_into(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], x.type, y.type, ctx.node.output.type)

"""CPU lowering of MATMUL: batched, numpy-broadcast, register-blocked.

Each (batch) matrix product ``C[M,N] = A[M,K] @ B[K,N]`` of floats runs a
micro-kernel over ``GEMM_MR`` x ``GEMM_NV``-vector tiles of C::

    for i0 in 0..M step MR:                  # full row blocks
        for j0 in 0..N step NR:              # full column blocks, NR = NV * lanes
            acc[MR][NV] = 0                  # vector registers
            for k in K:
                b[v] = B[k, j0 + v*lanes : ...]          # NV unit-stride vector loads
                acc[r][v] += splat(A[i0 + r, k]) * b[v]  # MR*NV FMAs
            C[i0:i0+MR, j0:j0+NR] = acc

and finishes the ragged right columns and bottom rows in i-k-j order, whose
innermost loop streams a contiguous row of B into a contiguous row of C, so
LLVM vectorizes it too. Integers use i-k-j throughout. There is no packing
or cache tiling yet: B is read in place with stride N, which is what the
tiled, packed GEMM of a later issue adds on top of this micro-kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ll

from codegen.cpu.kernel import (I32, KernelContext, LoweringError, add, for_range, i64, linear_index,
                                lltype, loop_nest, lowering, mul)
from ir.dtypes import DType
from ir.opcodes import Op
from ir.shapes import Dim

# Float multiply-adds may be fused into one FMA: it rounds once instead of twice, so it is
# never less accurate than numpy's (BLAS uses FMA too), and it doubles the vector throughput.
_CONTRACT = ("contract",)

# Micro-kernel tile: GEMM_MR rows of C by GEMM_NV vectors of GEMM_VECTOR_BYTES (one AVX-512
# register; LLVM splits it on narrower hosts). 6 x 2 keeps 12 accumulators + 2 B vectors + a
# broadcast live: 15 registers, so it fits AVX2's 16 as well as AVX-512's 32. On znver4 it
# measured as fast as 8 x 2 and 4 x 4, and clearly ahead of 4 x 2 at large K.
GEMM_MR = 6
GEMM_NV = 2
GEMM_VECTOR_BYTES = 64

# The dtypes whose arithmetic here matches numpy's in kind: float32/float64 round per
# operation in the operand dtype; integers wrap modulo 2**bits like numpy's. float16 is left
# out on purpose: numpy accumulates half-precision products in float32, while these kernels
# accumulate in the operand dtype.
MATMUL_DTYPES = frozenset({DType.float32, DType.float64, DType.int8, DType.uint8, DType.int32,
                           DType.int64})


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


def _ikj(ctx: KernelContext, arith: Arith, a: ll.Value, bmat: ll.Value, c: ll.Value,
         rows: tuple[ll.Value, ll.Value], col_lo: ll.Value, k: ll.Value, n: ll.Value) -> None:
    """``c[rows, col_lo:n] = a[rows, :] @ bmat[:, col_lo:n]`` in i-k-j order (``n`` is the row stride)."""
    b, dt = ctx.builder, arith.dtype
    with for_range(b, rows[0], rows[1], name="i") as i:
        c_row = ctx.element_ptr(c, dt, mul(b, i, n))
        a_row = ctx.element_ptr(a, dt, mul(b, i, k))
        with for_range(b, col_lo, n, name="jz") as j:
            ctx.store(arith.zero, c_row, dt, j)
        with for_range(b, 0, k, name="k") as kk:
            a_ik = ctx.load(a_row, dt, kk)
            b_row = ctx.element_ptr(bmat, dt, mul(b, kk, n))
            with for_range(b, col_lo, n, name="j") as j:
                acc = ctx.load(c_row, dt, j)
                ctx.store(arith.multiply_add(b, acc, a_ik, ctx.load(b_row, dt, j)), c_row, dt, j)


def _round_down(b: ll.IRBuilder, x: ll.Value, multiple: int) -> ll.Value:
    if isinstance(x, ll.Constant):
        return i64(int(x.constant) // multiple * multiple)
    return b.sub(x, b.urem(x, i64(multiple)))


def _entry_alloca(ctx: KernelContext, ty: ll.Type, name: str) -> ll.Value:
    """A stack slot in the entry block, where SROA promotes it to a register."""
    b, here = ctx.builder, ctx.builder.block
    b.position_at_start(ctx.function.entry_basic_block)
    slot = b.alloca(ty, name=name)
    b.position_at_end(here)
    return slot


def gemm(ctx: KernelContext, arith: Arith, a: ll.Value, bmat: ll.Value, c: ll.Value,
         m: ll.Value, k: ll.Value, n: ll.Value) -> None:
    """Writes ``c[m, n] = a[m, k] @ bmat[k, n]`` for contiguous row-major matrices at these pointers.

    Floats go through a register-blocked micro-kernel: a ``GEMM_MR`` x ``GEMM_NV`` vectors tile
    of C lives in registers for the whole k loop, so each B vector loaded feeds ``GEMM_MR``
    FMAs and C is stored once, instead of loaded and stored once per k as in i-k-j. The rows
    and columns that do not fill a tile take the i-k-j path. Integers always take i-k-j.
    """
    b, dt = ctx.builder, arith.dtype
    if not dt.is_floating:
        _ikj(ctx, arith, a, bmat, c, (i64(0), m), i64(0), k, n)
        return
    lanes = GEMM_VECTOR_BYTES // dt.itemsize
    vt = ll.VectorType(lltype(dt), lanes)
    nr = GEMM_NV * lanes
    m_full, n_full = _round_down(b, m, GEMM_MR), _round_down(b, n, nr)
    accs = [[_entry_alloca(ctx, vt, f"acc{r}_{v}") for v in range(GEMM_NV)] for r in range(GEMM_MR)]
    vzero = ll.Constant(vt, [arith.zero.constant] * lanes)
    splat_mask = ll.Constant(ll.VectorType(I32, lanes), [0] * lanes)
    align = dt.itemsize  # rows of B and C are only element-aligned

    with for_range(b, 0, m_full, step=GEMM_MR, name="ib") as i0:
        rows = [add(b, i0, i64(r)) for r in range(GEMM_MR)]
        a_rows = [ctx.element_ptr(a, dt, mul(b, i, k)) for i in rows]
        c_rows = [ctx.element_ptr(c, dt, mul(b, i, n)) for i in rows]
        with for_range(b, 0, n_full, step=nr, name="jb") as j0:
            for acc in (x for row in accs for x in row):
                b.store(vzero, acc)
            with for_range(b, 0, k, name="kb") as kk:
                b_ptr = ctx.element_ptr(bmat, dt, add(b, mul(b, kk, n), j0))
                bv = [b.load(ctx.element_ptr(b_ptr, dt, i64(v * lanes)), typ=vt, align=align)
                      for v in range(GEMM_NV)]
                for r in range(GEMM_MR):
                    undef = ll.Constant(vt, None)
                    a1 = b.insert_element(undef, ctx.load(a_rows[r], dt, kk), ll.Constant(I32, 0))
                    av = b.shuffle_vector(a1, undef, splat_mask)   # broadcast A[i0 + r, k]
                    for v in range(GEMM_NV):
                        acc = b.load(accs[r][v], typ=vt)
                        b.store(arith.multiply_add(b, acc, av, bv[v]), accs[r][v])
            for r in range(GEMM_MR):
                c_ptr = ctx.element_ptr(c_rows[r], dt, j0)
                for v in range(GEMM_NV):
                    b.store(b.load(accs[r][v], typ=vt), ctx.element_ptr(c_ptr, dt, i64(v * lanes)),
                            align=align)
        _ikj(ctx, arith, a, bmat, c, (i0, add(b, i0, i64(GEMM_MR))), n_full, k, n)
    _ikj(ctx, arith, a, bmat, c, (m_full, m), i64(0), k, n)


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


@lowering(Op.MATMUL)
def emit_matmul(ctx: KernelContext) -> None:
    """Batched ``A @ B`` with numpy broadcasting over the leading (batch) axes."""
    node = ctx.node
    x, y = node.inputs
    out = node.output
    if out.dtype not in MATMUL_DTYPES:
        raise LoweringError(f"{node.name}: no CPU matmul for {out.dtype.name} operands "
                            f"(supported: {', '.join(sorted(d.name for d in MATMUL_DTYPES))}); "
                            f"cast to float32 first")
    arith = Arith(out.dtype)
    b = ctx.builder
    m, k, n = ctx.dim(x.shape[-2]), ctx.dim(x.shape[-1]), ctx.dim(y.shape[-1])
    out_batch = tuple(out.shape[:-2])
    a_ptr, b_ptr, c_ptr = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]

    # (B.., M, K) @ (K, N) where only A is batched: B is shared, so the output batch is A's
    # (with leading 1s at most) and A's rows are contiguous across it: one GEMM with
    # M' = B..*M, which amortizes the loop overhead per row of B.
    if all(d == 1 for d in y.shape[:-2]):
        rows = m
        for d in out_batch:
            rows = mul(b, rows, ctx.dim(d))
        gemm(ctx, arith, a_ptr, b_ptr, c_ptr, rows, k, n)
        return

    a_str = _batch_strides(ctx, x.shape, out_batch, mul(b, m, k))
    b_str = _batch_strides(ctx, y.shape, out_batch, mul(b, k, n))
    c_str = [mul(b, s, mul(b, m, n)) for s in ctx.strides([ctx.dim(d) for d in out_batch])]
    with loop_nest(b, [ctx.dim(d) for d in out_batch], name="batch") as ivs:
        gemm(ctx, arith,
             ctx.element_ptr(a_ptr, out.dtype, linear_index(b, ivs, a_str)),
             ctx.element_ptr(b_ptr, out.dtype, linear_index(b, ivs, b_str)),
             ctx.element_ptr(c_ptr, out.dtype, linear_index(b, ivs, c_str)),
             m, k, n)

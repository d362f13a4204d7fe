"""CPU MATMUL against the reference interpreter.

Many products share one graph (one input pair and one output each), so a
single compile covers a whole family of shapes; a failure names the case.
Float32 uses rtol = atol = 1e-5 while the contraction is at most 130 long:
the register-blocked kernel (with FMA) sums in another order than numpy's BLAS, and at
K = 130 with inputs in [-2, 2) the measured gap stays about half of that
tolerance. Longer contractions are checked against the rigorous error bound
instead (``test_long_contraction_within_error_bound``).
"""
from __future__ import annotations

import ctypes
import re
from typing import Sequence

import numpy as np
import pytest

from codegen.cpu.kernel import LoweringError
from ir import DType, Graph, Op, TensorType
from ir.attrs import ReshapeAttrs
from ir.shapes import BATCH
from runtime.executable import Executable
from tests.codegen.harness import check_compiled, random_array

Shape = tuple


def _matmul_family(cases: Sequence[tuple[Shape, Shape]], dtype: DType) -> Graph:
    """One graph holding ``a_i @ b_i`` for every case; inputs a_0, b_0, a_1, b_1, ..."""
    g = Graph("matmuls")
    outs = []
    for i, (sa, sb) in enumerate(cases):
        a = g.add_input(TensorType(dtype, sa), f"a{i}")
        b = g.add_input(TensorType(dtype, sb), f"b{i}")
        outs.append(g.add_node(Op.MATMUL, [a, b], name=f"mm{i}").output)
    g.set_outputs(outs)
    return g


def _concrete(shape: Shape, batch: int) -> tuple[int, ...]:
    return tuple(batch if d is None else d for d in shape)


def _run_family(cases: Sequence[tuple[Shape, Shape]], dtype: DType, batches: Sequence[int] = (1,),
                seed: int = 0) -> None:
    """Compiles the family once and checks it at every batch size (for shapes holding None)."""
    g = _matmul_family(cases, dtype)
    exe = Executable(g)
    rng = np.random.default_rng(seed)
    for n in batches:
        inputs = [random_array(_concrete(s, n), dtype, rng) for case in cases for s in case]
        try:
            check_compiled(g, inputs, rtol=1e-5, atol=1e-5, executable=exe)
        except AssertionError as exc:
            labels = "\n".join(f"  output {i}: {sa} @ {sb}" for i, (sa, sb) in enumerate(cases))
            raise AssertionError(f"{exc}\nat batch {n}; cases:\n{labels}") from None


# (M, K, N): unit dims and primes; against the micro-kernel's tiles (12 rows x 2 vectors with
# AVX-512: 32 float32 / 16 float64 columns; 4 rows below 48 rows, the direct path): whole
# tiles only (12, 7, 64), tiles with ragged rows and columns (31, 64, 33), (67, 13, 130),
# too few rows or columns for any tile, and K = 0 on both paths.
_SIZES_2D = [(1, 1, 1), (1, 7, 13), (7, 1, 5), (13, 67, 7), (5, 13, 130), (67, 7, 1), (3, 130, 67),
             (2, 5, 16), (31, 64, 33), (12, 7, 64), (67, 13, 130), (6, 0, 32), (67, 0, 33),
             (1, 37, 1000), (1, 3, 17000), (1, 0, 20)]


@pytest.mark.parametrize("dtype", [DType.float32, DType.float64, DType.int32, DType.int64])
def test_static_2d_shapes(dtype: DType) -> None:
    _run_family([((m, k), (k, n)) for m, k, n in _SIZES_2D], dtype)


def test_narrow_integers_wrap_like_numpy() -> None:
    # Sums over K=67 of products up to 25 leave the int8 range: both sides must wrap alike.
    # (N is kept off 5..13: LLVM's unroll-and-vectorize of a short i8 row there takes ~1 s.)
    _run_family([((7, 67), (67, 67)), ((3, 13), (13, 64))], DType.int8)
    _run_family([((7, 67), (67, 1))], DType.uint8)


def test_symbolic_rows_one_executable_many_batches() -> None:
    # (N, K) @ (K, M) as Dense does, plus the same with a batch-carrying rhs.
    cases = [((None, 7), (7, 13)), ((None, 130), (130, 67)), ((None, 1), (1, 5)),
             ((None, 13, 7), (None, 7, 5)), ((None, 5, 13), (13, 3))]
    _run_family(cases, DType.float32, batches=(1, 7, 129))


def test_batched_and_broadcast_batches() -> None:
    cases = [
        ((4, 5, 7), (4, 7, 3)),            # plain batched
        ((4, 5, 7), (7, 3)),               # rhs broadcast: folded into one tall GEMM
        ((4, 5, 7), (1, 7, 3)),            # rhs batch of 1: folded too
        ((5, 7), (4, 7, 3)),               # lhs broadcast
        ((1, 5, 7), (4, 7, 3)),            # lhs batch of 1
        ((2, 1, 5, 7), (3, 7, 13)),        # both broadcast, different ranks
        ((2, 3, 1, 1), (1, 3, 1, 1)),      # 1x1 matrices under broadcast batches
        ((1, 1), (1, 1)),
        ((3, 1, 2, 13, 67), (2, 67, 5)),   # rank 5 against rank 3
        ((3, 13, 40), (3, 40, 35)),        # batched, with whole and ragged micro-kernel tiles
        ((5, 7), (1, 1, 7, 3)),            # rhs of batch 1s only: folded although lhs has none
    ]
    _run_family(cases, DType.float32)
    _run_family(cases, DType.int64)


def test_symbolic_batch_broadcast_against_one() -> None:
    # A symbolic batch axis meets a static 1 on the other operand: stride 0 for that one.
    cases = [((None, 5, 7), (1, 7, 3)), ((1, 5, 7), (None, 7, 3)), ((None, 2, 5, 7), (2, 7, 3))]
    _run_family(cases, DType.float64, batches=(1, 129))


def test_constant_weights_after_reshape() -> None:
    # The Dense pattern: flatten a (N, 4, 7) input by an aliasing reshape, multiply by a constant.
    rng = np.random.default_rng(3)
    w = random_array((28, 13), DType.float32, rng)
    g = Graph()
    x = g.add_input(TensorType(DType.float32, (None, 4, 7)), "x")
    flat = g.add_node(Op.RESHAPE, [x], ReshapeAttrs((None, 28))).output
    y = g.add_node(Op.MATMUL, [flat, g.add_constant(w, name="w")]).output
    g.set_outputs([y])
    exe = Executable(g)
    for n in (1, 129):
        check_compiled(g, [random_array((n, 4, 7), DType.float32, rng)], rtol=1e-5, atol=1e-5,
                       executable=exe)


def test_long_contraction_within_error_bound() -> None:
    # For K this long the summation order matters beyond 1e-5, so the check is the classic
    # bound on any order: |computed - exact| <= gamma_K * (|A| @ |B|), gamma_K = K*u / (1 - K*u).
    k = 2053
    rng = np.random.default_rng(4)
    g = _matmul_family([((None, k), (k, 37))], DType.float32)
    exe = Executable(g)
    for m in (19, 97):                 # the direct path; the packed one, K split in blocks
        a = random_array((m, k), DType.float32, rng)
        b = random_array((k, 37), DType.float32, rng)
        got = exe(a, b)[0]
        exact = a.astype(np.float64) @ b.astype(np.float64)
        u = 2.0 ** -24
        gamma = k * u / (1 - k * u)
        bound = gamma * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
        assert np.all(np.abs(got - exact) <= bound)
        # And on the whole it is as accurate as a float32 sum can be expected to be.
        assert np.linalg.norm(got - exact) <= 1e-6 * np.linalg.norm(exact)


def test_gemm_is_vectorized_and_compiled_once_per_process() -> None:
    # The kernel calls the module's GEMM; the JIT links one compiled copy into every module.
    from codegen.cpu.host import gemm_params
    from runtime.jit import _SHARED
    exe = Executable(_matmul_family([((64, 64), (64, 64))], DType.float32))
    again = Executable(_matmul_family([((5, 3), (3, 7))], DType.float32))
    p = gemm_params(DType.float32)
    names = [n for n in _SHARED if n == f"horn.gemm.float32.{p.mr}x{p.nv}x{p.lanes}.kc{p.kc}.nc{p.nc}.d{p.dnv}"]
    assert len(names) == 1
    for lib in (exe.library, again.library):
        assert re.search(rf'declare void @"?{re.escape(names[0])}"?\(', lib.optimized_ir)
        assert "define internal void @\"horn.gemm" not in lib.optimized_ir
    gemm_ir = _SHARED[names[0]].optimized_ir
    lanes = p.lanes
    # The micro-kernel: whole-vector multiply-adds that LLVM may contract into FMAs.
    assert re.search(rf"fmul contract <{lanes} x float>|llvm\.fma\.v{lanes}f32|llvm\.fmuladd\.v{lanes}f32",
                     gemm_ir)


def test_float16_is_refused_with_a_clear_error() -> None:
    g = _matmul_family([((2, 3), (3, 4))], DType.float16)
    with pytest.raises(LoweringError, match=r"mm0: no CPU matmul for float16.*cast to float32"):
        Executable(g)


# -- emit_matmul_into with an epilogue --------------------------------------------------------------------

_EPI_KERNEL = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 6)


@pytest.fixture
def two_threads():
    """Large cases then run on two threads (where the size threshold allows)."""
    from runtime import threads
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(before)


def _epilogue_kernel(lhs: TensorType, rhs: TensorType, dtype: DType) -> str:
    """``kernel(sym, a, b, bias, out, hits)``: out = relu(a @ b + bias[col]) through an epilogue
    that also counts, per output element, how often it was applied (int32 ``hits``)."""
    import llvmlite.ir as ll

    from codegen.cpu.kernel import I32, PTR, KernelContext, lltype
    from codegen.cpu.lowerings.linalg import emit_matmul_into
    from codegen.cpu.parallel import rebind

    g = Graph("epi")
    a, b = g.add_input(lhs, "a"), g.add_input(rhs, "b")
    node = g.add_node(Op.MATMUL, [a, b], name="mm")
    out = node.output.type
    ncols = out.shape[-1]
    module = ll.Module("epi")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * 6), "kernel")
    builder = ll.IRBuilder(fn.append_basic_block("entry"))
    sym_index = {d.name: 0 for d in (*lhs.shape, *rhs.shape) if not isinstance(d, int)}
    ctx = KernelContext(module, fn, builder, node, sym_index, inputs=list(fn.args[1:4]),
                        outputs=list(fn.args[4:6]))
    elt = lltype(dtype)

    def epilogue(bb: ll.IRBuilder, row, col, acc):
        bias, hits = rebind(bb, ctx.inputs[2]), rebind(bb, ctx.outputs[1])
        width = acc.type.count if isinstance(acc.type, ll.VectorType) else 1
        for lane in range(width):
            at = bb.gep(hits, [bb.add(bb.add(bb.mul(row, ll.Constant(ll.IntType(64), ncols)), col),
                                      ll.Constant(ll.IntType(64), lane))], source_etype=I32)
            bb.store(bb.add(bb.load(at, typ=I32), ll.Constant(I32, 1)), at)
        ty = acc.type
        x = bb.load(bb.gep(bias, [col], source_etype=elt), typ=ty, align=dtype.itemsize)
        scalar_zero = ll.Constant(elt, 0 if dtype.is_integer else 0.0)
        zero = scalar_zero if width == 1 else ll.Constant(ty, [scalar_zero] * width)
        if dtype.is_floating:
            s = bb.fadd(acc, x)
            return bb.select(bb.fcmp_ordered(">", s, zero), s, zero)
        s = bb.add(acc, x)
        return bb.select(bb.icmp_signed(">", s, zero), s, zero)

    emit_matmul_into(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], lhs, rhs, out, epilogue)
    builder.ret_void()
    return str(module)


def _concrete_type(t: TensorType, batch: int) -> tuple[int, ...]:
    return tuple(batch if not isinstance(d, int) else d for d in t.shape)


@pytest.mark.parametrize("dtype", [DType.float32, DType.float64, DType.int32])
@pytest.mark.parametrize("case", [
    ((1, 7), (7, 13)),                 # one row: streamed
    ((1, 37), (37, 1000)),             # streamed, 62 whole vectors and a tail
    ((1, 3), (3, 17000)),              # one row too long for the stack: tiles
    ((1, 300), (300, 2000)),           # streamed on two threads
    ((5, 13), (13, 130)),              # direct, ragged right block
    ((67, 13), (13, 130)),             # packed: ragged rows and columns
    ((97, 131), (131, 37)),            # primes, packed
    ((48, 32), (32, 64)),              # whole tiles only
    ((6, 0), (0, 32)),                 # empty contraction: relu(bias)
    ((None, 5, 7), (7, 33)),           # the symbolic batch, folded into rows
    ((None, 13, 7), (None, 7, 5)),     # the symbolic batch on both sides: row0 per batch
    ((3, 60, 300), (300, 70)),         # K deeper than a K block: the epilogue after the last one
    ((None, 700), (700, 1100)),        # packed, K in blocks, columns split across two threads
    ((None, 3, 9), (None, 9, 20)),     # a batch of small products, each with its row0
    ((64, 50), (50, 1)),               # one column: every tile a ragged edge
])
def test_epilogue_applied_once_per_element(case, dtype, two_threads) -> None:
    _check_epilogue_once(case, dtype)


# B beyond half of L2, so that the products pack (and block).
@pytest.mark.parametrize("case", [((97, 200), (200, 1100)), ((None, 130), (130, 2100)), ((50, 129), (129, 1500))])
def test_epilogue_once_across_small_blocks(case, monkeypatch, two_threads) -> None:
    """Tiny KC/MC/NC: many K, row and column blocks per thread; the tile epilogue still runs
    once per element, after the last K block (C holds partial sums before it)."""
    monkeypatch.setenv("HORN_GEMM_TILE", "12x2,64,48,64")
    _check_epilogue_once(case, DType.float32, batches=(49, 130))


def test_fused_matmuls_call_the_shared_gemm() -> None:
    """A kernel with an epilogue calls the module's GEMM with a small tile function; it
    emits no packed GEMM of its own."""
    lhs, rhs = TensorType(DType.float32, (BATCH, 700)), TensorType(DType.float32, (700, 1100))
    ir = _epilogue_kernel(lhs, rhs, DType.float32)
    assert re.search(r'call void @"horn\.gemm\.float32[^"]*"\(.*@"kernel\.epi0"', ir)
    kernel = ir[ir.index('define void @"kernel"'):]
    kernel = kernel[:kernel.index("\n}\n")]
    assert "aligned_alloc" not in kernel and "fmul" not in kernel


def _check_epilogue_once(case, dtype: DType, batches=None) -> None:
    from runtime.jit import JitLibrary

    sa, sb = case
    lhs = TensorType(dtype, tuple(BATCH if d is None else d for d in sa))
    rhs = TensorType(dtype, tuple(BATCH if d is None else d for d in sb))
    lib = JitLibrary(_epilogue_kernel(lhs, rhs, dtype))
    fn = _EPI_KERNEL(lib.address("kernel"))
    rng = np.random.default_rng(5)
    for batch in batches or ((1, 7, 129) if None in sa or None in sb else (1,)):
        a = random_array(_concrete_type(lhs, batch), dtype, rng)
        b = random_array(_concrete_type(rhs, batch), dtype, rng)
        want = np.matmul(a, b)
        bias = random_array((want.shape[-1],), dtype, rng)
        want = np.maximum(want + bias, 0)
        out = np.full(want.shape, 77, dtype.numpy)
        hits = np.zeros(want.shape, np.int32)
        sym = (ctypes.c_int64 * 1)(batch)
        fn(ctypes.addressof(sym), a.ctypes.data, b.ctypes.data, bias.ctypes.data, out.ctypes.data,
           hits.ctypes.data)
        assert (hits == 1).all(), f"{case} batch {batch}: epilogue hits {np.unique(hits)}"
        # float32 sums of hundreds of products round differently in another order.
        tol = 1e-4 if dtype is DType.float32 and a.shape[-1] > 100 else 1e-5
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol, err_msg=f"{case} batch {batch}")



def test_small_blocking_walks_every_block_loop(monkeypatch, two_threads) -> None:
    """Tiny KC/MC/NC (a tuning override) make ordinary shapes cross many K, row and column
    blocks: several jc and pc blocks, C accumulated across K blocks, A blocks per thread."""
    monkeypatch.setenv("HORN_GEMM_TILE", "12x2,64,48,64")
    cases = [((97, 200), (200, 130)), ((None, 61), (61, 70)), ((50, 129), (129, 33))]
    _run_family(cases, DType.float32, batches=(49, 130))
    _run_family([((97, 130), (130, 45))], DType.float64)


def test_packed_path_on_two_threads(two_threads) -> None:
    """Wide products: B beyond half of L2, several chunks of columns claimed by two threads."""
    cases = [((100, 130), (130, 1100)), ((None, 130), (130, 1030)), ((2, 50, 130), (2, 130, 1100))]
    _run_family(cases, DType.float32, batches=(60, 131))

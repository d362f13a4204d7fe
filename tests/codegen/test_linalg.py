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

import re
from typing import Sequence

import numpy as np
import pytest

from codegen.cpu.kernel import LoweringError
from ir import DType, Graph, Op, TensorType
from ir.attrs import ReshapeAttrs
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


# (M, K, N): unit dims and primes; against the float micro-kernel's 6-row x 2-vector tiles
# (32 float32 / 16 float64 columns): whole tiles only (12, 7, 64), tiles with ragged rows and
# columns (31, 64, 33), (67, 13, 130), too few rows or columns for any tile, and K = 0.
_SIZES_2D = [(1, 1, 1), (1, 7, 13), (7, 1, 5), (13, 67, 7), (5, 13, 130), (67, 7, 1), (3, 130, 67),
             (2, 5, 16), (31, 64, 33), (12, 7, 64), (67, 13, 130), (6, 0, 32)]


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
    a = random_array((19, k), DType.float32, rng)
    b = random_array((k, 37), DType.float32, rng)
    got = exe(a, b)[0]
    exact = a.astype(np.float64) @ b.astype(np.float64)
    u = 2.0 ** -24
    gamma = k * u / (1 - k * u)
    bound = gamma * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert np.all(np.abs(got - exact) <= bound)
    # And on the whole it is as accurate as a float32 sum can be expected to be.
    assert np.linalg.norm(got - exact) <= 1e-6 * np.linalg.norm(exact)


def test_inner_loop_is_vectorized() -> None:
    # The performance shape later GEMM work builds on: the unit-stride j loop must vectorize.
    exe = Executable(_matmul_family([((64, 64), (64, 64))], DType.float32))
    assert re.search(r"<\d+ x float>", exe.library.optimized_ir)


def test_float16_is_refused_with_a_clear_error() -> None:
    g = _matmul_family([((2, 3), (3, 4))], DType.float16)
    with pytest.raises(LoweringError, match=r"mm0: no CPU matmul for float16.*cast to float32"):
        Executable(g)

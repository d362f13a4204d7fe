"""CPU CONV and POOL against the reference interpreter.

Configurations are grouped into a few graphs (one input, one output per
case; kernels are constants, as trained weights would be), so each group is
compiled once and run at batch 1 and 129 through the same Executable; a
failure names the case. The longest float32 contraction here is 67 (a 1x1
conv over 67 channels) and the window sums of a 5x3x3 kernel are 45 long, so
rtol = atol = 1e-5 holds with room to spare although the kernel sums in
another order than the reference's matmuls (see test_linalg's note).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pytest

from codegen.cpu.kernel import LoweringError
from codegen.cpu.lowerings import window
from ir import DType, Graph, Op, TensorType
from ir.attrs import ConvAttrs, PoolAttrs, PoolKind
from runtime.executable import Executable
from tests.codegen.harness import check_compiled, random_array

BATCHES = (1, 129)


@dataclass(frozen=True)
class ConvCase:
    label: str
    x: tuple                      # input shape; None is the symbolic batch
    w: tuple                      # kernel (*window, C // groups, O)
    strides: tuple | None = None
    padding: tuple | None = None
    dilation: tuple | None = None
    lhs_dilation: tuple | None = None
    groups: int = 1

    def attrs(self) -> ConvAttrs:
        n = len(self.w) - 2
        return ConvAttrs(self.strides or (1,) * n, self.padding or ((0, 0),) * n,
                         self.dilation or (1,) * n, self.lhs_dilation or (1,) * n, self.groups)


@dataclass(frozen=True)
class PoolCase:
    label: str
    x: tuple
    window: tuple
    strides: tuple
    padding: tuple | None = None
    kinds: tuple = field(default=(PoolKind.MAX, PoolKind.AVG))

    def attrs(self, kind: PoolKind) -> PoolAttrs:
        return PoolAttrs(kind, self.window, self.strides, self.padding or ((0, 0),) * len(self.window))


def _concrete(shape: tuple, batch: int) -> tuple[int, ...]:
    return tuple(batch if d is None else d for d in shape)


def _check_family(g: Graph, labels: Sequence[str], make_inputs, batches: Sequence[int],
                  rtol: float = 1e-5, atol: float = 1e-5) -> None:
    exe = Executable(g)
    for n in batches:
        try:
            check_compiled(g, make_inputs(n), rtol=rtol, atol=atol, executable=exe)
        except AssertionError as exc:
            names = "\n".join(f"  output {i}: {s}" for i, s in enumerate(labels))
            raise AssertionError(f"{exc}\nat batch {n}; cases:\n{names}") from None


def _run_conv(cases: Sequence[ConvCase], dtype: DType = DType.float32, batches=BATCHES,
              seed: int = 0, atol: float = 1e-5) -> None:
    rng = np.random.default_rng(seed)
    g = Graph("convs")
    outs = []
    for i, c in enumerate(cases):
        x = g.add_input(TensorType(dtype, c.x), f"x{i}")
        w = g.add_constant(random_array(c.w, dtype, rng), name=f"w{i}")
        outs.append(g.add_node(Op.CONV, [x, w], c.attrs(), name=f"conv{i}").output)
    g.set_outputs(outs)
    _check_family(g, [c.label for c in cases],
                  lambda n: [random_array(_concrete(c.x, n), dtype, rng) for c in cases], batches,
                  atol=atol)


def _run_pool(cases: Sequence[PoolCase], dtype: DType = DType.float32, batches=BATCHES,
              rtol: float = 1e-5, atol: float = 1e-5, seed: int = 0, fill=None) -> None:
    rng = np.random.default_rng(seed)
    g = Graph("pools")
    outs, labels = [], []
    for i, c in enumerate(cases):
        x = g.add_input(TensorType(dtype, c.x), f"x{i}")
        for kind in c.kinds:
            outs.append(g.add_node(Op.POOL, [x], c.attrs(kind), name=f"{kind}pool{i}").output)
            labels.append(f"{kind} {c.label}")
    g.set_outputs(outs)

    def inputs(n: int) -> list[np.ndarray]:
        arrays = [random_array(_concrete(c.x, n), dtype, rng) for c in cases]
        return [fill(a, rng) for a in arrays] if fill else arrays

    _check_family(g, labels, inputs, batches, rtol, atol)


# -- convolution ---------------------------------------------------------------------------

CONV_1D = [
    ConvCase("k1 valid", (None, 7, 3), (1, 3, 5)),
    ConvCase("k3 s2", (None, 13, 4), (3, 4, 7), strides=(2,)),
    ConvCase("k5 s3 pad (0,1)", (None, 13, 2), (5, 2, 3), strides=(3,), padding=((0, 1),)),
    ConvCase("k3 dil 2 same", (None, 13, 3), (3, 3, 4), padding=((2, 2),), dilation=(2,)),
    ConvCase("k3 lhs 2 (transposed s2)", (None, 7, 3), (3, 3, 2), padding=((2, 2),), lhs_dilation=(2,)),
    ConvCase("k4 lhs 3 pad (2,3)", (None, 5, 2), (4, 2, 3), padding=((2, 3),), lhs_dilation=(3,)),
    ConvCase("groups 2", (None, 9, 4), (3, 2, 6), groups=2),
    ConvCase("depthwise x2", (None, 9, 4), (3, 1, 8), padding=((1, 1),), groups=4),
    ConvCase("length-1 input, pad (1,1)", (None, 1, 3), (3, 3, 2), padding=((1, 1),)),
    ConvCase("1 channel, 67 long", (None, 67, 1), (7, 1, 1)),
]

CONV_2D = [
    ConvCase("1x1", (None, 5, 7, 3), (1, 1, 3, 4)),
    ConvCase("3x3 valid", (None, 9, 8, 4), (3, 3, 4, 6)),
    ConvCase("3x3 same", (None, 9, 8, 4), (3, 3, 4, 5), padding=((1, 1), (1, 1))),
    ConvCase("5x3 s2 pad ((0,1),(1,1))", (None, 13, 7, 3), (5, 3, 3, 4), strides=(2, 2),
             padding=((0, 1), (1, 1))),
    ConvCase("3x3 s3", (None, 13, 11, 2), (3, 3, 2, 3), strides=(3, 3)),
    ConvCase("3x3 s (2,1) pad ((0,1),(1,1))", (None, 8, 7, 2), (3, 3, 2, 5), strides=(2, 1),
             padding=((0, 1), (1, 1))),
    ConvCase("3x3 dil 2 same", (None, 11, 9, 3), (3, 3, 3, 4), padding=((2, 2), (2, 2)),
             dilation=(2, 2)),
    ConvCase("5x3 dil (1,2) s2", (None, 13, 11, 2), (5, 3, 2, 3), strides=(2, 2), dilation=(1, 2)),
    ConvCase("3x3 lhs 2 (transposed s2)", (None, 5, 4, 3), (3, 3, 3, 2), padding=((2, 2), (2, 2)),
             lhs_dilation=(2, 2)),
    ConvCase("3x3 lhs 2 pad ((1,2),(1,2)) (output_padding)", (None, 5, 4, 3), (3, 3, 3, 2),
             padding=((1, 2), (1, 2)), lhs_dilation=(2, 2)),
    ConvCase("3x2 lhs (2,1) dil (1,2) s (1,2)", (None, 6, 7, 2), (3, 2, 2, 3), strides=(1, 2),
             padding=((2, 1), (0, 1)), dilation=(1, 2), lhs_dilation=(2, 1)),
    ConvCase("groups 2 same", (None, 7, 6, 4), (3, 3, 2, 6), padding=((1, 1), (1, 1)), groups=2),
    ConvCase("depthwise", (None, 7, 6, 5), (3, 3, 1, 5), padding=((1, 1), (1, 1)), groups=5),
    ConvCase("depthwise x2 s2 pad ((0,1),(1,1))", (None, 7, 6, 5), (3, 3, 1, 10), strides=(2, 2),
             padding=((0, 1), (1, 1)), groups=5),
    ConvCase("1x1 67 -> 130 channels", (None, 3, 2, 67), (1, 1, 67, 130)),
    ConvCase("kernel larger than input: empty output", (None, 2, 3, 2), (3, 3, 2, 2)),
]

CONV_3D = [
    ConvCase("1x1x1", (None, 3, 4, 5, 2), (1, 1, 1, 2, 3)),
    ConvCase("2x3x2 s (1,2,3) pad", (None, 5, 6, 7, 3), (2, 3, 2, 3, 4), strides=(1, 2, 3),
             padding=((0, 1), (1, 1), (1, 0))),
    ConvCase("3x3x3 dil 2 same", (None, 5, 5, 5, 2), (3, 3, 3, 2, 3), padding=((2, 2),) * 3,
             dilation=(2, 2, 2)),
    ConvCase("3x3x3 lhs 2 (transposed s2)", (None, 3, 3, 2, 2), (3, 3, 3, 2, 2),
             padding=((2, 2),) * 3, lhs_dilation=(2, 2, 2)),
    ConvCase("depthwise x2 same", (None, 4, 4, 4, 2), (3, 3, 3, 1, 4), padding=((1, 1),) * 3, groups=2),
]


# Shapes that exercise the register-blocked path: several pixel tiles per row plus a tail,
# border runs, output channels past one block of vectors with a masked tail, one input
# channel, the input-gradient pattern (stride 1 over an lhs-dilated input, several phases),
# and depthwise / grouped convs with ragged channel counts.
CONV_BLOCKED = [
    ConvCase("first layer 28x28x1 -> 32", (None, 28, 28, 1), (3, 3, 1, 32)),
    ConvCase("3x3 same 17x19, 37 -> 130", (None, 17, 19, 37), (3, 3, 37, 130), padding=((1, 1), (1, 1))),
    ConvCase("3x3 valid 13x13, 32 -> 64", (None, 13, 13, 32), (3, 3, 32, 64)),
    ConvCase("5x5 s2 pad 2, 3 -> 17", (None, 23, 29, 3), (5, 5, 3, 17), strides=(2, 2),
             padding=((2, 2), (2, 2))),
    ConvCase("input grad of s2: lhs 2 pad 2", (None, 11, 11, 19), (3, 3, 19, 7), padding=((2, 2), (2, 2)),
             lhs_dilation=(2, 2)),
    ConvCase("lhs 2 stride 3 dil 2", (None, 9, 31, 5), (3, 3, 5, 11), strides=(1, 3),
             padding=((1, 2), (3, 1)), dilation=(2, 2), lhs_dilation=(2, 2)),
    ConvCase("lhs 3 stride 2 pad wider than the kernel", (None, 6, 13, 3), (2, 4, 3, 5), strides=(2, 2),
             padding=((4, 1), (5, 6)), lhs_dilation=(3, 3)),
    ConvCase("depthwise 37 channels same", (None, 9, 21, 37), (3, 3, 1, 37), padding=((1, 1), (1, 1)),
             groups=37),
    ConvCase("depthwise x3 s2", (None, 9, 14, 5), (3, 3, 1, 15), strides=(2, 2), groups=5),
    ConvCase("groups 4, 20 out per group", (None, 7, 15, 12), (3, 3, 3, 80), padding=((0, 1), (1, 1)),
             groups=4),
]

CONV_BLOCKED_1D_3D = [
    ConvCase("1d k7 pad 3, 67 long, 5 -> 33", (None, 67, 5), (7, 5, 33), padding=((3, 3),)),
    ConvCase("1d lhs 2 (input grad of s2), 16 ch", (None, 31, 16), (4, 16, 16), padding=((3, 3),),
             lhs_dilation=(2,)),
    ConvCase("3d 3x3x3 same, 4 -> 24", (None, 5, 6, 13, 4), (3, 3, 3, 4, 24), padding=((1, 1),) * 3),
]


@pytest.mark.parametrize("cases", [CONV_1D, CONV_2D, CONV_3D, CONV_BLOCKED, CONV_BLOCKED_1D_3D],
                         ids=["1d", "2d", "3d", "blocked", "blocked-1d-3d"])
def test_conv_float32(cases: list[ConvCase]) -> None:
    # The blocked cases contract up to 9 * 37 = 333 products of magnitude <= 4: sums in
    # another order than the reference's differ by up to ~333 * 4 * 2**-24 * |sum| ~ 1e-4.
    _run_conv(cases, atol=1e-5 if cases in (CONV_1D, CONV_2D, CONV_3D) else 2e-4)


def test_conv_generic_loop_nest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Convs too big to unroll take the compact loop nest: the same cases through it."""
    monkeypatch.setattr(window, "_UNROLL_BUDGET", 0)
    _run_conv(CONV_2D + CONV_BLOCKED[:3], batches=(1, 5), atol=2e-4)


@pytest.mark.parametrize("size,out_len,k,s,d,pad_lo,lhs", [
    (13, 13, 3, 1, 1, 1, 1), (13, 6, 3, 2, 1, 1, 1), (7, 15, 3, 1, 1, 2, 2), (5, 16, 4, 1, 1, 2, 3),
    (9, 10, 3, 3, 2, 3, 2), (6, 9, 4, 2, 1, 5, 3), (1, 3, 3, 1, 1, 1, 1), (4, 2, 5, 4, 3, 7, 2),
    (26, 28, 3, 1, 1, 2, 1), (3, 40, 3, 1, 1, 20, 1),
])
def test_inner_tiles_visit_exactly_the_real_taps(size, out_len, k, s, d, pad_lo, lhs) -> None:
    """The tiles the fast path unrolls name, for every output position exactly once, exactly the
    taps that land on a real input element (never padding, never a hole) and the element read;
    the interior of a long axis becomes one loop of identical tiles."""
    step, jstride, groups = window._inner_tiles(size, out_len, k, s, d, pad_lo, lhs, mr_max=6)
    seen = {}
    for grp in groups:
        mr = len(grp.rows)
        assert 1 <= mr <= 6
        for t in range(grp.count):
            for r, taps in enumerate(grp.rows):
                j = grp.start + t * mr + r
                o = grp.phase + step * j
                assert o not in seen
                seen[o] = sorted((kk, base + j * jstride) for kk, base in taps)
    want = {}
    for o in range(out_len):
        taps = []
        for kk in range(k):
            p = o * s + kk * d - pad_lo
            if p >= 0 and p % lhs == 0 and p // lhs < size:
                taps.append((kk, p // lhs))
        want[o] = taps
    assert seen == want
    if (size, out_len) == (26, 28):
        assert max(g.count for g in groups) >= 3         # interior tiles share one loop


def test_conv_float64_static_batch() -> None:
    cases = [ConvCase("3x3 same", (3, 9, 8, 4), (3, 3, 4, 6), padding=((1, 1), (1, 1))),
             ConvCase("depthwise x2 s2", (3, 7, 6, 5), (3, 3, 1, 10), strides=(2, 2), groups=5),
             ConvCase("1d lhs 2", (2, 7, 3), (3, 3, 2), padding=((1, 2),), lhs_dilation=(2,)),
             ConvCase("3x3 same 37 -> 21 (ragged vectors)", (2, 11, 13, 37), (3, 3, 37, 21),
                      padding=((1, 1), (1, 1))),
             ConvCase("depthwise 11 channels", (2, 9, 10, 11), (3, 3, 1, 11), padding=((1, 1), (1, 1)),
                      groups=11)]
    _run_conv(cases, DType.float64, batches=(1,))   # static shapes: one run


def test_conv_inner_loop_is_vectorized() -> None:
    # Dense and depthwise convs alike: the unit-stride channel loop must become vector code.
    for case in [ConvCase("3x3", (None, 8, 8, 16), (3, 3, 16, 32), padding=((1, 1), (1, 1))),
                 ConvCase("dw", (None, 8, 8, 32), (3, 3, 1, 32), padding=((1, 1), (1, 1)), groups=32)]:
        g = Graph()
        x = g.add_input(TensorType(DType.float32, case.x), "x")
        w = g.add_constant(np.zeros(case.w, np.float32), name="w")
        g.set_outputs([g.add_node(Op.CONV, [x, w], case.attrs()).output])
        assert re.search(r"<\d+ x float>", Executable(g).library.optimized_ir), case.label


def test_conv_float16_is_refused_with_a_clear_error() -> None:
    g = Graph()
    x = g.add_input(TensorType(DType.float16, (None, 5, 2)), "x")
    w = g.add_input(TensorType(DType.float16, (3, 2, 2)), "w")
    g.set_outputs([g.add_node(Op.CONV, [x, w], ConvCase("", (), (3, 2, 2)).attrs(), name="c").output])
    with pytest.raises(LoweringError, match=r"c: no CPU convolution for float16.*cast to float32"):
        Executable(g)


# -- pooling -------------------------------------------------------------------------------

POOL_1D = [
    PoolCase("w2 s2", (None, 13, 3), (2,), (2,)),
    PoolCase("w3 s1", (None, 13, 3), (3,), (1,)),
    PoolCase("w3 s2 pad (1,1)", (None, 13, 5), (3,), (2,), ((1, 1),)),
    PoolCase("w2 s1 pad (0,1) (Keras same)", (None, 7, 67), (2,), (1,), ((0, 1),)),
    PoolCase("w3 s1 pad (2,2)", (None, 5, 2), (3,), (1,), ((2, 2),)),
    PoolCase("length-1 input w3 pad (1,1)", (None, 1, 4), (3,), (1,), ((1, 1),)),
]

POOL_2D = [
    PoolCase("2x2 s2", (None, 8, 6, 3), (2, 2), (2, 2)),
    PoolCase("2x2 s2 odd sizes", (None, 13, 7, 1), (2, 2), (2, 2)),
    PoolCase("3x3 s1 same", (None, 7, 5, 4), (3, 3), (1, 1), ((1, 1), (1, 1))),
    PoolCase("3x3 s2 pad ((0,1),(1,1))", (None, 9, 8, 5), (3, 3), (2, 2), ((0, 1), (1, 1))),
    PoolCase("3x2 s (2,1) pad ((1,1),(0,1))", (None, 9, 8, 5), (3, 2), (2, 1), ((1, 1), (0, 1))),
    PoolCase("2x2 s1 pad ((0,1),(0,1))", (None, 5, 5, 31), (2, 2), (1, 1), ((0, 1), (0, 1))),
    PoolCase("1x1 s1", (None, 3, 4, 2), (1, 1), (1, 1)),
]

POOL_3D = [
    PoolCase("2x2x2 s2", (None, 4, 5, 6, 3), (2, 2, 2), (2, 2, 2)),
    PoolCase("3x3x3 s1 same", (None, 3, 4, 5, 2), (3, 3, 3), (1, 1, 1), ((1, 1),) * 3),
    PoolCase("3x2x3 s (2,1,2) pad", (None, 5, 4, 7, 2), (3, 2, 3), (2, 1, 2), ((0, 1), (1, 0), (1, 1))),
]


@pytest.mark.parametrize("cases", [POOL_1D, POOL_2D, POOL_3D], ids=["1d", "2d", "3d"])
def test_pool_float32(cases: list[PoolCase]) -> None:
    _run_pool(cases)


def test_pool_float64_and_float16() -> None:
    cases = [PoolCase("3x3 s2 pad ((0,1),(1,1))", (None, 9, 8, 5), (3, 3), (2, 2), ((0, 1), (1, 1))),
             PoolCase("w3 s1 pad (1,1)", (None, 7, 3), (3,), (1,), ((1, 1),))]
    _run_pool(cases, DType.float64)
    # Half sums in the reference's order, each step rounded from float32 like numpy's: the
    # tolerance only allows for one half ulp (~1e-3).
    _run_pool(cases, DType.float16, rtol=1e-3, atol=1e-3)


def test_max_pool_propagates_nan_and_handles_infinities() -> None:
    def poison(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = a.copy()
        flat = a.reshape(-1)
        picks = rng.choice(flat.size, size=max(1, flat.size // 20), replace=False)
        flat[picks[0::3]] = np.nan
        flat[picks[1::3]] = -np.inf
        flat[picks[2::3]] = np.inf
        return a

    cases = [PoolCase("3x3 s2 pad", (None, 9, 8, 5), (3, 3), (2, 2), ((1, 1), (1, 1)), (PoolKind.MAX,))]
    _run_pool(cases, fill=poison)


def test_max_pool_is_vectorized() -> None:
    g = Graph()
    x = g.add_input(TensorType(DType.float32, (None, 8, 8, 32)), "x")
    g.set_outputs([g.add_node(Op.POOL, [x], PoolAttrs(PoolKind.MAX, (2, 2), (2, 2),
                                                      ((0, 0), (0, 0)))).output])
    assert re.search(r"<\d+ x float>", Executable(g).library.optimized_ir)

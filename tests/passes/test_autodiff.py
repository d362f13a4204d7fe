"""Reverse-mode autodiff: every VJP rule against finite differences, in float64.

Each case builds ``z = f(x1, ..., xk)`` from core ops and differentiates
``y = sum(z * u)`` (``u`` a random cotangent input) with ``gradients``. As in
JAX's ``check_vjp``, for a random direction ``v`` of one differentiated input
``<dy/dx, v>`` must match the central difference
``(y(x + eps v) - y(x - eps v)) / (2 eps)``, all through the reference
interpreter; then the compiled gradient graph (Executable) must match the
interpreter. Shapes hold 1, primes and the symbolic batch, run at batch 1 and 7.

Inputs stay away from the points where an op is not differentiable (kinks,
ties, jumps), where finite differences and any VJP convention disagree; the
conventions at those points have tests of their own below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import (ArgReduceAttrs, BroadcastAttrs, CastAttrs, ConcatAttrs, ConvAttrs, GatherAttrs,
                      PadAttrs, PoolAttrs, PoolKind, RandomAttrs, ReduceAttrs, ReshapeAttrs,
                      ScanAttrs, ScatterAddAttrs, SliceAttrs, TransposeAttrs)
from ir.facets import KNOWN_GAPS, facet_matrix
from ir.graph import Value
from ir.shapes import SymDim
from passes.autodiff import VJP_RULES, AutodiffError, gradients
from passes.vjp.elementwise import BINARY_GRADS, UNARY_GRADS
from passes.vjp.emit import no_gradient
from runtime.executable import Executable

F64 = DType.float64
F32 = DType.float32
I32 = DType.int32
BATCHES = (1, 7)
EPS = 1e-6

Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def positive(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def off_integers(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values 0.1..0.4 past an integer: no floor/ceil/round/sign jump within eps."""
    return rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.4, shape)


def ids(values: Sequence[int], dtype=np.int32) -> Sampler:
    """Fixed integer inputs (indices) tiled over the batch when the shape has one."""
    def sample(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        flat = np.resize(np.asarray(values), int(np.prod(shape, dtype=np.int64)))
        return flat.reshape(shape).astype(dtype)
    return sample


def booleans(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.random(shape) < 0.5


@dataclass(frozen=True)
class Arg:
    """One graph input: shape (None is the batch), dtype, sampler, differentiated or held fixed."""

    shape: tuple
    sample: Sampler = normal
    dtype: DType = F64
    diff: bool = True


@dataclass(frozen=True)
class Case:
    """``build(graph, inputs) -> z``; the FD tolerance is relative to the size of the terms."""

    name: str
    args: tuple[Arg, ...]
    build: Callable[[Graph, list[Value]], Value]
    rtol: float = 1e-6
    eps: float = EPS

    def __str__(self) -> str:
        return self.name


def node(g: Graph, op: Op, ins: Sequence[Value], attrs=None) -> Value:
    return g.add_node(op, list(ins), attrs).output


def concrete(shape: tuple, batch: int) -> tuple[int, ...]:
    return tuple(batch if d is None or isinstance(d, SymDim) else d for d in shape)


def build_graph(case: Case) -> tuple[Graph, list[Value], list[int]]:
    """The case's graph with outputs ``[y, *dy/dx]``; also the inputs and which are differentiated."""
    g = Graph(case.name.replace(" ", "_"))
    ins = [g.add_input(TensorType(a.dtype, tuple(BATCH if d is None else d for d in a.shape)), f"x{i}")
           for i, a in enumerate(case.args)]
    z = case.build(g, ins)
    u = g.add_input(z.type, "u")
    y = node(g, Op.REDUCE_SUM, [node(g, Op.MUL, [z, u])], ReduceAttrs(tuple(range(z.type.rank))))
    diff = [i for i, a in enumerate(case.args) if a.diff]
    grads = gradients(g, y, [ins[i] for i in diff])
    g.set_outputs([y, *grads])
    verify(g)
    return g, ins, diff


def feed(case: Case, g: Graph, batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a.sample(rng, concrete(a.shape, batch))).astype(a.dtype.numpy) for a in case.args]
    u = g.inputs[-1]
    arrays.append(rng.standard_normal(concrete(u.shape, batch)).astype(u.dtype.numpy))
    return arrays


def check_case(case: Case) -> None:
    g, _, diff = build_graph(case)
    # O0: LLVM's optimizer would cost ~0.4 s a case; the lowerings' optimized code has its
    # own tests, and test_convnet_gradients_compiled_with_full_optimization runs O3 here.
    exe = Executable(g, opt_level=0)
    for batch in BATCHES:
        arrays = feed(case, g, batch, seed=batch)
        y, *grads = interpret(g, arrays)
        rng = np.random.default_rng(100 + batch)
        for k, i in enumerate(diff):
            assert grads[k].shape == arrays[i].shape
            v = rng.standard_normal(arrays[i].shape)

            def f(t: float) -> float:
                moved = list(arrays)
                moved[i] = arrays[i] + t * v
                return float(interpret(g, moved)[0])

            fd = (f(case.eps) - f(-case.eps)) / (2 * case.eps)
            vjp = float(np.sum(grads[k] * v))
            scale = max(1.0, abs(fd), float(np.sum(np.abs(grads[k] * v))))
            assert abs(vjp - fd) <= case.rtol * scale, (
                f"{case.name}: input {i} at batch {batch}: <vjp, v> = {vjp!r}, "
                f"finite difference = {fd!r}")
        got = exe(*arrays)
        for j, (a, b) in enumerate(zip(got, [y, *grads])):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{case.name}: compiled output {j} at batch {batch}")


# -- elementwise ---------------------------------------------------------------
UNARY_SAMPLERS: dict[Op, Sampler] = {
    Op.ABS: nonzero, Op.LOG: positive, Op.LOG1P: positive, Op.SQRT: positive, Op.RSQRT: positive,
    Op.RECIPROCAL: nonzero,
}


def unary_case(op: Op) -> Case:
    return Case(f"{op}", (Arg((None, 3), UNARY_SAMPLERS.get(op, normal)),),
                lambda g, x: node(g, op, x))


BINARY_SAMPLERS: dict[Op, tuple[Sampler, Sampler]] = {
    Op.DIV: (normal, nonzero),
    Op.POW: (positive, normal),
}
BINARY_SHAPES = [((None, 1, 5), (3, 1)), ((), (None, 2)), ((None, 1), (1,))]


def binary_case(op: Op, shapes) -> Case:
    sa, sb = BINARY_SAMPLERS.get(op, (normal, normal))
    return Case(f"{op} {shapes[0]} {shapes[1]}", (Arg(shapes[0], sa), Arg(shapes[1], sb)),
                lambda g, x: node(g, op, x))


def mod_case() -> Case:
    """mod jumps where a/b is an integer: pick operands whose quotient has a fraction in [0.2, 0.8]."""
    def a_sample(rng, shape):
        return rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)

    return Case("mod", (Arg((None, 4), a_sample), Arg((4,), lambda rng, s: np.ones(s), diff=False),
                        Arg((None, 4), a_sample)),
                lambda g, x: node(g, Op.ADD, [node(g, Op.MOD, [x[0], x[1]]),
                                              node(g, Op.MOD, [x[1], node(g, Op.ADD, [x[2], x[2]])])]))


def select_case() -> Case:
    return Case("select", (Arg((None, 1), booleans, DType.bool, diff=False), Arg((3,)), Arg((None, 3))),
                lambda g, x: node(g, Op.SELECT, x))


# -- reductions and matmul --------------------------------------------------
def reduce_case(op: Op, shape: tuple, axes: tuple[int, ...], keepdims: bool) -> Case:
    return Case(f"{op} {shape} axes={axes} keepdims={keepdims}", (Arg(shape),),
                lambda g, x: node(g, op, x, ReduceAttrs(axes, keepdims)))


REDUCE_CASES = [
    reduce_case(op, shape, axes, keep)
    for op in (Op.REDUCE_SUM, Op.REDUCE_MEAN, Op.REDUCE_MAX, Op.REDUCE_MIN)
    for shape, axes, keep in [((None, 3, 2), (0,), False), ((None, 3, 2), (1, 2), True),
                              ((None, 5), (0, 1), False), ((None, 3), (), False)]
]

MATMUL_CASES = [
    Case(f"matmul {a} @ {b}", (Arg(a), Arg(b)), lambda g, x: node(g, Op.MATMUL, x))
    for a, b in [((None, 3, 4), (4, 5)),          # a Dense layer on a sequence
                 ((2, 3, 4), (4, 5)),             # the same with a static stack: one flattened GEMM
                 ((None, 1, 3, 4), (2, 4, 5)),    # batch dims broadcast on both sides
                 ((3, 4), (None, 4, 5)),
                 ((None, 4), (4, 1)),
                 ((1, 1), (1, None))]             # the batch as the columns, then contracted
]


# -- conv and pooling -------------------------------------------------------
@dataclass(frozen=True)
class ConvSpec:
    name: str
    x: tuple
    w: tuple
    strides: tuple | None = None
    padding: tuple | None = None
    dilation: tuple | None = None
    lhs_dilation: tuple | None = None
    groups: int = 1

    def attrs(self) -> ConvAttrs:
        n = len(self.w) - 2
        return ConvAttrs(self.strides or (1,) * n, self.padding or ((0, 0),) * n,
                         self.dilation or (1,) * n, self.lhs_dilation or (1,) * n, self.groups)


CONV_SPECS = [
    ConvSpec("2d stride 2 valid", (None, 7, 6, 2), (3, 3, 2, 3), strides=(2, 2)),
    ConvSpec("2d same", (None, 5, 5, 3), (3, 3, 3, 2), padding=((1, 1), (1, 1))),
    ConvSpec("2d same stride 2 (tf style)", (None, 7, 8, 1), (3, 3, 1, 2), strides=(2, 2),
             padding=((1, 1), (0, 1))),
    ConvSpec("2d asymmetric padding", (None, 5, 4, 2), (2, 3, 2, 3), padding=((0, 1), (2, 0))),
    ConvSpec("2d dilation 2", (None, 7, 7, 2), (3, 2, 2, 2), dilation=(2, 2), padding=((2, 1), (0, 1))),
    ConvSpec("2d groups 2", (None, 5, 5, 4), (3, 3, 2, 6), groups=2, strides=(2, 1), padding=((1, 1), (1, 1))),
    ConvSpec("2d depthwise x2", (None, 5, 6, 3), (3, 3, 1, 6), groups=3, padding=((1, 1), (1, 1))),
    ConvSpec("2d transposed (lhs_dilation 2)", (None, 3, 4, 2), (3, 3, 2, 3), lhs_dilation=(2, 2),
             padding=((2, 2), (1, 2))),
    ConvSpec("2d lhs_dilation 2 stride 2 dilation 2", (None, 4, 3, 2), (2, 2, 2, 1), lhs_dilation=(2, 2),
             strides=(2, 1), dilation=(1, 2), padding=((1, 0), (2, 1))),
    ConvSpec("2d padding wider than the kernel", (None, 3, 4, 2), (1, 2, 2, 2), padding=((2, 3), (2, 0)),
             lhs_dilation=(2, 1), strides=(1, 2)),
    ConvSpec("1d stride 3 with remainder", (None, 11, 2), (3, 2, 3), strides=(3,), padding=((1, 0),)),
    ConvSpec("1d kernel 1", (None, 5, 3), (1, 3, 2)),
    ConvSpec("3d", (None, 3, 4, 3, 2), (2, 2, 2, 2, 2), strides=(1, 2, 1), padding=((0, 1), (1, 0), (1, 1))),
]


def conv_case(spec: ConvSpec) -> Case:
    return Case(f"conv {spec.name}", (Arg(spec.x), Arg(spec.w)),
                lambda g, x: node(g, Op.CONV, x, spec.attrs()), rtol=1e-6)


POOL_SPECS = [
    ("2x2 stride 2", (None, 4, 5, 2), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ("3x3 stride 2 same", (None, 5, 6, 3), (3, 3), (2, 2), ((1, 1), (1, 1))),
    ("3x3 stride 1 overlapping, asymmetric pad", (None, 4, 4, 1), (3, 3), (1, 1), ((1, 1), (0, 2))),
    ("1d window 3 stride 2", (None, 7, 2), (3,), (2,), ((1, 1),)),
]


def pool_case(kind: PoolKind, spec) -> Case:
    name, x, window, strides, padding = spec
    attrs = PoolAttrs(kind, window, strides, padding)
    return Case(f"pool {kind} {name}", (Arg(x),), lambda g, v: node(g, Op.POOL, v, attrs))


def pool_grad_case(kind: PoolKind, spec) -> Case:
    """pool_grad is linear in dy (checked by FD); in x it is piecewise constant (gradient 0)."""
    name, x, window, strides, padding = spec
    attrs = PoolAttrs(kind, window, strides, padding)

    def build(g: Graph, v: list[Value]) -> Value:
        return node(g, Op.POOL_GRAD, [v[0], node(g, Op.TANH, [v[1]])], attrs)

    out = _pool_out_shape(x, attrs)
    return Case(f"pool_grad {kind} {name}", (Arg(x), Arg(out)), build)


def _pool_out_shape(x: tuple, attrs: PoolAttrs) -> tuple:
    g = Graph()
    v = g.add_input(TensorType(F64, tuple(BATCH if d is None else d for d in x)), "x")
    return tuple(None if isinstance(d, SymDim) else d for d in g.add_node(Op.POOL, [v], attrs).output.shape)


# -- movement -----------------------------------------------------------------
MOVEMENT_CASES = [
    Case("reshape", (Arg((None, 6)),), lambda g, x: node(g, Op.RESHAPE, x, ReshapeAttrs((BATCH, 2, 3)))),
    Case("reshape batch inside", (Arg((None, 2, 3)),),
         lambda g, x: node(g, Op.RESHAPE, x, ReshapeAttrs((3, BATCH, 2)))),
    Case("transpose", (Arg((None, 2, 3)),), lambda g, x: node(g, Op.TRANSPOSE, x, TransposeAttrs((2, 0, 1)))),
    Case("broadcast_to new batch", (Arg((3, 1)),),
         lambda g, x: node(g, Op.BROADCAST_TO, x, BroadcastAttrs((BATCH, 3, 4)))),
    Case("broadcast_to scalar", (Arg(()),), lambda g, x: node(g, Op.BROADCAST_TO, x, BroadcastAttrs((BATCH, 2)))),
    Case("broadcast_to static", (Arg((1, 5)),), lambda g, x: node(g, Op.BROADCAST_TO, x, BroadcastAttrs((2, 5)))),
    Case("broadcast_to batch 1 -> N", (Arg((1, 3)),),
         lambda g, x: node(g, Op.BROADCAST_TO, x, BroadcastAttrs((BATCH, 3)))),
    Case("slice steps 2 and -3", (Arg((None, 7, 5)),),
         lambda g, x: node(g, Op.SLICE, x, SliceAttrs((0, 1, 4), (None, 7, None), (1, 2, -3)))),
    Case("slice step 3 from 2", (Arg((11,)),), lambda g, x: node(g, Op.SLICE, x, SliceAttrs((2,), (11,), (3,)))),
    Case("slice reverse", (Arg((None, 5)),),
         lambda g, x: node(g, Op.SLICE, x, SliceAttrs((0, 4), (None, None), (1, -1)))),
    Case("slice step -2 partial", (Arg((2, 9)),),
         lambda g, x: node(g, Op.SLICE, x, SliceAttrs((0, 7), (2, 1), (1, -2)))),
    Case("slice contiguous", (Arg((None, 5, 3)),),
         lambda g, x: node(g, Op.SLICE, x, SliceAttrs((0, 1, 0), (None, 4, 1), (1, 1, 1)))),
    Case("concat with an operand twice", (Arg((None, 2)), Arg((None, 3))),
         lambda g, x: node(g, Op.CONCAT, [x[0], x[1], x[0]], ConcatAttrs(1))),
    Case("pad", (Arg((None, 3, 2)),),
         lambda g, x: node(g, Op.PAD, x, PadAttrs(((0, 0), (1, 2), (0, 3)), 1.5))),
    Case("gather rows (embedding), repeated and clamped ids", (Arg((7, 3)), Arg((None, 4), ids([2, 0, 2, 9, -2, 6]), I32, False)),
         lambda g, x: node(g, Op.GATHER, x, GatherAttrs(0))),
    Case("gather axis 1", (Arg((None, 6)), Arg((5,), ids([5, 1, 1, 0, 3], np.int64), DType.int64, False)),
         lambda g, x: node(g, Op.GATHER, x, GatherAttrs(1))),
    Case("gather scalar index", (Arg((None, 6)), Arg((), ids([4]), I32, False)),
         lambda g, x: node(g, Op.GATHER, x, GatherAttrs(1))),
    Case("scatter_add", (Arg((None, 4, 3)), Arg((4,), ids([1, 4, 1, 7]), I32, False)),
         lambda g, x: node(g, Op.SCATTER_ADD, x, ScatterAddAttrs(1, 5))),
    Case("random_uniform mask (dropout)", (Arg((None, 4)), Arg((2,), ids([3, 11], np.int64), DType.int64, False)),
         lambda g, x: node(g, Op.MUL, [x[0], node(g, Op.RANDOM_UNIFORM, [x[1]], RandomAttrs((BATCH, 4), F64, 1))])),
    Case("constant", (Arg((None, 3)),),
         lambda g, x: node(g, Op.MUL, [x[0], g.add_constant(np.array([0.5, -2.0, 3.0]))])),
    Case("cast f64 -> f64", (Arg((None, 3)),), lambda g, x: node(g, Op.CAST, x, CastAttrs(F64))),
    Case("scan (more in test_scan_vjp.py)", (Arg((None, 3)), Arg((None, 4, 2)), Arg((2, 3))),
         lambda g, x: _scan_case(g, x)),
]


def _scan_case(g: Graph, x: list[Value]) -> Value:
    """h' = tanh(h + x_t @ w) over 4 steps; z = the stacked h' (final carry included)."""
    step = Graph("step")
    h = step.add_input(TensorType(F64, (BATCH, 3)), "h")
    xt = step.add_input(TensorType(F64, (BATCH, 2)), "x_t")
    w = step.add_input(TensorType(F64, (2, 3)), "w")
    h2 = node(step, Op.TANH, [node(step, Op.ADD, [h, node(step, Op.MATMUL, [xt, w])])])
    step.set_outputs([h2, h2])
    return g.add_node(Op.SCAN, x, ScanAttrs(step, 1, 1, 1)).outputs[1]


def zero_gradient_case(name: str, fn: Callable[[Graph, Value], Value], sample: Sampler = off_integers) -> Case:
    """``x`` reaches ``z`` only through an op without gradient: the VJP and the FD are both 0."""
    return Case(f"no gradient: {name}", (Arg((None, 4), sample),), lambda g, x: fn(g, x[0]))


def _as_f64(g: Graph, v: Value) -> Value:
    return node(g, Op.CAST, [v], CastAttrs(F64))


ZERO_CASES = [
    *[zero_gradient_case(str(op), lambda g, x, op=op: node(g, op, [x]))
      for op in (Op.FLOOR, Op.CEIL, Op.ROUND, Op.SIGN)],
    *[zero_gradient_case(str(op), lambda g, x, op=op: _as_f64(g, node(g, op, [x, g.add_constant(np.float64(0.0))])))
      for op in (Op.EQUAL, Op.NOT_EQUAL, Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL)],
    zero_gradient_case("logical not/and/or", lambda g, x: _as_f64(g, node(g, Op.LOGICAL_OR, [
        node(g, Op.LOGICAL_NOT, [node(g, Op.LESS, [x, x])]),
        node(g, Op.LOGICAL_AND, [node(g, Op.GREATER, [x, g.add_constant(np.float64(0.0))]),
                                 node(g, Op.GREATER, [x, g.add_constant(np.float64(1.0))])])]))),
    zero_gradient_case("argmax", lambda g, x: _as_f64(g, node(g, Op.ARGMAX, [x], ArgReduceAttrs(1))), normal),
    zero_gradient_case("argmin", lambda g, x: _as_f64(g, node(g, Op.ARGMIN, [x], ArgReduceAttrs(1, True))), normal),
    zero_gradient_case("cast to int32", lambda g, x: _as_f64(g, node(g, Op.CAST, [x], CastAttrs(I32)))),
]

def _fused(g: Graph, x: list[Value]) -> Value:
    """A FUSED group of two outputs, as passes.fusion forms them: its VJP runs the body's rules."""
    from ir.attrs import FusedAttrs, FusionKind
    body = Graph("body")
    a, b = [body.add_input(v.type, f"a{i}") for i, v in enumerate(x)]
    h = node(body, Op.MUL, [node(body, Op.TANH, [a]), b])
    body.set_outputs([node(body, Op.ADD, [h, node(body, Op.EXP, [node(body, Op.NEG, [a])])]), h])
    outs = g.add_node(Op.FUSED, x, FusedAttrs(body, FusionKind.ELEMENTWISE), "fused").outputs
    return node(g, Op.MUL, list(outs))


ALL_CASES: list[Case] = [
    *[unary_case(op) for op in UNARY_GRADS],
    *[binary_case(op, shapes) for op in BINARY_GRADS if op is not Op.MOD for shapes in BINARY_SHAPES],
    mod_case(),
    select_case(),
    *REDUCE_CASES,
    *MATMUL_CASES,
    *[conv_case(s) for s in CONV_SPECS],
    *[pool_case(k, s) for k in PoolKind for s in POOL_SPECS],
    *[pool_grad_case(k, s) for k in PoolKind for s in POOL_SPECS[1:3]],
    *MOVEMENT_CASES,
    *ZERO_CASES,
    Case("fused group", (Arg((None, 3)), Arg((3,))), _fused),
]


@pytest.mark.parametrize("case", ALL_CASES, ids=str)
def test_vjp_matches_finite_differences_and_compiled(case: Case) -> None:
    check_case(case)


# -- gradients through gradients: the rules apply to the ops rules emit ----------
def _second_order(g: Graph, x: list[Value]) -> Value:
    """z = (d/dW sum(tanh(maxpool(conv(img, W)) @ V)))^2 as a function of img, W and V."""
    img, w, v = x
    c = node(g, Op.CONV, [img, w], ConvAttrs((1, 1), ((1, 1), (0, 1)), (1, 1), (1, 1)))
    p = node(g, Op.POOL, [c], PoolAttrs(PoolKind.MAX, (2, 2), (2, 2), ((0, 1), (0, 0))))
    flat = node(g, Op.RESHAPE, [p], ReshapeAttrs((BATCH, 12)))
    h = node(g, Op.TANH, [node(g, Op.MATMUL, [flat, v])])
    inner = node(g, Op.REDUCE_SUM, [h], ReduceAttrs((0, 1)))
    (gw,) = gradients(g, inner, [w])
    return node(g, Op.MUL, [gw, gw])


SECOND_ORDER = Case("second order through conv, max pool, matmul, tanh",
                    (Arg((None, 3, 4, 2)), Arg((2, 2, 2, 3)), Arg((12, 2))), _second_order, rtol=1e-5)


def test_second_order_gradient_matches_finite_differences() -> None:
    check_case(SECOND_ORDER)


def test_cast_float32_round_trip_gradient() -> None:
    """f64 -> f32 -> f64: the cotangent is cast back; FD in float32 needs a larger step."""
    case = Case("cast f64 -> f32 -> f64", (Arg((None, 3)),),
                lambda g, x: node(g, Op.MUL, [_as_f64(g, node(g, Op.CAST, [x[0]], CastAttrs(F32))),
                                              x[0]]), eps=1e-2, rtol=1e-5)
    check_case(case)


# -- tie conventions (where finite differences have no answer) ----------------------
def _grad_of(build: Callable[[Graph, Value], Value], x: np.ndarray) -> np.ndarray:
    g = Graph()
    v = g.add_input(TensorType(F64, x.shape), "x")
    z = build(g, v)
    y = node(g, Op.REDUCE_SUM, [z], ReduceAttrs(tuple(range(z.type.rank))))
    g.set_outputs(gradients(g, y, [v]))
    return interpret(g, [x])[0]


def test_maximum_and_minimum_split_ties_in_half_as_jax() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    zero = lambda g: g.add_constant(np.float64(0.0))  # noqa: E731
    relu = _grad_of(lambda g, v: node(g, Op.MAXIMUM, [v, zero(g)]), x)
    np.testing.assert_array_equal(relu, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(_grad_of(lambda g, v: node(g, Op.MINIMUM, [zero(g), v]), x),
                                  [1.0, 0.5, 0.0])


def test_reduce_max_and_min_split_ties_equally() -> None:
    x = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, -2.0, 5.0, -2.0]])
    got = _grad_of(lambda g, v: node(g, Op.REDUCE_MAX, [v], ReduceAttrs((1,))), x)
    np.testing.assert_allclose(got, [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0, 1, 0]])
    got = _grad_of(lambda g, v: node(g, Op.REDUCE_MIN, [v], ReduceAttrs((1,))), x)
    np.testing.assert_allclose(got, [[0, 1, 0, 0], [0, 0.5, 0, 0.5]])


def test_max_pool_ties_go_to_the_first_position_and_padding_gets_nothing() -> None:
    x = np.zeros((1, 3, 3, 1))
    x[0, 2, 2, 0] = -1.0
    attrs = PoolAttrs(PoolKind.MAX, (2, 2), (1, 1), ((1, 0), (1, 0)))
    got = _grad_of(lambda g, v: node(g, Op.POOL, [v], attrs), x)[0, :, :, 0]
    # Nine windows over real rows/cols (i-1, i) x (j-1, j); each tie of zeros sends its 1 to
    # its first real position in row-major order: (0,0) wins windows (0,0) (0,1) (1,0) (1,1),
    # (0,1) wins (0,2) (1,2), (1,0) wins (2,0) (2,1), and (1,1) wins (2,2) over the -1.
    np.testing.assert_array_equal(got, [[4, 2, 0], [2, 1, 0], [0, 0, 0]])
    # A window of -inf elements and padding: the first real element still receives it.
    x = np.full((1, 2, 2, 1), -np.inf)
    got = _grad_of(lambda g, v: node(g, Op.POOL, [v], PoolAttrs(PoolKind.MAX, (2, 2), (2, 2),
                                                                ((1, 0), (0, 0)))), x)
    np.testing.assert_array_equal(got[0, :, :, 0], [[1, 0], [0, 0]])


def test_abs_has_zero_gradient_at_zero() -> None:
    np.testing.assert_array_equal(_grad_of(lambda g, v: node(g, Op.ABS, [v]), np.array([-2.0, 0.0, 3.0])),
                                  [-1.0, 0.0, 1.0])


@pytest.mark.filterwarnings("ignore:divide by zero", "ignore:invalid value")
def test_pow_guards_at_zero_base_and_zero_exponent() -> None:
    g = Graph()
    a = g.add_input(TensorType(F64, (3,)), "a")
    b = g.add_input(TensorType(F64, (3,)), "b")
    y = node(g, Op.REDUCE_SUM, [node(g, Op.POW, [a, b])], ReduceAttrs((0,)))
    g.set_outputs(gradients(g, y, [a, b]))
    da, db = interpret(g, [np.array([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 3.0])])
    np.testing.assert_array_equal(da, [0.0, 0.0, 12.0])     # b = 0: no 0 * 0^-1 = NaN
    np.testing.assert_allclose(db, [0.0, 0.0, 8 * np.log(2.0)])   # a = 0: log replaced by 0


# -- structure --------------------------------------------------------------------
def _mlp() -> tuple[Graph, Value, Value, Value, Value]:
    g = Graph("mlp")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = g.add_param(TensorType(F32, (4, 3)), "w")
    b = g.add_param(TensorType(F32, (3,)), "b")
    h = node(g, Op.TANH, [node(g, Op.ADD, [node(g, Op.MATMUL, [x, w]), b])])
    loss = node(g, Op.REDUCE_MEAN, [node(g, Op.MUL, [h, h])], ReduceAttrs((0, 1)))
    return g, x, w, b, loss


def test_gradient_graph_verifies_and_leaves_the_forward_graph_alone() -> None:
    g, x, w, b, loss = _mlp()
    before = [(n.op, n.attrs, tuple(v.name for v in n.inputs)) for n in g.nodes]
    grads = gradients(g, loss, [w, b, x])
    assert [(n.op, n.attrs, tuple(v.name for v in n.inputs)) for n in g.nodes[:len(before)]] == before
    assert [gr.type for gr in grads] == [w.type, b.type, x.type]
    g.set_outputs([loss, *grads])
    verify(g)
    assert all(n.name.startswith("grad/") for n in g.nodes[len(before):])


def test_no_dead_gradient_nodes_are_left() -> None:
    # Only w is asked for: the matmul rule also made x's cotangent (ct @ w^T), which must go.
    g, x, w, b, loss = _mlp()
    (gw,) = gradients(g, loss, [w])
    needed, stack = set(), [gw]
    while stack:
        v = stack.pop()
        if v.producer is not None and id(v.producer) not in needed:
            needed.add(id(v.producer))
            stack.extend(v.producer.inputs)
    grad_nodes = [n for n in g.nodes if n.name.startswith("grad/")]
    assert grad_nodes and all(id(n) in needed for n in grad_nodes)
    assert not any(n.output.type == x.type for n in grad_nodes)


def test_gradient_of_an_independent_value_is_a_broadcast_zero() -> None:
    g, x, w, b, loss = _mlp()
    other = g.add_input(TensorType(F32, (BATCH, 2)), "unused")
    scalar = g.add_param(TensorType(F64, ()), "scalar")
    go, gs = gradients(g, loss, [other, scalar])
    assert go.type == other.type and go.producer.op is Op.BROADCAST_TO
    assert gs.type == scalar.type and gs.producer.op is Op.CONSTANT
    g.set_outputs([go, gs])
    params = {"w": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32), "scalar": np.float64(2.0)}
    for batch in BATCHES:
        zo, zs = interpret(g, [np.ones((batch, 4), np.float32), np.ones((batch, 2), np.float32)], params)
        assert zo.shape == (batch, 2) and not zo.any() and zs == 0.0


def test_uses_accumulate_and_y_itself_has_gradient_one() -> None:
    g = Graph()
    x = g.add_input(TensorType(F64, (BATCH, 3)), "x")
    sq = node(g, Op.MUL, [x, x])                                 # x read twice by one node
    y = node(g, Op.REDUCE_SUM, [node(g, Op.ADD, [sq, x])], ReduceAttrs((0, 1)))
    gx, gy = gradients(g, y, [x, y])
    assert any(n.op is Op.ADD and n.name.startswith("grad/x/accumulate") for n in g.nodes)
    g.set_outputs([gx, gy])
    xs = np.random.default_rng(0).standard_normal((7, 3))
    got_x, got_y = interpret(g, [xs])
    np.testing.assert_allclose(got_x, 2 * xs + 1)
    assert got_y == 1.0


def test_gradient_with_respect_to_an_intermediate_value() -> None:
    g, x, w, b, loss = _mlp()
    h = next(n.output for n in g.nodes if n.op is Op.TANH)
    (gh,) = gradients(g, loss, [h])
    g.set_outputs([h, gh])
    rng = np.random.default_rng(1)
    params = {"w": rng.standard_normal((4, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}
    hv, ghv = interpret(g, [rng.standard_normal((5, 4)).astype(np.float32)], params)
    np.testing.assert_allclose(ghv, 2 * hv / hv.size, rtol=1e-6)


def test_bad_requests_raise_clear_errors() -> None:
    g, x, w, b, loss = _mlp()
    h = next(n.output for n in g.nodes if n.op is Op.TANH)
    with pytest.raises(AutodiffError, match=r"y must be a floating scalar \(a loss\), received %tanh: "
                                            r"f32\[N,3\]; reduce it first"):
        gradients(g, h, [w])
    as_int = node(g, Op.CAST, [loss], CastAttrs(I32))
    with pytest.raises(AutodiffError, match="y must be a floating scalar"):
        gradients(g, as_int, [w])
    ids_in = g.add_input(TensorType(I32, (3,)), "ids")
    with pytest.raises(AutodiffError, match=r"cannot differentiate with respect to %ids: i32\[3\]"):
        gradients(g, loss, [ids_in])
    other = Graph().add_input(TensorType(F32, (3,)), "stranger")
    with pytest.raises(AutodiffError, match="%stranger is not a value of graph @mlp"):
        gradients(g, loss, [other])


# -- the facet: every op has a rule, non-differentiable ones explicitly none ---------
NOT_DIFFERENTIABLE = {
    Op.FLOOR, Op.CEIL, Op.ROUND, Op.SIGN, Op.LOGICAL_NOT, Op.LOGICAL_AND, Op.LOGICAL_OR,
    Op.EQUAL, Op.NOT_EQUAL, Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL,
    Op.ARGMAX, Op.ARGMIN, Op.RANDOM_UNIFORM, Op.CONSTANT,
}


def test_every_op_has_a_vjp_rule_and_the_facet_is_complete() -> None:
    assert set(VJP_RULES) == set(Op)
    assert "vjp" not in KNOWN_GAPS
    assert all(row["vjp"] for row in facet_matrix().values())
    assert {op for op, rule in VJP_RULES.items() if rule is no_gradient} == NOT_DIFFERENTIABLE


def test_every_differentiable_op_has_a_finite_difference_case() -> None:
    used: set[Op] = set()
    for case in [*ALL_CASES, SECOND_ORDER]:
        g, _, _ = build_graph(case)
        used |= {n.op for n in g.nodes}
    assert set(Op) - NOT_DIFFERENTIABLE - used == set()


# -- end to end: Dense + softmax cross-entropy against the hand-derived gradient -----
def _softmax_xent(g: Graph, x: Value, w: Value, b: Value, onehot: Value) -> Value:
    logits = node(g, Op.ADD, [node(g, Op.MATMUL, [x, w]), b])
    shifted = node(g, Op.SUB, [logits, node(g, Op.REDUCE_MAX, [logits], ReduceAttrs((1,), True))])
    lse = node(g, Op.LOG, [node(g, Op.REDUCE_SUM, [node(g, Op.EXP, [shifted])], ReduceAttrs((1,), True))])
    logp = node(g, Op.SUB, [shifted, lse])
    picked = node(g, Op.REDUCE_SUM, [node(g, Op.MUL, [onehot, logp])], ReduceAttrs((1,)))
    return node(g, Op.NEG, [node(g, Op.REDUCE_MEAN, [picked], ReduceAttrs((0,)))])


@pytest.mark.parametrize("dtype", [F64, F32])
def test_dense_softmax_cross_entropy_matches_the_hand_formula(dtype: DType) -> None:
    g = Graph("xent")
    x = g.add_input(TensorType(dtype, (BATCH, 5)), "x")
    onehot = g.add_input(TensorType(dtype, (BATCH, 3)), "labels")
    w = g.add_param(TensorType(dtype, (5, 3)), "w")
    b = g.add_param(TensorType(dtype, (3,)), "b")
    loss = _softmax_xent(g, x, w, b, onehot)
    gw, gb = gradients(g, loss, [w, b])
    g.set_outputs([loss, gw, gb])
    verify(g)
    rng = np.random.default_rng(3)
    wv = rng.standard_normal((5, 3)).astype(dtype.numpy)
    bv = rng.standard_normal(3).astype(dtype.numpy)
    params = {"w": wv, "b": bv}
    exe = Executable(g)          # full optimization: the form a training step runs in
    tol = 1e-12 if dtype is F64 else 1e-5
    for batch in BATCHES:
        xv = rng.standard_normal((batch, 5)).astype(dtype.numpy)
        labels = np.eye(3, dtype=dtype.numpy)[rng.integers(0, 3, batch)]
        z = xv.astype(np.float64) @ wv + bv
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        want_loss = -np.mean(np.sum(labels * np.log(p), 1))
        delta = (p - labels) / batch                  # d loss / d logits
        want = [want_loss, xv.T.astype(np.float64) @ delta, delta.sum(0)]
        for got in (interpret(g, [xv, labels], params), _run(exe, g, [xv, labels], params)):
            for a, e in zip(got, want):
                np.testing.assert_allclose(a, e, rtol=tol, atol=tol)


def _run(exe: Executable, g: Graph, inputs: list[np.ndarray], params: dict[str, np.ndarray]):
    for p in g.params:
        p.binding = _Bound(params[p.name])
    return exe(*inputs)


class _Bound:
    def __init__(self, array: np.ndarray):
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array


def test_embedding_gradient_is_a_scatter_add_at_keras_scale() -> None:
    """Embedding(10000, 32) on 128 x 200 ids: scatter_add, no one-hot (that would be 25600 x 10000)."""
    g = Graph("embedding")
    ids_in = g.add_input(TensorType(I32, (BATCH, 200)), "ids")
    table = g.add_param(TensorType(F32, (10000, 32)), "table")
    rows = node(g, Op.GATHER, [table, ids_in], GatherAttrs(0))
    u = g.add_input(TensorType(F32, (BATCH, 200, 32)), "u")
    y = node(g, Op.REDUCE_SUM, [node(g, Op.MUL, [rows, u])], ReduceAttrs((0, 1, 2)))
    n_forward = len(g)
    (gt,) = gradients(g, y, [table])
    assert gt.producer.op is Op.SCATTER_ADD and gt.producer.inputs[1] is ids_in
    # Nothing of the table's size or bigger is made besides the result itself.
    assert all(v.type.size.coef < 10000 or v is gt for n in g.nodes[n_forward:] for v in n.outputs)
    g.set_outputs([gt])
    rng = np.random.default_rng(0)
    idv = rng.integers(0, 10000, (128, 200)).astype(np.int32)
    idv[0, :10] = 7                                  # one id many times
    uv = rng.standard_normal((128, 200, 32)).astype(np.float32)
    want = np.zeros((10000, 32), np.float32)
    np.add.at(want, idv, uv)
    table.binding = _Bound(np.zeros((10000, 32), np.float32))
    got = Executable(g)(idv, uv)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_tracer_grad_differentiates_with_respect_to_variables() -> None:
    from frontend.tracing import Tracer
    from frontend.variables import Variable

    tracer = Tracer("step")
    x = tracer.input((None, 3), "float64")
    w = Variable(np.arange(6.0).reshape(3, 2), name="w", dtype="float64")
    unused = Variable(np.ones(4), name="unused", dtype="float64")
    wt = tracer.param(w)
    z = tracer.emit(Op.MATMUL, [x, wt])
    loss = tracer.emit(Op.REDUCE_SUM, [tracer.emit(Op.MUL, [z, z])], ReduceAttrs((0, 1)))
    gw, gu = tracer.grad(loss, [w, unused])
    tracer.graph.set_outputs([gw.value, gu.value])
    xv = np.random.default_rng(0).standard_normal((7, 3))
    got_w, got_u = interpret(tracer.graph, [xv])
    np.testing.assert_allclose(got_w, 2 * xv.T @ (xv @ w.numpy()))
    np.testing.assert_array_equal(got_u, np.zeros(4))


def test_convnet_gradients_compiled_with_full_optimization() -> None:
    """The training path of a small convnet at O3 (the cases above compile at O0 to stay fast):
    conv same + relu + max pool, a grouped strided conv + avg pool, dense, softmax cross-entropy."""
    g = Graph("convnet")
    img = g.add_input(TensorType(F32, (BATCH, 8, 8, 2)), "img")
    labels = g.add_input(TensorType(F32, (BATCH, 3)), "labels")
    rng = np.random.default_rng(5)
    shapes = {"k1": (3, 3, 2, 4), "k2": (3, 3, 2, 4), "w": (16, 3), "b": (3,)}
    params = {name: (rng.standard_normal(s) * 0.5).astype(np.float32) for name, s in shapes.items()}
    p = {name: g.add_param(TensorType(F32, s), name, _Bound(params[name])) for name, s in shapes.items()}
    h = node(g, Op.CONV, [img, p["k1"]], ConvAttrs((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1)))
    h = node(g, Op.MAXIMUM, [h, g.add_constant(np.float32(0))])
    h = node(g, Op.POOL, [h], PoolAttrs(PoolKind.MAX, (2, 2), (2, 2), ((0, 0), (0, 0))))
    h = node(g, Op.CONV, [h, p["k2"]], ConvAttrs((2, 2), ((1, 1), (1, 1)), (1, 1), (1, 1), groups=2))
    h = node(g, Op.POOL, [h], PoolAttrs(PoolKind.AVG, (2, 2), (1, 1), ((0, 1), (0, 1))))
    flat = node(g, Op.RESHAPE, [h], ReshapeAttrs((BATCH, 16)))
    loss = _softmax_xent(g, flat, p["w"], p["b"], labels)
    grads = gradients(g, loss, list(p.values()))
    g.set_outputs([loss, *grads])
    exe = Executable(g)
    for batch in BATCHES:
        inputs = [rng.standard_normal((batch, 8, 8, 2)).astype(np.float32),
                  np.eye(3, dtype=np.float32)[rng.integers(0, 3, batch)]]
        for a, e in zip(exe(*inputs), interpret(g, inputs)):
            np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-6)

"""Compiled elementwise ops against the reference interpreter.

Each test builds one graph per op holding several cases (dtypes, broadcast
patterns, special values), compiles it once and runs it at batch 1, 7 and
129. Special values go in as an outer product: a (K, 1) operand against a
(1, K) operand meets every pair of them.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType
from ir.attrs import CastAttrs
from ir.opcodes import BINARY_OPS, COMPARE_OPS, UNARY_OPS
from runtime.executable import Executable
from tests.codegen.batching import check_batches, concrete, full_range_ints

F16, F32, F64 = DType.float16, DType.float32, DType.float64
I8, U8, I32, I64, BOOL = DType.int8, DType.uint8, DType.int32, DType.int64, DType.bool

Gen = Callable[[tuple[int, ...], DType, np.random.Generator], np.ndarray]
Operand = tuple[DType, tuple, Gen]      # dtype, shape (None = batch), how to fill it

FLOAT_SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0])
INT_SPECIALS = {I8: [-128, -1, 0, 1, 127, -7, 7, 3, -3, 2],
                U8: [0, 1, 2, 3, 7, 127, 128, 200, 254, 255]}


def uniform(lo: float = -3.0, hi: float = 3.0) -> Gen:
    return lambda shape, dt, rng: rng.uniform(lo, hi, shape).astype(dt.numpy)


def ints(lo: int | None = None, hi: int | None = None) -> Gen:
    """Integers in [lo, hi]; the whole range of the dtype when no bounds are given."""
    if lo is None:
        return lambda shape, dt, rng: full_range_ints(shape, dt, rng)
    return lambda shape, dt, rng: rng.integers(lo, hi, size=shape, endpoint=True).astype(dt.numpy)


def specials(values: Sequence[float] | None = None) -> Gen:
    """The special values laid along the operand's shape (a column for (K, 1), a row for (1, K))."""
    return lambda shape, dt, rng: np.resize(
        np.asarray(FLOAT_SPECIALS if values is None else values), shape).astype(dt.numpy)


def bools() -> Gen:
    return lambda shape, dt, rng: rng.random(shape) < 0.5


def build(op: Op, cases: Sequence[Sequence[Operand]], attrs=None
          ) -> tuple[Graph, Callable[[int], list[np.ndarray]]]:
    """A graph applying ``op`` once per case, and a maker of its inputs for a batch size."""
    g = Graph(f"test_{op}")
    operands: list[Operand] = []
    outs = []
    for case in cases:
        values = [g.add_input(TensorType(dt, shape), "x") for dt, shape, _ in case]
        operands.extend(case)
        outs.append(g.add_node(op, values, attrs).output)
    g.set_outputs(outs)

    def make(n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(1000 + n)
        return [gen(concrete(shape, n), dt, rng) for dt, shape, gen in operands]

    return g, make


# --------------------------------------------------------------------------------------------
# unary

FLOAT_UNARY = sorted(UNARY_OPS - {Op.LOGICAL_NOT}, key=str)
DOMAIN = {Op.LOG: (0.05, 4.0), Op.SQRT: (0.0, 4.0), Op.RSQRT: (0.05, 4.0), Op.LOG1P: (-0.9, 3.0)}


@pytest.mark.parametrize("op", FLOAT_UNARY, ids=str)
def test_unary_float(op: Op) -> None:
    u = uniform(*DOMAIN.get(op, (-3.0, 3.0)))
    g, make = build(op, [
        [(F32, (None, 13), u)],
        [(F64, (None, 5), u)],
        [(F32, (3, 1, 67), u)],
        [(F32, (), u)],
        [(F16, (None, 7), u)],
        [(F32, (10,), specials())],
        [(F64, (10,), specials())],
    ])
    check_batches(g, make)


@pytest.mark.parametrize("op", [Op.NEG, Op.ABS, Op.SIGN], ids=str)
def test_unary_int(op: Op) -> None:
    g, make = build(op, [
        [(I8, (None, 7), ints())],
        [(U8, (None, 13), ints())],
        [(I32, (3, 1, 5), ints())],
        [(I64, (), ints())],
        [(I8, (10,), specials(INT_SPECIALS[I8]))],
        [(U8, (10,), specials(INT_SPECIALS[U8]))],
    ])
    check_batches(g, make)


@pytest.mark.parametrize("op", [Op.LOGICAL_NOT, Op.LOGICAL_AND, Op.LOGICAL_OR], ids=str)
def test_logical(op: Op) -> None:
    if op is Op.LOGICAL_NOT:
        cases = [[(BOOL, (None, 7), bools())], [(BOOL, (13,), bools())], [(BOOL, (), bools())]]
    else:
        cases = [[(BOOL, (None, 7), bools()), (BOOL, (None, 7), bools())],
                 [(BOOL, (None, 1), bools()), (BOOL, (1, 7), bools())],
                 [(BOOL, (), bools()), (BOOL, (3, 1, 5), bools())]]
    check_batches(*build(op, cases))


# --------------------------------------------------------------------------------------------
# binary

NUMERIC_BINARY = sorted(BINARY_OPS - {Op.LOGICAL_AND, Op.LOGICAL_OR}, key=str)


def _binary_gens(op: Op) -> tuple[Gen, Gen, Gen, Gen]:
    """(float lhs, float rhs, int lhs, int rhs) generators suited to ``op``."""
    if op is Op.POW:
        # numpy refuses negative integer exponents; see test_int_pow_negative_exponent.
        return uniform(0.1, 3.0), uniform(-3.0, 3.0), ints(), ints(0, 9)
    if op is Op.MOD:
        return uniform(), uniform(), ints(), ints(-5, 5)     # int divisors include 0 and -1
    return uniform(), uniform(), ints(), ints()


@pytest.mark.parametrize("op", NUMERIC_BINARY, ids=str)
def test_binary(op: Op) -> None:
    fx, fy, ix, iy = _binary_gens(op)
    cases = [
        [(F32, (None, 7), fx), (F32, (None, 7), fy)],
        [(F32, (None, 1), fx), (F32, (7,), fy)],
        [(F32, (), fx), (F32, (None, 3, 5), fy)],
        [(F64, (3, 1, 5), fx), (F64, (2, 1), fy)],
        [(F16, (None, 7), fx), (F16, (1, 7), fy)],
        [(F32, (10, 1), specials()), (F32, (1, 10), specials())],
        [(F64, (10, 1), specials()), (F64, (1, 10), specials())],
    ]
    if op is not Op.DIV:     # float only
        int_rhs = specials([0, 1, 2, 3, 7, 8, 9, 5, 4, 6]) if op is Op.POW else specials(INT_SPECIALS[I8])
        cases += [
            [(I32, (None, 7), ix), (I32, (7,), iy)],
            [(I8, (5, 3), ix), (I8, (5, 1), iy)],
            [(U8, (None, 13), ix), (U8, (None, 13), iy)],
            [(I64, (1,), ix), (I64, (None, 2), iy)],
            [(I8, (10, 1), specials(INT_SPECIALS[I8])), (I8, (1, 10), int_rhs)],
            [(U8, (10, 1), specials(INT_SPECIALS[U8])), (U8, (1, 10), specials(INT_SPECIALS[U8]))],
        ]
    check_batches(*build(op, cases))


def test_maximum_minimum_propagate_nan() -> None:
    """Not just equal to the reference: NaN on either side must win, as np.maximum does."""
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 4)), "x")
    y = g.add_input(TensorType(F32, (4,)), "y")
    g.set_outputs([g.add_node(Op.MAXIMUM, [x, y]).output, g.add_node(Op.MINIMUM, [x, y]).output])
    exe = Executable(g)
    xa = np.array([[np.nan, 1.0, np.nan, -np.inf]] * 3, np.float32)
    ya = np.array([2.0, np.nan, np.nan, np.inf], np.float32)
    hi, lo = exe(xa, ya)
    np.testing.assert_array_equal(hi[0], [np.nan, np.nan, np.nan, np.inf])
    np.testing.assert_array_equal(lo[0], [np.nan, np.nan, np.nan, -np.inf])


def test_int_pow_negative_exponent() -> None:
    """Documented choice (numpy raises): the real power truncated toward zero; 0 ** -k is 0."""
    g = Graph()
    x = g.add_input(TensorType(I32, (None,)), "x")
    e = g.add_input(TensorType(I32, (None,)), "e")
    g.set_outputs([g.add_node(Op.POW, [x, e]).output])
    (got,) = Executable(g)(np.array([1, -1, -1, 2, -3, 0, 5], np.int32),
                           np.array([-5, -3, -4, -1, -2, -1, 0], np.int32))
    np.testing.assert_array_equal(got, [1, -1, 1, 0, 0, 0, 1])


# --------------------------------------------------------------------------------------------
# compare, select, cast

def halves() -> Gen:
    # Few distinct values, so equal pairs (the interesting ones for <= and ==) are common.
    return lambda shape, dt, rng: (rng.integers(-3, 4, size=shape) / 2).astype(dt.numpy)


@pytest.mark.parametrize("op", sorted(COMPARE_OPS, key=str), ids=str)
def test_compare(op: Op) -> None:
    small = ints(-3, 3)
    cases = [
        [(F32, (None, 7), halves()), (F32, (7,), halves())],
        [(F64, (None, 1), halves()), (F64, (1, 5), halves())],
        [(F16, (None, 7), halves()), (F16, (None, 7), halves())],
        [(I32, (None, 7), small), (I32, (None, 7), small)],
        [(U8, (13,), ints(0, 3)), (U8, (), ints(0, 3))],
        [(I64, (3, 1), ints()), (I64, (1, 4), ints())],
        [(I8, (10, 1), specials(INT_SPECIALS[I8])), (I8, (1, 10), specials(INT_SPECIALS[I8]))],
        [(BOOL, (None, 7), bools()), (BOOL, (1, 7), bools())],
        [(F32, (10, 1), specials()), (F32, (1, 10), specials())],
        [(F64, (10, 1), specials()), (F64, (1, 10), specials())],
    ]
    check_batches(*build(op, cases))


def test_select() -> None:
    g, make = build(Op.SELECT, [
        [(BOOL, (None, 1), bools()), (F32, (7,), uniform()), (F32, (), uniform())],
        [(BOOL, (None, 7), bools()), (I64, (None, 7), ints()), (I64, (None, 7), ints())],
        [(BOOL, (), bools()), (BOOL, (5,), bools()), (BOOL, (3, 1), bools())],
        [(BOOL, (13,), bools()), (F16, (13,), uniform()), (F16, (1,), uniform())],
        [(BOOL, (2, 1, 3), bools()), (I8, (5, 1), ints()), (I8, (1, 3), ints())],
        [(BOOL, (10,), bools()), (F64, (10,), specials()), (F64, (10,), uniform())],
    ])
    check_batches(g, make)


CAST_SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 127.9, 128.0,
                 -128.9, -129.0, 255.9, 256.0, -1.0, 3e9, -3e9, 1e20, -1e20, 65504.0, 70000.0]


def _cast_source(dtype: DType) -> Gen:
    """Random values wide enough to saturate int8/uint8, with the special values in row 0."""
    def gen(shape: tuple[int, ...], dt: DType, rng: np.random.Generator) -> np.ndarray:
        if dt is BOOL:
            return rng.random(shape) < 0.5
        if dt.is_integer:
            return full_range_ints(shape, dt, rng)
        with np.errstate(over="ignore"):
            x = rng.uniform(-300.0, 300.0, shape).astype(dt.numpy)
            if x.ndim:
                x[0] = np.asarray(CAST_SPECIALS).astype(dt.numpy)
        return x
    return gen


@pytest.mark.parametrize("src", list(DType), ids=str)
def test_cast(src: DType) -> None:
    g = Graph(f"cast_{src}")
    x = g.add_input(TensorType(src, (None, len(CAST_SPECIALS))), "x")
    s = g.add_input(TensorType(src, ()), "s")
    outs = [g.add_node(Op.CAST, [x], CastAttrs(dst)).output for dst in DType]
    outs.append(g.add_node(Op.CAST, [s], CastAttrs(F32 if src is not F32 else I32)).output)
    g.set_outputs(outs)
    gen = _cast_source(src)

    def make(n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(n)
        return [gen((n, len(CAST_SPECIALS)), src, rng), gen((), src, rng)]

    # float64 -> float16 and float32 rounding are exact conversions; the tolerance is the default.
    check_batches(g, make)


def test_cast_saturates_at_int_bounds() -> None:
    """inf and values past the range saturate (x86's cvttss2si alone would give INT_MIN)."""
    g = Graph()
    x = g.add_input(TensorType(F32, (None,)), "x")
    g.set_outputs([g.add_node(Op.CAST, [x], CastAttrs(d)).output for d in (I32, I64, U8)])
    i32, i64, u8 = Executable(g)(np.array([np.inf, 3e9, -np.inf, np.nan, -1.5], np.float32))
    np.testing.assert_array_equal(i32, [2**31 - 1, 2**31 - 1, -2**31, 0, -1])
    np.testing.assert_array_equal(i64, [2**63 - 1, 3_000_000_000, -2**63, 0, -1])
    np.testing.assert_array_equal(u8, [255, 255, 0, 0, 0])


# --------------------------------------------------------------------------------------------
# code shape

def test_same_shape_operands_vectorize() -> None:
    """Operands of one shape collapse to one flat loop that LLVM vectorizes, whatever the rank."""
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 3, 5)), "x")
    y = g.add_input(TensorType(F32, (None, 3, 5)), "y")
    g.set_outputs([g.add_node(Op.ADD, [x, y]).output])
    exe = Executable(g)
    assert re.search(r"<\d+ x float>", exe.library.optimized_ir), "the add loop was not vectorized"
    a = np.ones((4, 3, 5), np.float32)
    np.testing.assert_array_equal(exe(a, a)[0], a + a)


def test_cast_f64_to_f16_rounds_once() -> None:
    """Half-way points between float16 neighbours, and their float64 neighbours.

    Rounding to float32 first and then to float16 gets many of these wrong (the
    first rounding lands exactly on the half-way point); the cast must round once.
    """
    g = Graph()
    x = g.add_input(TensorType(F64, (None,)), "x")
    g.set_outputs([g.add_node(Op.CAST, [x], CastAttrs(F16)).output])
    h = np.arange(0x3C00, 0x4400, dtype=np.uint16).view(np.float16).astype(np.float64)  # [1, 4)
    mid = (h[:-1] + h[1:]) / 2
    xs = np.concatenate([mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf),
                         -np.nextafter(mid, np.inf), mid + 2.0**-30])
    (got,) = Executable(g)(xs)
    np.testing.assert_array_equal(got, xs.astype(np.float16))


# --------------------------------------------------------------------------------------------
# emit_scalar on LLVM vectors (what fused GEMM / convolution epilogues use)

LANES = 8


def _vector_and_scalar(op: Op, attrs, in_dtypes: Sequence[DType], out_dtype: DType,
                       arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """emit_scalar on <LANES x T> vectors and, lane by lane, on scalars: both results."""
    import ctypes

    import llvmlite.ir as ll

    from codegen.cpu.kernel import PTR, lltype
    from codegen.cpu.lowerings.elementwise import emit_scalar
    from runtime.jit import JitLibrary

    module = ll.Module("vec_vs_scalar")
    n_in = len(in_dtypes)
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * (n_in + 2)), "f")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ins, out_v, out_s = fn.args[:n_in], fn.args[n_in], fn.args[n_in + 1]
    vecs = [b.load(p, typ=ll.VectorType(lltype(d), LANES), align=1) for p, d in zip(ins, in_dtypes)]
    b.store(emit_scalar(b, op, attrs, in_dtypes, out_dtype, vecs), out_v, align=1)
    ot = lltype(out_dtype)
    for k in range(LANES):
        at = ll.Constant(ll.IntType(64), k)
        vals = [b.load(b.gep(p, [at], source_etype=lltype(d)), typ=lltype(d)) for p, d in zip(ins, in_dtypes)]
        b.store(emit_scalar(b, op, attrs, in_dtypes, out_dtype, vals), b.gep(out_s, [at], source_etype=ot))
    b.ret_void()
    lib = JitLibrary(str(module))
    got_v = np.zeros(LANES, out_dtype.numpy)
    got_s = np.zeros(LANES, out_dtype.numpy)
    args = [np.ascontiguousarray(a) for a in arrays]
    ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (n_in + 2))(lib.address("f"))(
        *[a.ctypes.data for a in args], got_v.ctypes.data, got_s.ctypes.data)
    return got_v, got_s


def _lanes_of(dtype: DType, rng: np.random.Generator, op: Op) -> np.ndarray:
    if dtype is BOOL:
        return rng.random(LANES) < 0.5
    if dtype.is_integer:
        if op is Op.POW:
            return rng.integers(-2, 9, LANES).astype(dtype.numpy)
        return full_range_ints((LANES,), dtype, rng)
    x = rng.uniform(-4, 4, LANES)
    x[:3] = rng.choice(FLOAT_SPECIALS, 3)
    return x.astype(dtype.numpy)


def _vector_cases():
    from codegen.cpu.lowerings.elementwise import _BOOL, _FLOAT, _INT
    for op in sorted(_FLOAT, key=str):
        for dt in (F32, F64, F16):
            yield op, dt
    for op in sorted(_INT, key=str):
        for dt in (I8, U8, I32, I64):
            yield op, dt
    for op in sorted(_BOOL, key=str):
        yield op, BOOL


@pytest.mark.parametrize("op,dtype", list(_vector_cases()), ids=str)
def test_emit_scalar_on_vectors(op: Op, dtype: DType) -> None:
    """Every rule gives, lane for lane, bit for bit, on vectors what it gives on scalars."""
    rng = np.random.default_rng(abs(hash((str(op), dtype.name))) % 2**32)
    arity = 1 if op in UNARY_OPS else 2
    arrays = [_lanes_of(dtype, rng, op) for _ in range(arity)]
    out_dtype = BOOL if op in COMPARE_OPS else dtype
    with np.errstate(all="ignore"):
        got_v, got_s = _vector_and_scalar(op, None, [dtype] * arity, out_dtype, arrays)
    np.testing.assert_array_equal(got_v.view(np.uint8), got_s.view(np.uint8))


@pytest.mark.parametrize("dtype", [F32, F64, F16, I8, I64, BOOL], ids=str)
def test_emit_scalar_select_and_cast_on_vectors(dtype: DType) -> None:
    rng = np.random.default_rng(3)
    cond, x, y = (_lanes_of(d, rng, Op.SELECT) for d in (BOOL, dtype, dtype))
    got_v, got_s = _vector_and_scalar(Op.SELECT, None, [BOOL, dtype, dtype], dtype, [cond, x, y])
    np.testing.assert_array_equal(got_v.view(np.uint8), got_s.view(np.uint8))
    for dst in DType:
        with np.errstate(over="ignore"):
            src = (rng.choice(CAST_SPECIALS, LANES).astype(dtype.numpy) if dtype.is_floating
                   else _cast_source(dtype)((LANES,), dtype, rng))
        got_v, got_s = _vector_and_scalar(Op.CAST, CastAttrs(dst), [dtype], dst, [src])
        np.testing.assert_array_equal(got_v.view(np.uint8), got_s.view(np.uint8), err_msg=f"-> {dst}")


def test_broadcast_loops_are_vector_code() -> None:
    """A bias over the channel axis and a scalar operand load and store whole vectors."""
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 5, 5, 32)), "x")
    bias = g.add_input(TensorType(F32, (32,)), "b")
    s = g.add_input(TensorType(F32, ()), "s")
    g.set_outputs([g.add_node(Op.ADD, [x, bias]).output, g.add_node(Op.TANH, [x]).output,
                   g.add_node(Op.MUL, [s, x]).output])
    exe = Executable(g)
    ir = exe.library.optimized_ir
    assert re.search(r"load <\d+ x float>", ir) and re.search(r"fadd <\d+ x float>", ir)
    assert "gather" not in ir, "a broadcast operand was gathered element by element"
    assert "@tanhf" not in ir, "tanh went through libm"
    rng = np.random.default_rng(0)
    xa = rng.uniform(-3, 3, (3, 5, 5, 32)).astype(np.float32)
    ba = rng.uniform(-1, 1, 32).astype(np.float32)
    sa = np.array(1.5, np.float32)
    add, th, sc = exe(xa, ba, sa)
    np.testing.assert_array_equal(add, xa + ba)
    np.testing.assert_allclose(th, np.tanh(xa), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(sc, sa * xa)


def test_emit_scalar_splats_scalars_among_vectors() -> None:
    """An epilogue may pass a scalar (a bias element, a constant) beside a vector accumulator."""
    import llvmlite.ir as ll

    from codegen.cpu.kernel import LoweringError
    from codegen.cpu.lowerings.elementwise import emit_scalar

    module = ll.Module("mixed")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), []), "f")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    v8 = ll.Constant(ll.VectorType(ll.FloatType(), 8), 1.0)
    got = emit_scalar(b, Op.ADD, None, [F32, F32], F32, [v8, ll.Constant(ll.FloatType(), 2.0)])
    assert got.type == v8.type
    v4 = ll.Constant(ll.VectorType(ll.FloatType(), 4), 1.0)
    with pytest.raises(LoweringError, match="different widths"):
        emit_scalar(b, Op.ADD, None, [F32, F32], F32, [v8, v4])


def test_large_maps_split_across_threads() -> None:
    """Maps above the threading threshold run in an outlined worker; 1 and 2 threads agree."""
    from codegen.cpu.parallel import uses_threads
    from runtime import threads
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 130, 130)), "x")
    bias = g.add_input(TensorType(F32, (130,)), "b")
    flat = g.add_input(TensorType(F32, (None, 17001)), "flat")     # one flat loop: blocks
    g.set_outputs([g.add_node(Op.ADD, [x, bias]).output, g.add_node(Op.SIGMOID, [x]).output,
                   g.add_node(Op.EXP, [flat]).output])
    exe = Executable(g)
    assert uses_threads(exe.module.llvm_ir)
    rng = np.random.default_rng(2)
    args = [rng.uniform(-3, 3, (9, 130, 130)).astype(np.float32),
            rng.uniform(-1, 1, 130).astype(np.float32),
            rng.uniform(-3, 3, (9, 17001)).astype(np.float32)]
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        one = exe(*args)
        threads.set_num_threads(2)
        two = exe(*args)
    finally:
        threads.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[0], args[0] + args[1])
    np.testing.assert_allclose(one[1], 1 / (1 + np.exp(-args[0])), rtol=1e-6)
    np.testing.assert_allclose(one[2], np.exp(args[2]), rtol=1e-6)

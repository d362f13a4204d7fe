"""Every op in ONNX_MAPPINGS, exported from a small IR graph and run in ONNX Runtime,
against the reference interpreter (the op's definition).

Cases cover each op's dtypes (including the ones ONNX Runtime has no kernel for,
which the exporter widens), the symbolic batch (run at batch 1 and 5 from one
file), and the places where ONNX's operator differs from the IR: out-of-range
gather indices, saturating casts, floor modulo on floats, negative slice
steps, Keras-'same' pooling windows, transposed convolutions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

from codegen.onnx import ONNX_MAPPINGS, graph_to_onnx
from ir import BATCH, DType, Graph, Op, interpret
from ir.attrs import (ArgReduceAttrs, BroadcastAttrs, CastAttrs, ConcatAttrs, ConvAttrs, GatherAttrs,
                      PadAttrs, PoolAttrs, PoolKind, ReduceAttrs, ReshapeAttrs, SliceAttrs, TransposeAttrs)
from ir.shapes import TensorType
from tests.codegen.onnx_harness import assert_same, run, session

N = BATCH
F16, F32, F64 = DType.float16, DType.float32, DType.float64
I8, U8, I32, I64, BOOL = DType.int8, DType.uint8, DType.int32, DType.int64, DType.bool

# Special float values for the ops whose ONNX form needs a fix-up at the edges.
EDGES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 127.4, 128.0, -129.0,
                  255.9, 256.0, -1.0, 3e9, -3e9, 1e19, -1e19, 2.0 ** 63, -2.0 ** 63])


@dataclass(frozen=True)
class In:
    """A graph input: dtype, shape (may hold N), and how to fill it."""

    dtype: DType
    shape: tuple
    low: float = -3.0
    high: float = 3.0
    pool: np.ndarray | None = None       # sample values from here instead

    def make(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        shape = tuple(batch if d == N else d for d in self.shape)
        if self.pool is not None:
            return rng.choice(self.pool, size=shape).astype(self.dtype.numpy)
        if self.dtype is BOOL:
            return rng.random(shape) < 0.5
        if self.dtype.is_integer:
            lo = max(self.low, np.iinfo(self.dtype.numpy).min)
            return rng.integers(int(lo), int(self.high) + 1, size=shape).astype(self.dtype.numpy)
        return rng.uniform(self.low, self.high, size=shape).astype(self.dtype.numpy)


@dataclass(frozen=True)
class Const:
    """An operand known at export: a constant node, or a parameter (a weight)."""

    value: Any
    param: bool = False


class _Binding:
    def __init__(self, array):
        self.array = array

    def numpy(self):
        return self.array


@dataclass
class Case:
    id: str
    op: Op
    attrs: Any
    operands: tuple
    rtol: float = 1e-5
    atol: float = 1e-6
    opset: int = 17
    ort_runs: bool = True        # False: ONNX Runtime has no kernel for this dtype (valid ONNX still)
    nodes: int | None = None     # expected ONNX node count, where the form itself is the point
    build: Callable[[], Graph] | None = None     # a graph of more than the one node

    def graph(self) -> Graph:
        if self.build is not None:
            return self.build()
        g = Graph(self.id.replace("-", "_"))
        vals = []
        for i, o in enumerate(self.operands):
            if isinstance(o, In):
                vals.append(g.add_input(TensorType(o.dtype, o.shape), f"x{i}"))
            elif o.param:
                arr = np.asarray(o.value)
                vals.append(g.add_param(TensorType(DType.from_any(arr.dtype), arr.shape), f"w{i}",
                                        binding=_Binding(arr)))
            else:
                vals.append(g.add_constant(np.asarray(o.value), name=f"c{i}"))
        g.set_outputs(g.add_node(self.op, vals, self.attrs, "op").outputs)
        return g


def C(op: Op, attrs, *operands, id: str = "", **kw) -> Case:
    return Case(f"{op}-{id}" if id else str(op), op, attrs, operands, **kw)


_RNG = np.random.default_rng(5)


def _w(*shape, dtype=np.float32):
    return _RNG.uniform(-1, 1, shape).astype(dtype)


UNARY_FLOAT = [Op.EXP, Op.LOG, Op.SQRT, Op.RSQRT, Op.TANH, Op.SIGMOID, Op.ERF, Op.SIN, Op.COS,
               Op.FLOOR, Op.CEIL, Op.ROUND, Op.RECIPROCAL, Op.EXPM1, Op.LOG1P]
POSITIVE = {Op.LOG, Op.SQRT, Op.RSQRT}

CASES: list[Case] = []
for op in UNARY_FLOAT:
    lo = 0.05 if op in POSITIVE else -4.0
    CASES.append(C(op, None, In(F32, (N, 3, 5), lo, 4.0), id="f32"))
    CASES.append(C(op, None, In(F64, (N, 4), lo, 4.0), id="f64", ort_runs=op is not Op.ERF))
    CASES.append(C(op, None, In(F16, (N, 4), lo, 4.0), id="f16", rtol=1e-3, atol=1e-3))
# Half-way points round to even; expm1/log1p must keep the low bits of tiny arguments.
CASES += [
    C(Op.ROUND, None, In(F32, (N, 8), pool=np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, -3.51])),
      id="halves"),
    C(Op.EXPM1, None, In(F32, (N, 9), pool=np.array([1e-8, -3e-7, 1e-4, -2e-3, 0.3, -0.9, 0.0, 90.0, -120.0,
                                                     np.inf, -np.inf, np.nan])), id="tiny", atol=0.0),
    C(Op.LOG1P, None, In(F32, (N, 9), pool=np.array([1e-8, -3e-7, 1e-4, -2e-3, 0.3, -0.9, 0.0, 1e30, -1.0,
                                                     np.inf, np.nan])), id="tiny", atol=0.0),
    C(Op.EXPM1, None, In(F64, (N, 5), pool=np.array([1e-12, -1e-9, 2e-5, 0.7, -5.0])), id="tiny64", atol=0.0),
]
for op in (Op.NEG, Op.ABS, Op.SIGN):
    for dt in (F32, I8, U8, I32, I64):
        CASES.append(C(op, None, In(dt, (N, 6), -9, 9), id=dt.name))
CASES.append(C(Op.ABS, None, In(I8, (N, 4), pool=np.array([-128, 127, -1, 0])), id="int8_min"))
CASES.append(C(Op.LOGICAL_NOT, None, In(BOOL, (N, 5))))

ARITH = [Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM]
for op in ARITH:
    for dt in (F32, F64, I8, U8, I32, I64):
        CASES.append(C(op, None, In(dt, (N, 3, 4), -50, 50), In(dt, (4,), -50, 50), id=dt.name))
CASES += [
    C(Op.MAXIMUM, None, In(F32, (N, 6), pool=np.array([np.nan, 1.0, -1.0])), In(F32, (6,), pool=np.array([0.0, np.nan])),
      id="nan"),
    C(Op.MINIMUM, None, In(F32, (N, 6), pool=np.array([np.nan, 1.0, -1.0])), In(F32, (6,), pool=np.array([0.0, np.nan])),
      id="nan"),
    C(Op.ADD, None, In(F16, (N, 4)), In(F16, (N, 4)), id="f16"),
    C(Op.MUL, None, In(I8, (N, 4), 50, 120), In(I8, (1, 4), 2, 3), id="int8_wraps"),
    C(Op.DIV, None, In(F32, (N, 3, 4)), In(F32, (3, 1), 0.5, 2.0), id="f32"),
    C(Op.DIV, None, In(F64, (N, 4)), In(F64, (N, 4), pool=np.array([0.0, -0.0, 2.0, -3.0])), id="by_zero"),
    C(Op.POW, None, In(F32, (N, 5), 0.1, 3.0), In(F32, (5,), -2.0, 2.0), id="f32"),
    C(Op.POW, None, In(I32, (N, 5), -4, 4), In(I32, (5,), 0, 5), id="i32"),
    C(Op.POW, None, In(I8, (N, 5), -3, 3), In(I8, (5,), 0, 4), id="i8"),
    C(Op.POW, None, In(U8, (N, 5), 0, 5), In(U8, (5,), 0, 3), id="u8"),
    C(Op.MOD, None, In(F32, (N, 6), -9, 9), In(F32, (6,), pool=np.array([2.5, -2.5, 3.0, -0.75])), id="f32"),
    C(Op.MOD, None, In(F64, (N, 8), pool=np.array([-6.0, 6.0, -0.0, 0.0, 5.5, -5.5, np.inf])),
      In(F64, (8,), pool=np.array([3.0, -3.0, 2.0, -2.0])), id="f64_exact_and_zero"),
    C(Op.MOD, None, In(F16, (N, 6), -9, 9), In(F16, (6,), pool=np.array([2.5, -2.5, 3.0])), id="f16",
      rtol=1e-3, atol=1e-3),
    C(Op.MOD, None, In(I32, (N, 6), -20, 20), In(I32, (6,), pool=np.array([3, -3, 7, -7])), id="i32"),
    C(Op.MOD, None, In(I64, (N, 6), -20, 20), In(I64, (6,), pool=np.array([3, -3, 7, -7])), id="i64"),
    C(Op.MOD, None, In(I8, (N, 6), -20, 20), In(I8, (6,), pool=np.array([3, -3, 7, -7])), id="i8"),
    C(Op.MOD, None, In(U8, (N, 6), 0, 200), In(U8, (6,), pool=np.array([3, 7, 11])), id="u8"),
    C(Op.LOGICAL_AND, None, In(BOOL, (N, 5)), In(BOOL, (5,))),
    C(Op.LOGICAL_OR, None, In(BOOL, (N, 5)), In(BOOL, (N, 5))),
]
COMPARE = [Op.EQUAL, Op.NOT_EQUAL, Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL]
for op in COMPARE:
    CASES.append(C(op, None, In(F32, (N, 4), pool=np.array([0.0, 1.0, np.nan, -1.0])),
                   In(F32, (4,), pool=np.array([0.0, 1.0, np.nan])), id="f32"))
    for dt in (I32, U8, BOOL):
        CASES.append(C(op, None, In(dt, (N, 2, 3), 0, 2), In(dt, (N, 1, 3), 0, 2), id=dt.name))
for dt in (F32, I32, I8, BOOL, F16):
    CASES.append(C(Op.SELECT, None, In(BOOL, (N, 1, 4)), In(dt, (N, 3, 4)), In(dt, (4,)), id=dt.name))
CASES.append(C(Op.SELECT, None, In(BOOL, (N, 3)), In(F32, (N, 3)), Const(np.float32(0.0)), id="scalar"))

# Casts: saturating float -> int (ONNX leaves it undefined), wrapping int -> int, to/from bool.
for src in (F32, F64, F16):
    for dst in (I8, U8, I32, I64):
        pool = EDGES if src is not F16 else EDGES[np.abs(np.nan_to_num(EDGES, posinf=0, neginf=0)) < 6e4]
        CASES.append(C(Op.CAST, CastAttrs(dst), In(src, (N, 16), pool=pool), id=f"{src.name}_{dst.name}"))
for src, dst in [(I64, I8), (I32, U8), (U8, I8), (I8, I64), (I32, F32), (I64, F16), (F32, F64),
                 (F64, F32), (F32, F16), (F32, BOOL), (I32, BOOL), (BOOL, F32), (BOOL, I32)]:
    operand = (In(src, (N, 7), pool=np.array([0.0, -0.0, np.nan, 1.5, -2.0, 1e30]))
               if src.is_floating else In(src, (N, 7), -300, 300))
    CASES.append(C(Op.CAST, CastAttrs(dst), operand, id=f"{src.name}_{dst.name}"))

# Reductions (axes an attribute at opset 17, an input from 18) and arg-reductions.
for opset in (17, 18):
    for op in (Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_MEAN):
        CASES.append(C(op, ReduceAttrs((1,)), In(F32, (N, 5, 3)), id=f"axis1-o{opset}", opset=opset))
        CASES.append(C(op, ReduceAttrs((0, 2), True), In(F32, (N, 5, 3)), id=f"batch_keep-o{opset}", opset=opset))
        CASES.append(C(op, ReduceAttrs((1, 2)), In(F64, (N, 5, 3)), id=f"f64-o{opset}", opset=opset))
        CASES.append(C(op, ReduceAttrs(()), In(F32, (N, 3)), id=f"no_axes-o{opset}", opset=opset, nodes=1))
        if op is not Op.REDUCE_MEAN:
            for dt in (I8, U8, I32, I64):
                CASES.append(C(op, ReduceAttrs((2,), True), In(dt, (N, 2, 9), -40, 40), id=f"{dt.name}-o{opset}",
                               opset=opset))
for op in (Op.ARGMAX, Op.ARGMIN):
    CASES.append(C(op, ArgReduceAttrs(1), In(F32, (N, 6, 3)), id="f32"))
    CASES.append(C(op, ArgReduceAttrs(2, True), In(I32, (N, 3, 6), 0, 2), id="ties_keep"))
    CASES.append(C(op, ArgReduceAttrs(0), In(U8, (N, 4), 0, 3), id="batch_axis"))

# Matmul: plain, batched with broadcasting, integer (int8 widened and wrapped back).
CASES += [
    C(Op.MATMUL, None, In(F32, (N, 7)), Const(_w(7, 5), param=True), id="dense"),
    C(Op.MATMUL, None, In(F32, (N, 3, 4)), In(F32, (4, 6)), id="batched"),
    C(Op.MATMUL, None, In(F64, (N, 1, 3, 4)), In(F64, (2, 4, 5)), id="broadcast"),
    C(Op.MATMUL, None, In(I32, (N, 3), -9, 9), In(I32, (3, 2), -9, 9), id="i32"),
    C(Op.MATMUL, None, In(I8, (N, 3), -100, 100), In(I8, (3, 2), -100, 100), id="i8_wraps"),
    C(Op.MATMUL, None, In(U8, (N, 3), 0, 200), In(U8, (3, 2), 0, 200), id="u8_wraps"),
]


def _conv(x_shape, w, *, strides=None, padding=None, dilation=None, lhs=None, groups=1, id="", dyn=False,
          dtype=F32, **kw) -> Case:
    nsp = len(x_shape) - 1
    a = ConvAttrs(strides=strides or (1,) * nsp, padding=padding or ((0, 0),) * nsp,
                  dilation=dilation or (1,) * nsp, lhs_dilation=lhs or (1,) * nsp, groups=groups)
    kernel = In(dtype, w.shape, -1.0, 1.0) if dyn else Const(w.astype(dtype.numpy), param=True)
    return C(Op.CONV, a, In(dtype, (N,) + x_shape, -1.0, 1.0), kernel, id=id, **kw)


CASES += [
    _conv((7, 3), _w(3, 3, 4), id="1d"),
    _conv((7, 5, 3), _w(3, 3, 3, 4), strides=(2, 1), padding=((1, 1), (0, 2)), id="2d_strided_asym_pad"),
    _conv((7, 5, 3), _w(2, 3, 3, 4), dilation=(2, 1), padding=((1, 1), (1, 1)), id="2d_dilated"),
    _conv((7, 5, 6), _w(3, 3, 2, 6), groups=3, padding=((1, 1), (1, 1)), id="2d_groups"),
    _conv((7, 5, 3), _w(3, 3, 1, 6), groups=3, id="2d_depthwise"),
    _conv((5, 3, 4, 2), _w(2, 2, 2, 2, 3), strides=(2, 1, 2), padding=((0, 1), (1, 0), (0, 0)), id="3d"),
    _conv((7, 5, 3), _w(3, 3, 3, 4), id="2d_kernel_is_an_input", dyn=True),
    _conv((7, 5, 3), _w(3, 3, 3, 4), id="2d_f16", dtype=F16, rtol=2e-3, atol=2e-3),
    _conv((7, 5, 3), _w(3, 3, 3, 4), id="2d_f64", dtype=F64, ort_runs=False),
    # lhs_dilation with unit strides: one ConvTranspose (padding within reach, past it, and groups).
    _conv((4, 3, 2), _w(3, 3, 2, 3), lhs=(2, 2), padding=((2, 2), (2, 2)), id="transposed"),
    _conv((4, 3, 2), _w(3, 2, 2, 3), lhs=(3, 2), padding=((1, 3), (0, 1)), dilation=(1, 2), id="transposed_crop"),
    _conv((4, 3, 2), _w(3, 3, 2, 3), lhs=(2, 2), padding=((2, 4), (3, 2)), id="transposed_past_reach"),
    _conv((5, 4), _w(3, 2, 6), lhs=(2,), padding=((2, 2),), groups=2, id="transposed_groups"),
    # ... and the general form: zeros inserted explicitly, then a Conv.
    _conv((4, 3, 2), _w(3, 3, 2, 3), lhs=(2, 2), strides=(2, 1), padding=((2, 2), (1, 2)), id="lhs_and_strides"),
    _conv((4, 3, 2), _w(3, 3, 2, 3), lhs=(2, 2), padding=((2, 2), (2, 2)), id="lhs_kernel_is_an_input", dyn=True),
]


def _pool(kind, x_shape, window, strides, padding, id, dtype=F32, **kw) -> Case:
    return C(Op.POOL, PoolAttrs(kind, window, strides, padding), In(dtype, (N,) + x_shape), id=id, **kw)


MAX, AVG = PoolKind.MAX, PoolKind.AVG
CASES += [
    _pool(MAX, (7, 3), (2,), (2,), ((0, 0),), "max1d"),
    _pool(AVG, (7, 3), (3,), (2,), ((1, 1),), "avg1d_same"),
    _pool(MAX, (7, 5, 3), (3, 3), (2, 2), ((1, 1), (1, 1)), "max2d_same"),
    _pool(AVG, (7, 5, 3), (3, 3), (2, 2), ((1, 1), (1, 1)), "avg2d_same_excludes_padding"),
    _pool(AVG, (5, 3, 2), (4, 4), (4, 4), ((1, 2), (0, 1)), "avg2d_asym_pad"),
    _pool(MAX, (7, 5, 3), (3, 2), (1, 2), ((0, 0), (0, 0)), "max2d_asym"),
    _pool(AVG, (3, 5, 2, 2), (2, 1, 2), (1, 1, 1), ((0, 1), (0, 0), (1, 0)), "avg3d"),
    _pool(MAX, (3, 5, 2, 2), (2, 2, 2), (2, 2, 2), ((0, 1), (0, 1), (0, 0)), "max3d_same"),
    _pool(MAX, (7, 5, 3), (2, 2), (2, 2), ((0, 0), (0, 0)), "max2d_f64", dtype=F64),
    _pool(AVG, (7, 5, 3), (2, 2), (2, 2), ((0, 0), (0, 0)), "avg2d_f16", dtype=F16, rtol=1e-3, atol=1e-3),
]

# Data movement.
CASES += [
    C(Op.RESHAPE, ReshapeAttrs((N, 15)), In(F32, (N, 3, 5)), id="flatten"),
    C(Op.RESHAPE, ReshapeAttrs((5, N, 3)), In(I32, (N, 15)), id="batch_moves"),
    C(Op.RESHAPE, ReshapeAttrs((2, 3)), In(BOOL, (6,)), id="static"),
    C(Op.RESHAPE, ReshapeAttrs((0, 4)), In(F32, (2, 0)), id="empty"),
    C(Op.TRANSPOSE, TransposeAttrs((0, 2, 1)), In(F32, (N, 3, 5))),
    C(Op.TRANSPOSE, TransposeAttrs((2, 0, 1)), In(I8, (N, 3, 5)), id="batch_moves"),
    C(Op.BROADCAST_TO, BroadcastAttrs((N, 3, 4)), In(F32, (N, 1, 4)), id="keeps_batch"),
    C(Op.BROADCAST_TO, BroadcastAttrs((2, 3, 4)), In(BOOL, (3, 1)), id="static"),
    C(Op.SLICE, SliceAttrs((0, 1, 4), (None, 6, None), (1, 2, -1)), In(F32, (N, 7, 5)), id="neg_step_to_start"),
    C(Op.SLICE, SliceAttrs((0, 6, 0), (None, 1, 5), (1, -2, 2)), In(I64, (N, 7, 5)), id="neg_step_bounded"),
    C(Op.SLICE, SliceAttrs((0, 0), (None, None), (1, 1)), In(F32, (N, 3)), id="whole", nodes=1),
    C(Op.SLICE, SliceAttrs((2, 0), (2, 3), (1, 1)), In(F32, (4, 3)), id="empty"),
    C(Op.CONCAT, ConcatAttrs(1), In(F32, (N, 2, 3)), In(F32, (N, 4, 3)), In(F32, (N, 1, 3)), id="axis1"),
    C(Op.CONCAT, ConcatAttrs(0), In(BOOL, (2, 3)), In(BOOL, (1, 3)), id="bool"),
    C(Op.PAD, PadAttrs(((0, 0), (1, 2), (0, 3)), -1.5), In(F32, (N, 3, 2)), id="value"),
    C(Op.PAD, PadAttrs(((0, 0), (2, 0)), 7.0), In(I32, (N, 3)), id="i32"),
    C(Op.PAD, PadAttrs(((1, 1),)), In(BOOL, (3,)), id="bool"),
    C(Op.GATHER, GatherAttrs(0), Const(_w(6, 4), param=True), In(I32, (N, 3), -3, 8), id="embedding_clamps"),
    C(Op.GATHER, GatherAttrs(1), In(F32, (N, 5, 2)), In(I64, (2, 3), -2, 7), id="axis1_i64"),
    C(Op.GATHER, GatherAttrs(0), In(U8, (4, 3), 0, 9), Const(np.int32(9)), id="scalar_index"),
]


def _broadcast_new_batch() -> Graph:
    """broadcast_to a batch dim the operand lacks: its size comes from the other input's Shape."""
    g = Graph("broadcast_new_batch")
    x = g.add_input(TensorType(F32, (2, 1)), "x0")
    ref = g.add_input(TensorType(F32, (N, 1)), "x1")
    y = g.add_node(Op.BROADCAST_TO, [x], BroadcastAttrs((N, 2, 4))).output
    g.set_outputs([y, g.add_node(Op.ADD, [y, g.add_node(Op.RESHAPE, [ref], ReshapeAttrs((N, 1, 1))).output]).output])
    return g


def _constant_outputs() -> Graph:
    """A constant and an input returned as they are (twice): they reach their outputs by Identity."""
    g = Graph("constant_outputs")
    x = g.add_input(TensorType(F32, (N, 2)), "x0")
    c = g.add_constant(np.array([[1.5, -2.0]], np.float32), name="c")
    g.set_outputs([c, g.add_node(Op.ADD, [x, c]).output, x, c])
    return g


CASES += [
    C(Op.BROADCAST_TO, None, In(F32, (2, 1)), In(F32, (N, 1)), id="new_batch", build=_broadcast_new_batch),
    C(Op.CONSTANT, None, In(F32, (N, 2)), id="as_outputs", build=_constant_outputs),
]


def _feeds(case: Case, graph: Graph, batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [spec.make(batch, rng) for spec in case.operands if isinstance(spec, In)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_matches_the_interpreter_in_onnxruntime(case: Case):
    graph = case.graph()
    model = graph_to_onnx(graph, opset=case.opset)     # validates: checker (full) + strict shape inference
    assert model.opset_import[0].version == case.opset
    if case.nodes is not None:
        assert len(model.graph.node) == case.nodes, [n.op_type for n in model.graph.node]
    if not case.ort_runs:
        return
    sess = session(model)
    for seed, batch in enumerate((1, 5)):
        feeds = _feeds(case, graph, batch, seed)
        with np.errstate(all="ignore"):
            want = interpret(graph, feeds)
        assert_same(run(sess, feeds), want, rtol=case.rtol, atol=case.atol, what=f"{case.id} batch {batch}")


def test_every_mapped_op_has_a_case():
    # SCAN carries a body graph: its cases (run in ONNX Runtime against the interpreter) are
    # in test_onnx_scan.py, and the recurrent layers' in test_onnx_export.py.
    from tests.codegen import test_onnx_scan
    covered = {c.op for c in CASES}
    if callable(getattr(test_onnx_scan, "test_scan_graph_runs_in_onnxruntime", None)):
        covered.add(Op.SCAN)
    assert set(ONNX_MAPPINGS) <= covered


def test_onnxruntime_lacks_what_the_unrun_cases_say():
    """The cases kept out of ONNX Runtime are there because it has no kernel, not to hide a bug."""
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented
    for case in (c for c in CASES if not c.ort_runs):
        with pytest.raises(OrtNotImplemented, match="Could not find an implementation"):
            session(graph_to_onnx(case.graph()))

"""Small shared pieces for pass tests: bound params, random inputs, semantic checks,
and two graphs that use most op families."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ir import BATCH, DType, Graph, Op, TensorType, interpret
from ir.attrs import ConvAttrs, PoolAttrs, PoolKind, ReduceAttrs, ReshapeAttrs
from ir.graph import Value
from ir.shapes import SymDim

F32 = DType.float32


class ArrayBinding:
    """Stands in for the frontend's Variable: a param bound to a live array."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array


def add_random_param(g: Graph, name: str, shape: tuple[int, ...], seed: int = 0) -> Value:
    arr = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return g.add_param(TensorType(F32, shape), name, ArrayBinding(arr))


def random_inputs(graph: Graph, batch: int, seed: int = 0) -> list[np.ndarray]:
    """One random array per graph input, every symbolic dim taking the size ``batch``."""
    rng = np.random.default_rng(seed)
    out = []
    for v in graph.inputs:
        shape = tuple(batch if isinstance(d, SymDim) else d for d in v.shape)
        if v.dtype is DType.bool:
            out.append(rng.random(shape) < 0.5)
        elif v.dtype.is_integer:
            out.append(rng.integers(-5, 5, shape).astype(v.dtype.numpy))
        else:
            out.append(rng.standard_normal(shape).astype(v.dtype.numpy))
    return out


def assert_same_semantics(before: Graph, after: Graph, batches: Sequence[int] = (1, 7)) -> None:
    """The interpreter gives the same outputs for both graphs at each batch size."""
    for batch in batches:
        for seed in range(2):
            xs = random_inputs(before, batch, seed)
            want, got = interpret(before, xs), interpret(after, xs)
            assert len(want) == len(got)
            for w, r in zip(want, got):
                assert r.dtype == w.dtype and r.shape == w.shape
                np.testing.assert_allclose(r, w, rtol=1e-6, atol=1e-6)


def op_names(graph: Graph) -> list[str]:
    return [n.op.value for n in graph.nodes]


def mlp_graph() -> Graph:
    """x: f32[N,3,4] -> reshape [N,12] -> matmul -> bias -> tanh -> centre by the row sum."""
    g = Graph("mlp")
    x = g.add_input(TensorType(F32, (BATCH, 3, 4)), "x")
    w = add_random_param(g, "w", (12, 5), seed=1)
    b = add_random_param(g, "b", (5,), seed=2)
    flat = g.add_node(Op.RESHAPE, [x], ReshapeAttrs((BATCH, 12)), "flat").output
    h = g.add_node(Op.MATMUL, [flat, w], name="dense").output
    h = g.add_node(Op.ADD, [h, b], name="bias").output
    h = g.add_node(Op.TANH, [h], name="act").output
    s = g.add_node(Op.REDUCE_SUM, [h], ReduceAttrs((1,), keepdims=True), "rowsum").output
    g.set_outputs([g.add_node(Op.SUB, [h, s], name="centred").output])
    return g


def conv_graph() -> Graph:
    """x: f32[N,6,6,3] -> conv 3x3 same -> 2x2 max pool -> spatial mean -> sigmoid."""
    g = Graph("convnet")
    x = g.add_input(TensorType(F32, (BATCH, 6, 6, 3)), "x")
    k = add_random_param(g, "kernel", (3, 3, 3, 4), seed=3)
    c = g.add_node(Op.CONV, [x, k], ConvAttrs((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1)),
                   "conv").output
    p = g.add_node(Op.POOL, [c], PoolAttrs(PoolKind.MAX, (2, 2), (2, 2), ((0, 0), (0, 0))),
                   "pool").output
    m = g.add_node(Op.REDUCE_MEAN, [p], ReduceAttrs((1, 2)), "gap").output
    g.set_outputs([g.add_node(Op.SIGMOID, [m], name="probs").output])
    return g

"""Compiled FUSED kernels against the reference interpreter, and whole models fused and not."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, verify
from ir.attrs import (ArgReduceAttrs, BroadcastAttrs, CastAttrs, ConvAttrs, FusionKind, ReduceAttrs,
                      TransposeAttrs)
from passes.fusion import fusion, kernel_count
from runtime.executable import Executable
from tests.codegen.harness import check_compiled, random_array
from tests.passes.test_fusion import seed_graphs, step_inputs

F32, F64, I32, BOOL = DType.float32, DType.float64, DType.int32, DType.bool


def _fuse(g: Graph, *kinds: FusionKind) -> Graph:
    out = fusion(g).graph
    verify(out)
    got = [n.attrs.kind for n in out.nodes if n.op is Op.FUSED]
    assert got == list(kinds), got
    return out


def _run(g: Graph, batches=(1, 7, 129), seed=0, **tol) -> None:
    rng = np.random.default_rng(seed)
    exe = Executable(g)
    for n in batches:
        xs = [random_array(tuple(n if d is BATCH else d for d in v.shape), v.dtype, rng) for v in g.inputs]
        check_compiled(g, xs, executable=exe, **tol)


# ---------------------------------------------------------------------------------------------
# elementwise groups

@pytest.mark.parametrize("cols", [1, 3, 31, 67])
def test_elementwise_group_with_broadcasts_and_several_outputs(cols):
    g = Graph("ew")
    x = g.add_input(TensorType(F32, (BATCH, 3, cols)), "x")
    row = g.add_input(TensorType(F32, (BATCH, 1, cols)), "row")
    col = g.add_input(TensorType(F32, (3, 1)), "col")
    s = g.add_input(TensorType(F32, ()), "s")
    h = g.add_node(Op.MUL, [g.add_node(Op.ADD, [x, row]).output, col]).output
    h = g.add_node(Op.SUB, [h, s]).output
    gt = g.add_node(Op.GREATER, [h, g.add_constant(0.0, F32)]).output
    relu = g.add_node(Op.SELECT, [gt, h, g.add_constant(0.0, F32)]).output
    e = g.add_node(Op.EXP, [g.add_node(Op.NEG, [g.add_node(Op.ABS, [relu]).output]).output]).output
    t = g.add_node(Op.TANH, [e]).output
    g.set_outputs([t, gt, e])
    _run(_fuse(g, FusionKind.ELEMENTWISE))


def test_elementwise_group_mixing_dtypes_and_casts():
    g = Graph("mixed")
    x = g.add_input(TensorType(I32, (BATCH, 13)), "x")
    y = g.add_input(TensorType(I32, (13,)), "y")
    f = g.add_input(TensorType(F64, (BATCH, 13)), "f")
    m = g.add_node(Op.MOD, [x, y]).output
    p = g.add_node(Op.POW, [m, g.add_constant(3, I32)]).output
    c = g.add_node(Op.CAST, [p], CastAttrs(F64)).output
    r = g.add_node(Op.ADD, [c, f]).output
    eq = g.add_node(Op.EQUAL, [m, g.add_constant(0, I32)]).output
    sel = g.add_node(Op.SELECT, [eq, r, g.add_node(Op.SQRT, [g.add_node(Op.ABS, [f]).output]).output]).output
    back = g.add_node(Op.CAST, [sel], CastAttrs(I32)).output
    g.set_outputs([sel, back])
    _run(_fuse(g, FusionKind.ELEMENTWISE))


def test_elementwise_group_of_scalars_and_static_shapes():
    g = Graph("small")
    a = g.add_input(TensorType(F32, ()), "a")
    b = g.add_input(TensorType(F32, (1,)), "b")
    h = g.add_node(Op.DIV, [g.add_node(Op.MUL, [a, b]).output, g.add_constant(3.0, F32)]).output
    g.set_outputs([g.add_node(Op.ADD, [h, a]).output])
    _run(_fuse(g, FusionKind.ELEMENTWISE), batches=(1,))


def test_broadcast_to_inside_a_group():
    g = Graph("bcast")
    x = g.add_input(TensorType(F32, (BATCH, 1)), "x")
    y = g.add_input(TensorType(F32, (BATCH, 10)), "y")
    b = g.add_node(Op.BROADCAST_TO, [x], BroadcastAttrs((BATCH, 10))).output
    g.set_outputs([g.add_node(Op.MUL, [g.add_node(Op.ADD, [b, y]).output, y]).output])
    _run(_fuse(g, FusionKind.ELEMENTWISE))


# ---------------------------------------------------------------------------------------------
# reduction groups

def _softmax_xent(classes: int) -> Graph:
    g = Graph("xent")
    x = g.add_input(TensorType(F32, (BATCH, classes)), "x")
    onehot = g.add_input(TensorType(F32, (BATCH, classes)), "onehot")
    w = g.add_input(TensorType(F32, (BATCH,)), "w")
    m = g.add_node(Op.REDUCE_MAX, [x], ReduceAttrs((1,), True)).output
    e = g.add_node(Op.EXP, [g.add_node(Op.SUB, [x, m]).output]).output
    s = g.add_node(Op.REDUCE_SUM, [e], ReduceAttrs((1,), True)).output
    p = g.add_node(Op.DIV, [e, s]).output
    ll_ = g.add_node(Op.MUL, [onehot, g.add_node(Op.LOG, [p]).output]).output
    per = g.add_node(Op.REDUCE_SUM, [ll_], ReduceAttrs((1,), False)).output
    loss = g.add_node(Op.MUL, [g.add_node(Op.NEG, [per]).output, w]).output
    g.set_outputs([p, loss])
    return g


@pytest.mark.parametrize("classes", [1, 10, 67])
def test_softmax_cross_entropy(classes):
    g = _softmax_xent(classes)
    if classes == 1:      # reductions over a unit axis keep the shape: they are not fused into
        _run(_fuse(g, FusionKind.ELEMENTWISE, FusionKind.REDUCTION))
    else:
        _run(_fuse(g, FusionKind.REDUCTION, FusionKind.REDUCTION))     # and the max on its own


@pytest.mark.parametrize("rows,cols", [(5, 3), (7, 67), (3, 300), (1, 1)])
def test_reduction_over_a_leading_axis_with_prologue_and_tail(rows, cols):
    # The kept axis is innermost: the tiled loop. The tail reads a [cols] operand.
    g = Graph("colsum")
    x = g.add_input(TensorType(F32, (BATCH, rows, cols)), "x")
    y = g.add_input(TensorType(F32, (rows, 1)), "y")
    scale = g.add_input(TensorType(F32, (cols,)), "scale")
    sq = g.add_node(Op.MUL, [g.add_node(Op.SUB, [x, y]).output, x]).output
    s = g.add_node(Op.REDUCE_SUM, [sq], ReduceAttrs((0, 1), False)).output
    g.set_outputs([g.add_node(Op.MUL, [g.add_node(Op.SQRT, [g.add_node(Op.ABS, [s]).output]).output,
                                       scale]).output, sq])
    _run(_fuse(g, FusionKind.REDUCTION), rtol=1e-4)


@pytest.mark.parametrize("op", [Op.REDUCE_MEAN, Op.REDUCE_MAX, Op.REDUCE_MIN])
def test_reduction_over_middle_and_all_axes(op):
    for axes, keep in (((1,), True), ((0, 1, 2), False), ((1, 2), False)):
        g = Graph("mid")
        x = g.add_input(TensorType(F32, (BATCH, 5, 7)), "x")
        b = g.add_input(TensorType(F32, (7,)), "b")
        h = g.add_node(Op.TANH, [g.add_node(Op.ADD, [x, b]).output]).output
        r = g.add_node(op, [h], ReduceAttrs(axes, keep)).output
        g.set_outputs([g.add_node(Op.EXP, [r]).output])
        _run(_fuse(g, FusionKind.REDUCTION), batches=(1, 13))


def test_argmax_of_a_computed_operand():
    g = Graph("argmax")
    x = g.add_input(TensorType(F32, (BATCH, 11)), "x")
    y = g.add_input(TensorType(F32, (11,)), "y")
    d = g.add_node(Op.MUL, [g.add_node(Op.SUB, [x, y]).output, x]).output
    g.set_outputs([g.add_node(Op.ARGMAX, [d], ArgReduceAttrs(1, False)).output])
    _run(_fuse(g, FusionKind.REDUCTION))


# ---------------------------------------------------------------------------------------------
# matmul and conv epilogues

@pytest.mark.parametrize("k,n", [(1, 1), (7, 5), (16, 17), (33, 64)])
def test_matmul_epilogue(k, n):
    g = Graph("dense")
    x = g.add_input(TensorType(F32, (BATCH, k)), "x")
    w = g.add_input(TensorType(F32, (k, n)), "w")
    bias = g.add_input(TensorType(F32, (n,)), "bias")
    rowv = g.add_input(TensorType(F32, (BATCH, 1)), "rowv")
    res = g.add_input(TensorType(F32, (BATCH, n)), "res")
    mm = g.add_node(Op.MATMUL, [x, w]).output
    h = g.add_node(Op.ADD, [mm, bias]).output
    gt = g.add_node(Op.GREATER, [h, g.add_constant(0.0, F32)]).output
    h = g.add_node(Op.SELECT, [gt, h, g.add_constant(0.0, F32)]).output
    h = g.add_node(Op.ADD, [g.add_node(Op.MUL, [h, rowv]).output, res]).output
    h = g.add_node(Op.SIGMOID, [h]).output
    g.set_outputs([h, gt, mm])          # the raw product and the mask leave the kernel too
    _run(_fuse(g, FusionKind.MATMUL_EPILOGUE), rtol=1e-4, atol=1e-5)


def test_batched_matmul_epilogue():
    g = Graph("bmm")
    a = g.add_input(TensorType(F32, (BATCH, 3, 9)), "a")
    b = g.add_input(TensorType(F32, (9, 20)), "b")
    r = g.add_input(TensorType(F32, (BATCH, 3, 20)), "r")
    mm = g.add_node(Op.MATMUL, [a, b]).output
    g.set_outputs([g.add_node(Op.TANH, [g.add_node(Op.ADD, [mm, r]).output]).output])
    _run(_fuse(g, FusionKind.MATMUL_EPILOGUE), rtol=1e-4, atol=1e-5)


def _with_threads(count: int):
    from runtime import threads

    class _Threads:
        def __enter__(self):
            self.before = threads.get_num_threads()
            threads.set_num_threads(count)

        def __exit__(self, *exc):
            threads.set_num_threads(self.before)

    return _Threads()


# Sizes around the GEMM's paths: 1, primes, ragged tiles, and enough rows (>= 4 tiles of MR)
# with B beyond half of L2 for the packed path (batch 129 also packs a transposed B).
_TRANSPOSED_SIZES = [(1, 1), (7, 5), (67, 33), (130, 517)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("m,n", _TRANSPOSED_SIZES)
def test_matmul_of_a_transposed_lhs(m, n, threads):
    # dw = x^T @ dy: the contraction runs over the symbolic batch.
    g = Graph("dw")
    x = g.add_input(TensorType(F32, (BATCH, m)), "x")
    dy = g.add_input(TensorType(F32, (BATCH, n)), "dy")
    xt = g.add_node(Op.TRANSPOSE, [x], TransposeAttrs((1, 0))).output
    g.set_outputs([g.add_node(Op.MATMUL, [xt, dy]).output])
    with _with_threads(threads):
        _run(_fuse(g, FusionKind.MATMUL_EPILOGUE), batches=(1, 7, 300), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k,n", _TRANSPOSED_SIZES)
def test_matmul_of_a_transposed_rhs_with_epilogue(k, n, threads):
    # dx = dy @ w^T, with a bias and an activation on the accumulators.
    g = Graph("dx")
    dy = g.add_input(TensorType(F32, (BATCH, n)), "dy")
    w = g.add_input(TensorType(F32, (k, n)), "w")
    bias = g.add_input(TensorType(F32, (k,)), "bias")
    wt = g.add_node(Op.TRANSPOSE, [w], TransposeAttrs((1, 0))).output
    h = g.add_node(Op.ADD, [g.add_node(Op.MATMUL, [dy, wt]).output, bias]).output
    g.set_outputs([g.add_node(Op.TANH, [h]).output])
    with _with_threads(threads):
        _run(_fuse(g, FusionKind.MATMUL_EPILOGUE), batches=(1, 7, 129), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m,k,n", [(3, 5, 2), (61, 17, 130)])
def test_batched_matmul_of_two_transposed_operands(m, k, n):
    g = Graph("tt")
    a = g.add_input(TensorType(F32, (BATCH, k, m)), "a")
    b = g.add_input(TensorType(F32, (BATCH, n, k)), "b")
    at = g.add_node(Op.TRANSPOSE, [a], TransposeAttrs((0, 2, 1))).output
    bt = g.add_node(Op.TRANSPOSE, [b], TransposeAttrs((0, 2, 1))).output
    g.set_outputs([g.add_node(Op.MATMUL, [at, bt]).output])
    _run(_fuse(g, FusionKind.MATMUL_EPILOGUE), batches=(1, 3), rtol=1e-4, atol=1e-4)


def _batch_sum(layout: str, p: int, m: int, n: int, tail: bool) -> Graph:
    """``sum_b A_b @ B_b`` with A_b (m, p) and B_b (p, n); ``layout`` says which buffers hold the
    transposes: "tn" (the conv kernel gradient, one merged GEMM), "nn", "nt", "tt"."""
    g = Graph(f"bsum_{layout}")
    a_shape = (BATCH, p, m) if layout[0] == "t" else (BATCH, m, p)
    b_shape = (BATCH, n, p) if layout[1] == "t" else (BATCH, p, n)
    a = g.add_input(TensorType(F32, a_shape), "a")
    b = g.add_input(TensorType(F32, b_shape), "b")
    if layout[0] == "t":
        a = g.add_node(Op.TRANSPOSE, [a], TransposeAttrs((0, 2, 1))).output
    if layout[1] == "t":
        b = g.add_node(Op.TRANSPOSE, [b], TransposeAttrs((0, 2, 1))).output
    s = g.add_node(Op.REDUCE_SUM, [g.add_node(Op.MATMUL, [a, b]).output], ReduceAttrs((0,), False)).output
    if tail:
        bias = g.add_input(TensorType(F32, (n,)), "bias")
        s = g.add_node(Op.MUL, [g.add_node(Op.ADD, [s, bias]).output, g.add_constant(0.25, F32)]).output
    g.set_outputs([s])
    return g


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["tn", "nn", "nt", "tt"])
@pytest.mark.parametrize("p,m,n,tail", [(1, 1, 1, False), (13, 5, 9, True), (49, 64, 150, False),
                                        (31, 97, 67, True), (17, 50, 1031, False)])   # last: 2 column chunks
def test_batch_summed_matmul(layout, p, m, n, tail, threads):
    g = _batch_sum(layout, p, m, n, tail)
    fused = _fuse(g, FusionKind.MATMUL_EPILOGUE)
    assert "reduce_sum" in [x.op.value for x in fused.nodes[0].attrs.body.nodes]
    with _with_threads(threads):
        _run(fused, batches=(1, 2, 7), rtol=1e-4, atol=1e-4)


def test_batch_summed_matmul_of_an_empty_batch_is_zero():
    for layout in ("tn", "nn"):
        fused = _fuse(_batch_sum(layout, 13, 5, 9, False), FusionKind.MATMUL_EPILOGUE)
        exe = Executable(fused)
        xs = [np.zeros(tuple(0 if d is BATCH else d for d in v.shape), np.float32) for v in fused.inputs]
        [got] = exe(*xs)
        np.testing.assert_array_equal(got, np.zeros((5, 9), np.float32))


@pytest.mark.parametrize("cout,pad", [(1, 0), (5, 1), (16, 1)])
def test_conv_epilogue(cout, pad):
    g = Graph("conv")
    x = g.add_input(TensorType(F32, (BATCH, 9, 7, 3)), "x")
    k = g.add_input(TensorType(F32, (3, 3, 3, cout)), "k")
    bias = g.add_input(TensorType(F32, (cout,)), "bias")
    c = g.add_node(Op.CONV, [x, k], ConvAttrs((1, 1), ((pad, pad), (pad, pad)), (1, 1), (1, 1))).output
    h = g.add_node(Op.ADD, [c, bias]).output
    zero = g.add_constant(0.0, F32)
    h = g.add_node(Op.SELECT, [g.add_node(Op.GREATER, [h, zero]).output, h, zero]).output
    g.set_outputs([h])
    _run(_fuse(g, FusionKind.CONV_EPILOGUE), batches=(1, 4), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# whole models, fused and not

@pytest.mark.parametrize("name", ["mlp", "convnet_s", "convnet_l"])
def test_seed_models_compiled_with_and_without_fusion_agree(name):
    for graph in seed_graphs(name):
        fused = fusion(graph.copy()[0]).graph
        assert kernel_count(fused) < kernel_count(graph)
        plain_exe, fused_exe = Executable(graph), Executable(fused)
        assert fused_exe.kernel_count == kernel_count(fused)
        for batch in (1, 5):
            xs = step_inputs(graph, batch)
            state = {p.name: p.binding.numpy().copy() for p in graph.params}
            want = plain_exe(*xs)
            want_state = {p.name: p.binding.numpy().copy() for p in graph.params}
            for p in graph.params:
                p.binding.numpy()[...] = state[p.name]
            got = fused_exe(*xs)
            for w, r in zip(want, got):
                np.testing.assert_allclose(r, w, rtol=1e-5, atol=1e-6)
            for p in graph.params:
                np.testing.assert_allclose(p.binding.numpy(), want_state[p.name], rtol=1e-5, atol=1e-6,
                                           err_msg=p.name)


def _big(reductions: bool) -> Graph:
    g = Graph("big")
    x = g.add_input(TensorType(F32, (BATCH, 517)), "x")
    b = g.add_input(TensorType(F32, (517,)), "b")
    h = g.add_node(Op.TANH, [g.add_node(Op.ADD, [x, b]).output]).output
    e = g.add_node(Op.EXP, [g.add_node(Op.MUL, [h, h]).output]).output
    if not reductions:
        g.set_outputs([e, h])
        return g
    rows = g.add_node(Op.REDUCE_SUM, [e], ReduceAttrs((1,), False)).output              # rows split
    cols = g.add_node(Op.REDUCE_MAX, [g.add_node(Op.NEG, [e]).output], ReduceAttrs((0,), False)).output
    g.set_outputs([e, g.add_node(Op.LOG, [rows]).output, cols])
    return g


def test_large_groups_split_across_two_threads_agree():
    from runtime import threads

    elementwise = _fuse(_big(False), FusionKind.ELEMENTWISE)
    reductions = _fuse(_big(True), FusionKind.REDUCTION, FusionKind.REDUCTION)
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        _run(elementwise, batches=(1, 700, 1031))
        _run(reductions, batches=(1, 700, 1031))
    finally:
        threads.set_num_threads(before)

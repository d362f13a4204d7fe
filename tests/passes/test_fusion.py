"""Fusion: which groups form, which are refused, and that the meaning never changes."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import BroadcastAttrs, FusionKind, ReduceAttrs, ReshapeAttrs, TransposeAttrs
from passes.fusion import fusion, fusion_report, kernel_count, unfused_kernel_count
from tests.passes.helpers import (add_random_param, assert_same_semantics, conv_graph, mlp_graph,
                                  random_inputs)

F32 = DType.float32


def _fused(graph: Graph) -> list:
    return [n for n in graph.nodes if n.op is Op.FUSED]


def _body_ops(node) -> list[str]:
    return [n.op.value for n in node.attrs.body.nodes if n.op is not Op.CONSTANT]


def _check(graph: Graph, **options) -> Graph:
    """Runs fusion on a copy; the result verifies and means what the original meant."""
    result = fusion(graph.copy()[0], **options)
    verify(result.graph)
    for n in _fused(result.graph):
        verify(n.attrs.body)
    assert_same_semantics(graph, result.graph, batches=(1, 7))
    return result.graph


def test_elementwise_chain_becomes_one_group_with_inlined_scalars():
    g = Graph("chain")
    x = g.add_input(TensorType(F32, (BATCH, 5)), "x")
    b = g.add_input(TensorType(F32, (5,)), "b")
    h = g.add_node(Op.ADD, [x, b], name="bias").output
    h = g.add_node(Op.TANH, [h], name="act").output
    h = g.add_node(Op.MUL, [h, g.add_constant(2.0, F32)], name="scale").output
    g.set_outputs([h])
    out = _check(g)
    [f] = _fused(out)
    assert f.attrs.kind is FusionKind.ELEMENTWISE
    assert _body_ops(f) == ["add", "tanh", "mul"]
    assert [v.name for v in f.inputs] == ["x", "b"]          # the scalar became an immediate
    assert kernel_count(out) == 1 and unfused_kernel_count(out) == 3
    assert fusion_report(out) == "kernels: 3 before fusion, 1 after; groups: elementwise 1"


def test_adam_update_of_one_parameter_is_one_kernel():
    g = Graph("adam")
    grad = g.add_input(TensorType(F32, (7, 3)), "grad")
    lr = g.add_input(TensorType(F32, ()), "lr")
    p = add_random_param(g, "p", (7, 3), seed=1)
    m = add_random_param(g, "m", (7, 3), seed=2)
    v = add_random_param(g, "v", (7, 3), seed=3)
    v.binding.array = np.abs(v.binding.array)            # a second moment is non-negative
    c = lambda x: g.add_constant(x, F32)   # noqa: E731
    step = g.add_node(Op.MUL, [lr, c(0.5)], name="step").output          # a scalar: its own group
    m2 = g.add_node(Op.ADD, [m, g.add_node(Op.MUL, [g.add_node(Op.SUB, [grad, m]).output, c(0.1)]).output]).output
    sq = g.add_node(Op.MUL, [grad, grad]).output
    v2 = g.add_node(Op.ADD, [v, g.add_node(Op.MUL, [g.add_node(Op.SUB, [sq, v]).output, c(0.001)]).output]).output
    den = g.add_node(Op.ADD, [g.add_node(Op.SQRT, [v2]).output, c(1e-7)]).output
    p2 = g.add_node(Op.SUB, [p, g.add_node(Op.DIV, [g.add_node(Op.MUL, [m2, step]).output, den]).output]).output
    g.set_outputs([step])
    for param, new in ((p, p2), (m, m2), (v, v2)):
        g.add_update(param, new)
    out = _check(g)
    groups = _fused(out)
    assert len(groups) == 1                      # the scalar step stays a lone node
    [f] = groups
    assert f.attrs.kind is FusionKind.ELEMENTWISE and len(f.outputs) == 3
    assert {id(new) for _, new in out.updates} == {id(o) for o in f.outputs}
    assert kernel_count(out) == 2
    xs = random_inputs(g, 1)
    _, want = interpret(g, xs, return_updates=True)
    _, got = interpret(out, xs, return_updates=True)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6)


def test_softmax_takes_three_kernels():
    g = Graph("softmax")
    x = g.add_input(TensorType(F32, (BATCH, 11)), "x")
    m = g.add_node(Op.REDUCE_MAX, [x], ReduceAttrs((1,), True), "max").output
    e = g.add_node(Op.EXP, [g.add_node(Op.SUB, [x, m], name="sub").output], name="exp").output
    s = g.add_node(Op.REDUCE_SUM, [e], ReduceAttrs((1,), True), "sum").output
    p = g.add_node(Op.DIV, [e, s], name="div").output
    loss = g.add_node(Op.NEG, [g.add_node(Op.REDUCE_SUM, [g.add_node(Op.LOG, [p]).output],
                                          ReduceAttrs((0, 1)), "total").output], name="neg").output
    g.set_outputs([p, loss])
    out = _check(g)
    kinds = [(str(n.attrs.kind), _body_ops(n)) if n.op is Op.FUSED else n.op.value for n in out.nodes]
    assert kinds == ["reduce_max",
                     ("reduction", ["sub", "exp", "reduce_sum"]),
                     ("reduction", ["div", "log", "reduce_sum", "neg"])]
    # exp is read by div outside its group: it leaves the group as a second output.
    assert len(out.nodes[1].outputs) == 2 and len(out.nodes[2].outputs) == 2


def test_matmul_epilogue_bias_activation_residual():
    g = Graph("dense")
    x = g.add_input(TensorType(F32, (BATCH, 6)), "x")
    r = g.add_input(TensorType(F32, (BATCH, 4)), "residual")
    w = add_random_param(g, "w", (6, 4), seed=1)
    b = add_random_param(g, "b", (4,), seed=2)
    h = g.add_node(Op.MATMUL, [x, w], name="mm").output
    h = g.add_node(Op.ADD, [h, b], name="bias").output
    zero = g.add_constant(0.0, F32)
    gt = g.add_node(Op.GREATER, [h, zero], name="gt").output
    h = g.add_node(Op.SELECT, [gt, h, zero], name="relu").output
    h = g.add_node(Op.ADD, [h, r], name="res").output
    g.set_outputs([h, gt])
    out = _check(g)
    [f] = out.nodes
    assert f.attrs.kind is FusionKind.MATMUL_EPILOGUE
    assert _body_ops(f) == ["matmul", "add", "greater", "select", "add"]
    assert [o.dtype for o in f.outputs] == [DType.bool, F32]      # in the order of their nodes


def test_matmul_result_with_another_reader_is_exported():
    g = Graph("dense2")
    x = g.add_input(TensorType(F32, (BATCH, 6)), "x")
    w = add_random_param(g, "w", (6, 4), seed=1)
    mm = g.add_node(Op.MATMUL, [x, w], name="mm").output
    act = g.add_node(Op.TANH, [mm], name="act").output
    t = g.add_node(Op.TRANSPOSE, [mm], TransposeAttrs((1, 0)), "t").output
    g.set_outputs([act, t])
    out = _check(g)
    [f] = _fused(out)
    assert f.attrs.kind is FusionKind.MATMUL_EPILOGUE and len(f.outputs) == 2
    assert out.nodes[1].op is Op.TRANSPOSE and out.nodes[1].inputs[0] is f.outputs[0]


def test_matmul_takes_in_transposes_of_its_operands():
    # Dense gradients: dw = x^T @ dy and dx = dy @ w^T read x and w in place.
    g = Graph("dense_grads")
    x = g.add_input(TensorType(F32, (BATCH, 6)), "x")
    dy = g.add_input(TensorType(F32, (BATCH, 4)), "dy")
    w = add_random_param(g, "w", (6, 4), seed=1)
    xt = g.add_node(Op.TRANSPOSE, [x], TransposeAttrs((1, 0)), "xt").output
    wt = g.add_node(Op.TRANSPOSE, [w], TransposeAttrs((1, 0)), "wt").output
    dw = g.add_node(Op.MATMUL, [xt, dy], name="dw").output
    dx = g.add_node(Op.MATMUL, [dy, wt], name="dx").output
    g.set_outputs([dw, g.add_node(Op.TANH, [dx], name="act").output])
    g.add_update(w, g.add_node(Op.SUB, [w, dw], name="step").output)      # a training step
    before = kernel_count(g)
    out = _check(g)
    fused = _fused(out)
    assert [_body_ops(f) for f in fused] == [["transpose", "matmul", "sub"], ["transpose", "matmul", "tanh"]]
    assert all(f.attrs.kind is FusionKind.MATMUL_EPILOGUE for f in fused)
    assert kernel_count(out) == before - 4
    off = _check(g, matmul_operands=False)            # the switch: transposes stay kernels
    assert [_body_ops(f) for f in _fused(off)] == [["matmul", "sub"], ["matmul", "tanh"]]
    assert kernel_count(off) == before - 2


def test_transpose_of_a_fixed_weight_stays_for_hoisting():
    # Inference: w is not updated, so transpose(w) is computed once per weight version.
    g = Graph("infer")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = add_random_param(g, "w", (6, 4), seed=1)
    wt = g.add_node(Op.TRANSPOSE, [w], TransposeAttrs((1, 0)), "wt").output
    g.set_outputs([g.add_node(Op.MATMUL, [x, wt], name="mm").output])
    out = _check(g)
    assert [n.op for n in out.nodes] == [Op.TRANSPOSE, Op.MATMUL]
    # Training: w is updated every step; the matmul reads it in place.
    g.add_update(w, g.add_node(Op.NEG, [w], name="step").output)
    out = _check(g)
    assert [_body_ops(f) for f in _fused(out)] == [["transpose", "matmul"]]


def test_transposes_with_other_readers_or_other_perms_stay_kernels():
    g = Graph("kept")
    x = g.add_input(TensorType(F32, (BATCH, 5, 6)), "x")
    y = g.add_input(TensorType(F32, (BATCH, 5, 4)), "y")
    xt = g.add_node(Op.TRANSPOSE, [x], TransposeAttrs((0, 2, 1)), "xt").output      # also an output
    yt = g.add_node(Op.TRANSPOSE, [y], TransposeAttrs((1, 0, 2)), "yt").output      # not the last two
    mm = g.add_node(Op.MATMUL, [xt, y], name="mm").output
    g.set_outputs([mm, xt, yt])
    out = _check(g)
    assert [n.op for n in out.nodes] == [Op.TRANSPOSE, Op.TRANSPOSE, Op.MATMUL]


def _kernel_grad(mergeable: bool, tail: bool) -> Graph:
    """The conv kernel gradient's shape: sum over the batch of per-example products."""
    g = Graph("kgrad")
    ct = g.add_input(TensorType(F32, (BATCH, 13, 5)), "ct")                # (N, P, O)
    if mergeable:
        cols = g.add_input(TensorType(F32, (BATCH, 13, 9)), "cols")        # (N, P, K*C)
        rows = g.add_node(Op.TRANSPOSE, [ct], TransposeAttrs((0, 2, 1)), "rows").output
        mm = g.add_node(Op.MATMUL, [rows, cols], name="mm").output
    else:
        cols = g.add_input(TensorType(F32, (BATCH, 9, 13)), "cols")        # (N, C*K, P)
        mm = g.add_node(Op.MATMUL, [cols, ct], name="mm").output
    s = g.add_node(Op.REDUCE_SUM, [mm], ReduceAttrs((0,), False), "sum").output
    if tail:
        s = g.add_node(Op.MUL, [s, g.add_constant(0.5, F32)], name="scale").output
    g.set_outputs([s])
    return g


@pytest.mark.parametrize("mergeable", [True, False])
@pytest.mark.parametrize("tail", [True, False])
def test_batch_sum_of_a_matmul_joins_its_group(mergeable, tail):
    g = _kernel_grad(mergeable, tail)
    out = _check(g)
    [f] = out.nodes
    assert f.attrs.kind is FusionKind.MATMUL_EPILOGUE
    want = (["transpose"] if mergeable else []) + ["matmul", "reduce_sum"] + (["mul"] if tail else [])
    assert _body_ops(f) == want


def test_batch_sum_needs_axis_zero_and_the_sole_reader():
    g = Graph("not_summed")
    a = g.add_input(TensorType(F32, (BATCH, 3, 4)), "a")
    b = g.add_input(TensorType(F32, (BATCH, 4, 5)), "b")
    mm = g.add_node(Op.MATMUL, [a, b], name="mm").output
    s1 = g.add_node(Op.REDUCE_SUM, [mm], ReduceAttrs((1,), False), "s1").output   # not the batch
    mm2 = g.add_node(Op.MATMUL, [a, b], name="mm2").output
    s2 = g.add_node(Op.REDUCE_SUM, [mm2], ReduceAttrs((0,), False), "s2").output
    g.set_outputs([s1, s2, mm2])                                                   # mm2 read twice
    out = _check(g)
    assert not any(f.attrs.kind is FusionKind.MATMUL_EPILOGUE and "reduce_sum" in _body_ops(f)
                   for f in _fused(out))
    # A broadcast operand (rank 2) is no per-example product either.
    g = Graph("broadcast")
    a = g.add_input(TensorType(F32, (BATCH, 3, 4)), "a")
    w = g.add_input(TensorType(F32, (4, 5)), "w")
    mm = g.add_node(Op.MATMUL, [a, w], name="mm").output
    g.set_outputs([g.add_node(Op.REDUCE_SUM, [mm], ReduceAttrs((0,), False), "s").output])
    out = _check(g)
    assert [n.op for n in out.nodes] == [Op.MATMUL, Op.REDUCE_SUM]


def test_transposed_batch_sum_groups_come_from_training_graphs():
    # The train steps of the seed models: every Dense/conv weight gradient is one GEMM group.
    fused = fusion(seed_graphs("convnet_s")[1].copy()[0]).graph
    groups = [_body_ops(f) for f in _fused(fused) if f.attrs.kind is FusionKind.MATMUL_EPILOGUE]
    assert any("reduce_sum" in ops and "transpose" in ops for ops in groups), groups
    assert any(ops[:2] == ["transpose", "matmul"] and "reduce_sum" not in ops for ops in groups), groups


def test_epilogue_refuses_an_operand_it_cannot_index():
    # A batched matmul's epilogue sees rows over (batch, M): a [3, 5] operand varies with M
    # but not with the batch, which is neither a bias, a row vector nor a residual.
    g = Graph("batched")
    a = g.add_input(TensorType(F32, (2, 3, 4)), "a")
    w = add_random_param(g, "w", (4, 5), seed=1)
    odd = g.add_input(TensorType(F32, (3, 5)), "odd")
    h = g.add_node(Op.MATMUL, [a, w], name="mm").output
    g.set_outputs([g.add_node(Op.ADD, [h, odd], name="add").output])
    out = _check(g)
    assert [n.op for n in out.nodes] == [Op.MATMUL, Op.ADD]
    assert fusion(g.copy()[0]).changed is False


def test_fusion_refuses_a_cycle_through_a_non_fusible_node():
    # exp -> transpose -> add, and exp -> add: putting exp and add in one group would make
    # the group both feed and read the transpose.
    g = Graph("diamond")
    x = g.add_input(TensorType(F32, (5, 5)), "x")
    e = g.add_node(Op.EXP, [x], name="exp").output
    n = g.add_node(Op.NEG, [e], name="neg").output
    t = g.add_node(Op.TRANSPOSE, [n], TransposeAttrs((1, 0)), "t").output
    g.set_outputs([g.add_node(Op.ADD, [n, t], name="add").output])
    out = _check(g)
    [f] = _fused(out)
    assert _body_ops(f) == ["exp", "neg"]              # exp and neg fuse; add stays apart
    assert [n.op for n in out.nodes] == [Op.FUSED, Op.TRANSPOSE, Op.ADD]


def test_groups_form_a_dag_and_keep_graph_outputs():
    g = mlp_graph()
    out = _check(g)
    deps = nx.DiGraph((v.producer.name, n.name) for n in out.nodes for v in n.inputs
                      if v.producer is not None)
    assert nx.is_directed_acyclic_graph(deps)
    assert kernel_count(out) < kernel_count(g)
    # matmul+bias+tanh is one kernel whose result the row sum and the final subtraction
    # read; the subtraction cannot join it (the row sum lies between them).
    kinds = [str(n.attrs.kind) if n.op is Op.FUSED else n.op.value for n in out.nodes]
    assert kinds == ["reshape", "matmul_epilogue", "reduce_sum", "sub"]


def test_conv_epilogue_and_pooling_stays_apart():
    g = conv_graph()
    b = add_random_param(g, "bias", (4,), seed=5)
    conv = next(n for n in g.nodes if n.op is Op.CONV)
    pool = next(n for n in g.nodes if n.op is Op.POOL)
    h = g.add_node(Op.ADD, [conv.output, b], name="bias", before=pool).output
    h = g.add_node(Op.TANH, [h], name="act", before=pool).output
    g.set_input(pool, 0, h)
    out = _check(g)
    kinds = [str(n.attrs.kind) if n.op is Op.FUSED else n.op.value for n in out.nodes]
    assert kinds == ["conv_epilogue", "pool", "reduction"]         # mean + sigmoid tail
    assert _body_ops(out.nodes[2]) == ["reduce_mean", "sigmoid"]


def test_symbolic_size_known_only_to_a_broadcast_stays_a_kernel():
    # The group's N would come from broadcast_to's attribute alone: the broadcast stays
    # outside, so the FUSED node's operands give every size.
    g = Graph("bcast")
    s = g.add_input(TensorType(F32, ()), "s")
    b = g.add_node(Op.BROADCAST_TO, [s], BroadcastAttrs((BATCH, 3)), "b").output
    g.set_outputs([g.add_node(Op.EXP, [g.add_node(Op.NEG, [b]).output]).output])
    out = fusion(g.copy()[0]).graph
    verify(out)
    assert out.nodes[0].op is Op.BROADCAST_TO and out.nodes[1].op is Op.FUSED
    assert out.nodes[1].inputs[0].shape == (BATCH, 3)


def test_broadcast_to_of_a_sized_operand_is_absorbed():
    g = Graph("bcast2")
    x = g.add_input(TensorType(F32, (BATCH, 1)), "x")
    y = g.add_input(TensorType(F32, (BATCH, 4)), "y")
    b = g.add_node(Op.BROADCAST_TO, [x], BroadcastAttrs((BATCH, 4)), "b").output
    r = g.add_node(Op.RESHAPE, [y], ReshapeAttrs((BATCH, 4)), "r").output
    g.set_outputs([g.add_node(Op.MUL, [b, r]).output])
    out = _check(g)
    [f] = _fused(out)
    assert _body_ops(f) == ["broadcast_to", "mul"]


def test_nothing_to_fuse_is_unchanged_and_options_switch_kinds_off():
    g = Graph("single")
    x = g.add_input(TensorType(F32, (3,)), "x")
    g.set_outputs([g.add_node(Op.EXP, [x]).output])
    result = fusion(g)
    assert result.changed is False and result.graph is g
    off = fusion(mlp_graph(), elementwise=False, reductions=False, epilogues=False)
    assert off.changed is False and not _fused(off.graph)
    only_ew = _check(mlp_graph(), reductions=False, epilogues=False)
    assert {n.attrs.kind for n in _fused(only_ew)} == {FusionKind.ELEMENTWISE}
    only_epilogues = _check(mlp_graph(), elementwise=False, reductions=False)
    assert [n.attrs.kind for n in _fused(only_epilogues)] == [FusionKind.MATMUL_EPILOGUE]


def test_a_reduction_that_keeps_the_shape_is_not_fused():
    g = Graph("unit")
    x = g.add_input(TensorType(F32, (BATCH, 1)), "x")
    s = g.add_node(Op.REDUCE_SUM, [g.add_node(Op.EXP, [x]).output], ReduceAttrs((1,), True)).output
    g.set_outputs([g.add_node(Op.NEG, [s]).output])
    out = _check(g)
    assert all(n.attrs.kind is FusionKind.ELEMENTWISE for n in _fused(out))


# ---------------------------------------------------------------------------------------------
# the seed models: inference and train-step graphs

def seed_graphs(name: str, batch: int = 4) -> tuple[Graph, Graph]:
    """The optimized inference and Adam train-step graphs of a seed model, as the trainer builds
    them, but with fusion switched off (through the pass manager's bisecting switch)."""
    import os

    import horn as keras
    from passes.pass_manager import DISABLE_ENV
    from tests.models import seed_models

    saved = os.environ.get(DISABLE_ENV)
    os.environ[DISABLE_ENV] = ",".join(filter(None, [saved, "fusion"]))
    try:
        return _seed_graphs(keras, seed_models, name, batch)
    finally:
        if saved is None:
            del os.environ[DISABLE_ENV]
        else:
            os.environ[DISABLE_ENV] = saved


def _seed_graphs(keras, seed_models, name: str, batch: int) -> tuple[Graph, Graph]:

    model = getattr(seed_models, name)(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    shape = (batch, 28, 28) if name == "mlp" else (batch, 28, 28, 1)
    x = rng.uniform(0, 1, shape).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    train = model._trace_step_graph(x, y, True)
    structure, arrays = model._standardize_inputs(x)
    inference, _ = model._trace_graph(structure, model._signature(arrays), False)
    return inference, train


def step_inputs(graph: Graph, batch: int, seed: int = 0) -> list[np.ndarray]:
    """Inputs a train step accepts: labels in range, unit sample weights, a small learning rate."""
    xs = random_inputs(graph, batch, seed)
    rng = np.random.default_rng(seed)
    for i, v in enumerate(graph.inputs):
        if v.name.endswith("_target"):
            xs[i] = rng.integers(0, 10, xs[i].shape).astype(xs[i].dtype)
        elif v.name == "sample_weight":
            xs[i] = np.ones_like(xs[i])
        elif v.name == "learning_rate":
            xs[i] = np.asarray(0.01, np.float32)
        elif v.name == "rng_key":
            xs[i] = np.array([1, 2], np.int64)
    return xs


@pytest.mark.parametrize("name", ["mlp", "convnet_s", "convnet_l"])
def test_seed_models_fuse_without_changing_meaning(name):
    for graph in seed_graphs(name):
        result = fusion(graph.copy()[0])
        verify(result.graph)
        assert result.changed
        before, after = kernel_count(graph), kernel_count(result.graph)
        assert unfused_kernel_count(result.graph) == before and after < before / 2
        for batch in (1, 3):
            xs = step_inputs(graph, batch)
            want, want_up = interpret(graph, xs, return_updates=True)
            got, got_up = interpret(result.graph, xs, return_updates=True)
            for w, r in zip(want, got):
                np.testing.assert_allclose(r, w, rtol=1e-6, atol=1e-6)
            assert want_up.keys() == got_up.keys()
            for k in want_up:
                np.testing.assert_allclose(got_up[k], want_up[k], rtol=1e-6, atol=1e-6, err_msg=k)


def test_fused_graphs_print_and_parse_back():
    from ir.parser import parse_graph
    from ir.printer import print_graph

    out = fusion(mlp_graph()).graph
    text = print_graph(out)
    assert "kind=matmul_epilogue" in text and "graph @dense.body(" in text
    back = parse_graph(text)
    verify(back)
    assert print_graph(back) == text


def test_defuse_inlines_every_body_back():
    from passes.fusion import defuse

    g = mlp_graph()
    out = defuse(fusion(g.copy()[0]).graph)
    verify(out)
    assert not _fused(out)
    assert sorted(op.value for op in map(lambda n: n.op, out.nodes)) == sorted(n.op.value for n in g.nodes)
    assert_same_semantics(g, out)


def test_a_fused_graph_differentiates_like_the_unfused_one():
    from passes.autodiff import gradients

    def loss_of(g: Graph) -> Graph:
        out = g.outputs[0]
        total = g.add_node(Op.REDUCE_SUM, [out], ReduceAttrs(tuple(range(out.type.rank)))).output
        grads = gradients(g, total, [g.inputs[0], *g.params])
        g.set_outputs(grads)
        return verify(g)

    plain = loss_of(mlp_graph())
    fused = fusion(mlp_graph()).graph
    assert _fused(fused)
    assert_same_semantics(plain, loss_of(fused), batches=(1, 5))


def test_scan_bodies_are_fused_and_keep_their_meaning():
    from tests.ir.test_scan import rnn_graph
    g = rnn_graph(units=4, feat=3, length=5)
    out = _check(g)
    (scan,) = [n for n in out.nodes if n.op is Op.SCAN]
    body = scan.attrs.body
    verify(body)
    assert kernel_count(body) < unfused_kernel_count(body)
    assert any(n.op is Op.FUSED for n in body.nodes)


def test_defuse_restores_core_ops_inside_scan_bodies():
    from passes.fusion import defuse
    from tests.ir.test_scan import rnn_graph
    g = rnn_graph(units=4, feat=3, length=5)
    fused = fusion(g.copy()[0]).graph
    plain = defuse(fused)
    verify(plain)
    (scan,) = [n for n in plain.nodes if n.op is Op.SCAN]
    assert not any(n.op is Op.FUSED for n in scan.attrs.body.nodes)
    assert_same_semantics(g, plain, batches=(1, 7))

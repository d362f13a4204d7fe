"""constant_folding: structure, semantics, invariants."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import (BroadcastAttrs, CastAttrs, ConvAttrs, PoolAttrs, PoolKind, ReduceAttrs,
                      ReshapeAttrs, TransposeAttrs)
from passes import constant_folding, dce
from tests.passes.helpers import (F32, add_random_param, assert_same_semantics, conv_graph,
                                  mlp_graph, op_names)

RNG = np.random.default_rng(0)
C1 = RNG.standard_normal((12, 5)).astype(np.float32)
C2 = RNG.standard_normal((5, 12)).astype(np.float32)
C3 = RNG.standard_normal((4, 5)).astype(np.float32)


def foldable_graph() -> Graph:
    """x @ (C1 * 2 + C2.T) + sum(C3, axis 0) + b: a four-deep constant cascade feeding live code."""
    g = Graph("fold")
    x = g.add_input(TensorType(F32, (BATCH, 3, 4)), "x")
    b = add_random_param(g, "b", (5,), seed=4)
    c1, c2, c3 = (g.add_constant(c, name=n) for c, n in ((C1, "c1"), (C2, "c2"), (C3, "c3")))
    two = g.add_constant(np.float32(2.0), name="two")
    scaled = g.add_node(Op.MUL, [c1, two], name="scaled").output
    c2t = g.add_node(Op.TRANSPOSE, [c2], TransposeAttrs((1, 0)), "c2t").output
    w = g.add_node(Op.ADD, [scaled, c2t], name="w").output
    bias = g.add_node(Op.REDUCE_SUM, [c3], ReduceAttrs((0,)), "colsum").output
    flat = g.add_node(Op.RESHAPE, [x], ReshapeAttrs((BATCH, 12)), "flat").output
    h = g.add_node(Op.MATMUL, [flat, w], name="dense").output
    h = g.add_node(Op.ADD, [h, bias], name="plus_const").output
    g.set_outputs([g.add_node(Op.ADD, [h, b], name="plus_param").output])
    return g


# -- structure ---------------------------------------------------------------
def test_folds_a_cascade_in_one_run():
    result = constant_folding(foldable_graph())
    assert result.changed
    g = dce(result.graph).graph
    assert op_names(g) == ["constant", "constant", "reshape", "matmul", "add", "add"]
    w, bias = (n.attrs.value for n in g.nodes if n.op is Op.CONSTANT)
    np.testing.assert_array_equal(w, C1 * np.float32(2) + C2.T)
    np.testing.assert_array_equal(bias, C3.sum(axis=0))
    assert g.nodes[3].inputs[1].producer.op is Op.CONSTANT  # matmul reads the folded weight


def test_params_are_not_folded():
    g = Graph("param")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = add_random_param(g, "w", (4,))
    neg = g.add_node(Op.NEG, [w]).output
    scaled = g.add_node(Op.MUL, [neg, g.add_constant(np.float32(3.0))]).output
    g.set_outputs([g.add_node(Op.ADD, [x, scaled]).output])
    result = constant_folding(g)
    assert not result.changed
    assert op_names(result.graph) == ["neg", "constant", "mul", "add"]


def test_respects_max_elements():
    def build() -> Graph:
        g = Graph("big")
        one = g.add_constant(np.float32(1.0))
        g.set_outputs([g.add_node(Op.BROADCAST_TO, [one], BroadcastAttrs((64, 64))).output])
        return g

    assert not constant_folding(build(), max_elements=64 * 64 - 1).changed
    folded = constant_folding(build(), max_elements=64 * 64).graph
    assert op_names(folded) == ["constant", "constant"]
    np.testing.assert_array_equal(interpret(folded, [])[0], np.ones((64, 64), np.float32))
    with pytest.raises(ValueError, match="max_elements=-1"):
        constant_folding(build(), max_elements=-1)


def test_a_result_with_a_symbolic_dim_is_not_folded():
    g = Graph("sym")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    row = g.add_constant(np.arange(4, dtype=np.float32).reshape(1, 4))
    wide = g.add_node(Op.BROADCAST_TO, [row], BroadcastAttrs((BATCH, 4))).output
    g.set_outputs([g.add_node(Op.ADD, [x, wide]).output])
    assert not constant_folding(g).changed


def test_a_folded_graph_output_is_rewired():
    g = Graph("out")
    a = g.add_constant(np.array([1, 2, 3], np.int32))
    b = g.add_constant(np.array([3, 2, 1], np.int32))
    g.set_outputs([g.add_node(Op.GREATER, [a, b], name="gt").output])
    g = dce(constant_folding(g).graph).graph
    assert op_names(g) == ["constant"]
    assert g.outputs[0].type == TensorType(DType.bool, (3,))
    np.testing.assert_array_equal(interpret(g, [])[0], [False, False, True])


# -- semantics ---------------------------------------------------------------
def windows_and_dtypes_graph() -> Graph:
    """Constant conv, pool, compare/select, cast and reshape feeding a batch-N input."""
    g = Graph("mixed")
    x = g.add_input(TensorType(F32, (BATCH, 2)), "x")
    img = g.add_constant(RNG.standard_normal((1, 5, 5, 2)).astype(np.float32), name="img")
    ker = g.add_constant(RNG.standard_normal((3, 3, 2, 2)).astype(np.float32), name="ker")
    c = g.add_node(Op.CONV, [img, ker], ConvAttrs((2, 2), ((1, 1), (1, 1)), (1, 1), (1, 1))).output
    p = g.add_node(Op.POOL, [c], PoolAttrs(PoolKind.AVG, (2, 2), (1, 1), ((0, 1), (0, 1)))).output
    m = g.add_node(Op.REDUCE_MAX, [p], ReduceAttrs((0, 1, 2))).output          # f32[2]
    positive = g.add_node(Op.GREATER, [m, g.add_constant(np.float32(0))]).output
    as_int = g.add_node(Op.CAST, [positive], CastAttrs(DType.int32)).output
    back = g.add_node(Op.CAST, [as_int], CastAttrs(DType.float32)).output
    chosen = g.add_node(Op.SELECT, [positive, m, back]).output
    row = g.add_node(Op.RESHAPE, [chosen], ReshapeAttrs((1, 2))).output
    g.set_outputs([g.add_node(Op.MUL, [x, row]).output, m])
    return g


@pytest.mark.parametrize("build, ops_after", [
    (foldable_graph, ["constant", "constant", "reshape", "matmul", "add", "add"]),
    (windows_and_dtypes_graph, ["constant", "constant", "mul"]),
])
def test_outputs_are_unchanged(build, ops_after):
    g = build()
    before, _ = g.copy()
    after = dce(constant_folding(g).graph).graph
    assert op_names(after) == ops_after
    assert_same_semantics(before, after, batches=(1, 7))


# -- invariants --------------------------------------------------------------
@pytest.mark.parametrize("build", [foldable_graph, windows_and_dtypes_graph])
def test_verifies_and_second_run_changes_nothing(build):
    first = constant_folding(build())
    assert first.changed
    verify(first.graph)
    second = constant_folding(first.graph)
    assert not second.changed and second.graph is first.graph
    verify(second.graph)


@pytest.mark.parametrize("build", [mlp_graph, conv_graph])
def test_nothing_to_do_without_constants(build):
    g = build()
    before = str(g)
    result = constant_folding(g)
    assert not result.changed and str(result.graph) == before

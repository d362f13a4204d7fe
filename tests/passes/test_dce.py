"""dce: structure, semantics, invariants."""
from __future__ import annotations

import textwrap

import pytest

from ir import BATCH, Graph, Op, TensorType, verify
from ir.attrs import ReduceAttrs, ReshapeAttrs
from passes import dce
from tests.passes.helpers import (F32, add_random_param, assert_same_semantics, conv_graph,
                                  mlp_graph, op_names)


def graph_with_dead_code() -> Graph:
    """A live matmul path, a dead three-node chain, a dead param user, an unused input."""
    g = Graph("dead")
    x = g.add_input(TensorType(F32, (BATCH, 3, 4)), "x")
    g.add_input(TensorType(F32, (BATCH, 2)), "unused")
    w = add_random_param(g, "w", (12, 5), seed=1)
    v = add_random_param(g, "v", (5,), seed=2)
    flat = g.add_node(Op.RESHAPE, [x], ReshapeAttrs((BATCH, 12)), "flat").output
    h = g.add_node(Op.MATMUL, [flat, w], name="dense").output
    # Dead chain reading a live value: exp -> reduce -> neg; only a reverse sweep gets all three.
    e = g.add_node(Op.EXP, [h], name="dead_exp").output
    r = g.add_node(Op.REDUCE_SUM, [e], ReduceAttrs((0,)), "dead_sum").output
    g.add_node(Op.NEG, [r], name="dead_neg")
    g.add_node(Op.MUL, [v, v], name="dead_square")   # the only reader of param v
    g.set_outputs([g.add_node(Op.TANH, [h], name="act").output, flat])
    return g


# -- structure ---------------------------------------------------------------
def test_removes_dead_chains_and_unused_params():
    result = dce(graph_with_dead_code())
    assert str(result.graph) == textwrap.dedent("""\
        graph @dead(%x: f32[N,3,4], %unused: f32[N,2]) {
          param %w: f32[12,5]
          %flat = reshape(%x) {shape=[N,12]} : f32[N,12]
          %dense = matmul(%flat, %w) : f32[N,5]
          %act = tanh(%dense) : f32[N,5]
          return %act, %flat
        }""")


def test_keeps_a_node_used_only_as_a_graph_output():
    g = Graph("out")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    a = g.add_node(Op.ABS, [x]).output
    b = g.add_node(Op.SQRT, [a]).output
    g.add_node(Op.LOG, [a])
    g.set_outputs([b, a])
    assert op_names(dce(g).graph) == ["abs", "sqrt"]


def test_a_graph_returning_only_an_input_keeps_no_nodes():
    g = Graph("identity")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    add_random_param(g, "w", (4,))
    g.add_node(Op.EXP, [x])
    g.set_outputs([x])
    out = dce(g).graph
    assert len(out) == 0 and out.params == [] and out.inputs == [x]


# -- semantics ---------------------------------------------------------------
@pytest.mark.parametrize("build", [graph_with_dead_code, mlp_graph, conv_graph])
def test_outputs_are_unchanged(build):
    g = build()
    before, _ = g.copy()
    assert_same_semantics(before, dce(g).graph, batches=(1, 7))


# -- invariants --------------------------------------------------------------
def test_changed_is_true_then_false():
    g = graph_with_dead_code()
    first = dce(g)
    assert first.changed and first.graph is g  # in place
    verify(first.graph)
    second = dce(first.graph)
    assert not second.changed and op_names(second.graph) == ["reshape", "matmul", "tanh"]


@pytest.mark.parametrize("build", [mlp_graph, conv_graph])
def test_nothing_to_do(build):
    g = build()
    before = str(g)
    result = dce(g)
    assert not result.changed and str(result.graph) == before
    verify(result.graph)


def test_an_unused_param_alone_counts_as_a_change():
    g = mlp_graph()
    add_random_param(g, "orphan", (3,))
    result = dce(g)
    assert result.changed
    assert [p.name for p in result.graph.params] == ["w", "b"]
    verify(result.graph)

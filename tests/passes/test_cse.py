"""cse: structure, semantics, invariants."""
from __future__ import annotations

import numpy as np

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import RandomAttrs, ReduceAttrs
from passes import dce
from passes.cse import cse
from tests.passes.helpers import (F32, add_random_param, assert_same_semantics, conv_graph,
                                  mlp_graph, op_names)


def run(g: Graph) -> tuple[Graph, bool]:
    before, _ = g.copy()
    result = cse(g)
    after = dce(result.graph).graph
    verify(after)
    assert_same_semantics(before, after, batches=(1, 7, 13))
    return after, result.changed


def test_merges_chains_constants_and_commuted_operands():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 5)), "x")
    y = g.add_input(TensorType(F32, (1, 5)), "y")
    c1 = g.add_constant(np.float32(2.0), name="two")
    c2 = g.add_constant(np.float32(2.0), name="two_again")
    a1 = g.add_node(Op.EXP, [g.add_node(Op.ADD, [x, y]).output]).output
    a2 = g.add_node(Op.EXP, [g.add_node(Op.ADD, [y, x]).output]).output
    m1 = g.add_node(Op.MUL, [a1, c1]).output
    m2 = g.add_node(Op.MUL, [a2, c2]).output
    s1 = g.add_node(Op.SUB, [m1, x]).output
    s2 = g.add_node(Op.SUB, [x, m2]).output      # not commutative: stays
    g.set_outputs([s1, s2, m2])
    after, changed = run(g)
    assert changed
    assert op_names(after) == ["constant", "add", "exp", "mul", "sub", "sub"]
    assert after.outputs[2] is after.nodes[3].output


def test_attributes_tell_nodes_apart():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 4, 3)), "x")
    r0 = g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((1,))).output
    r1 = g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((1,))).output
    r2 = g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((1,), keepdims=True)).output
    r3 = g.add_node(Op.REDUCE_MAX, [x], ReduceAttrs((1,))).output
    g.set_outputs([r0, r1, r2, r3])
    after, changed = run(g)
    assert changed and op_names(after) == ["reduce_sum", "reduce_sum", "reduce_max"]
    assert after.outputs[0] is after.outputs[1]


def test_random_streams_are_never_merged():
    g = Graph("g")
    key = g.add_input(TensorType(DType.int64, (2,)), "key")
    u = [g.add_node(Op.RANDOM_UNIFORM, [key], RandomAttrs((3, 4), DType.float32, s)).output
         for s in (0, 1, 0)]
    g.set_outputs(u)
    after, changed = run(g)
    assert changed and op_names(after) == ["random_uniform", "random_uniform"]
    assert after.outputs[0] is after.outputs[2] and after.outputs[0] is not after.outputs[1]
    out = interpret(after, [np.array([1, 2], np.int64)])
    assert not np.array_equal(out[0], out[1])


def test_params_and_updates():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = add_random_param(g, "w", (4,))
    v = add_random_param(g, "v", (4,), seed=1)
    d1 = g.add_node(Op.MUL, [w, v]).output
    d2 = g.add_node(Op.MUL, [v, w]).output
    g.add_update(w, d2)
    g.set_outputs([g.add_node(Op.ADD, [x, d1]).output])
    after, changed = run(g)
    assert changed and op_names(after) == ["mul", "add"]
    assert after.updates[0][1] is after.nodes[0].output


def test_nothing_to_merge():
    for make in (mlp_graph, conv_graph):
        after, changed = run(make())
        assert not changed and op_names(after) == op_names(make())

"""shape_inference / specialize_inputs: structure, semantics, invariants."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from ir import BATCH, DType, Graph, IRTypeError, Op, TensorType, VerificationError, interpret, verify
from ir.attrs import ReduceAttrs, ReshapeAttrs
from passes import shape_inference, specialize_inputs
from tests.passes.helpers import (F32, assert_same_semantics, conv_graph, mlp_graph,
                                  random_inputs)


def f32(*shape) -> TensorType:
    return TensorType(F32, shape)


# -- structure ---------------------------------------------------------------
def test_specializing_the_batch_rewrites_types_and_reshape_attrs():
    result = specialize_inputs(mlp_graph(), input_types={"x": f32(7, 3, 4)})
    assert result.changed
    assert str(result.graph) == textwrap.dedent("""\
        graph @mlp(%x: f32[7,3,4]) {
          param %w: f32[12,5]
          param %b: f32[5]
          %flat = reshape(%x) {shape=[7,12]} : f32[7,12]
          %dense = matmul(%flat, %w) : f32[7,5]
          %bias = add(%dense, %b) : f32[7,5]
          %act = tanh(%bias) : f32[7,5]
          %rowsum = reduce_sum(%act) {axes=[1], keepdims=true} : f32[7,1]
          %centred = sub(%act, %rowsum) : f32[7,5]
          return %centred
        }""")


def test_an_unnamed_input_sharing_the_symbol_is_specialized_too():
    g = Graph("pair")
    x = g.add_input(f32(BATCH, 5), "x")
    y = g.add_input(f32(BATCH, 5), "y")
    g.set_outputs([g.add_node(Op.MUL, [x, y]).output])
    out = specialize_inputs(g, input_types={"x": f32(3, 5)}).graph
    assert [v.type for v in out.inputs] == [f32(3, 5), f32(3, 5)]
    assert out.outputs[0].type == f32(3, 5)


def test_specialize_then_generalize_round_trips():
    g = conv_graph()
    original = str(g)
    fixed = specialize_inputs(g, input_types={"x": f32(7, 6, 6, 3)}).graph
    assert fixed.outputs[0].type == f32(7, 4)
    back = specialize_inputs(fixed, input_types={"x": f32(BATCH, 6, 6, 3)})
    assert back.changed
    assert str(back.graph) == original


def test_retypes_after_an_input_type_is_assigned():
    g = conv_graph()
    g.inputs[0].type = f32(2, 6, 6, 3)
    with pytest.raises(VerificationError, match="node conv"):
        verify(g)  # downstream types are stale until the pass runs
    result = shape_inference(g)
    assert result.changed
    assert [n.output.type for n in result.graph.nodes] == [
        f32(2, 6, 6, 4), f32(2, 3, 3, 4), f32(2, 4), f32(2, 4)]


# -- semantics ---------------------------------------------------------------
@pytest.mark.parametrize("build", [mlp_graph, conv_graph])
@pytest.mark.parametrize("batch", [1, 7])
def test_specialized_graph_computes_the_same(build, batch):
    g = build()
    shape = (batch,) + g.inputs[0].shape[1:]
    fixed = specialize_inputs(g, input_types={"x": f32(*shape)}).graph
    assert_same_semantics(g, fixed, batches=[batch])


def test_specialized_graph_rejects_other_batch_sizes():
    fixed = specialize_inputs(mlp_graph(), input_types={"x": f32(7, 3, 4)}).graph
    with pytest.raises(ValueError, match="expected shape"):
        interpret(fixed, random_inputs(mlp_graph(), 3))


def test_generalized_graph_runs_at_any_batch():
    g = Graph("static")
    x = g.add_input(f32(7, 4), "x")
    h = g.add_node(Op.EXP, [x]).output
    g.set_outputs([g.add_node(Op.REDUCE_MAX, [h], attrs=ReduceAttrs((1,))).output])
    general = specialize_inputs(g, input_types={"x": f32(BATCH, 4)}).graph
    for batch in (1, 7, 13):
        xs = random_inputs(general, batch)
        np.testing.assert_allclose(interpret(general, xs)[0], np.exp(xs[0]).max(axis=1), rtol=1e-6)


# -- invariants --------------------------------------------------------------
@pytest.mark.parametrize("build", [mlp_graph, conv_graph])
def test_consistent_graph_is_left_alone(build):
    g = build()
    result = shape_inference(g)
    assert not result.changed and result.graph is g
    verify(g)


def test_second_run_changes_nothing_and_input_graph_is_untouched():
    g = mlp_graph()
    before = str(g)
    first = specialize_inputs(g, input_types={"x": f32(7, 3, 4)})
    assert str(g) == before  # rebuilt, not rewritten in place
    verify(first.graph)
    again = specialize_inputs(first.graph, input_types={"x": f32(7, 3, 4)})
    assert not again.changed and again.graph is first.graph
    assert not shape_inference(first.graph).changed


def test_names_an_input_that_does_not_exist():
    with pytest.raises(ValueError, match="no input named y; its inputs are x"):
        specialize_inputs(mlp_graph(), input_types={"y": f32(7, 3, 4)})


def test_one_symbol_cannot_take_two_sizes():
    g = Graph("pair")
    x = g.add_input(f32(BATCH, 5), "x")
    y = g.add_input(f32(BATCH, 5), "y")
    g.set_outputs([g.add_node(Op.ADD, [x, y]).output])
    with pytest.raises(ValueError, match="dimension N is 7 in one input and 3 in %y"):
        specialize_inputs(g, input_types={"x": f32(7, 5), "y": f32(3, 5)})


def test_a_node_that_no_longer_type_checks_is_named():
    with pytest.raises(IRTypeError, match="node flat: reshape"):
        specialize_inputs(mlp_graph(), input_types={"x": f32(BATCH, 3, 5)})


def test_static_reshape_cannot_be_generalized():
    g = Graph("static")
    x = g.add_input(f32(7, 12), "x")
    g.set_outputs([g.add_node(Op.RESHAPE, [x], ReshapeAttrs((7, 3, 4)), "unflat").output])
    with pytest.raises(IRTypeError, match="node unflat"):
        specialize_inputs(g, input_types={"x": f32(BATCH, 12)})


def test_dtype_change_propagates():
    g = Graph("cast")
    x = g.add_input(TensorType(DType.float32, (BATCH, 3)), "x")
    g.set_outputs([g.add_node(Op.NEG, [x]).output])
    out = specialize_inputs(g, input_types={"x": TensorType(DType.float64, (BATCH, 3))}).graph
    assert out.outputs[0].type == TensorType(DType.float64, (BATCH, 3))
    verify(out)

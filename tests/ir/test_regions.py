"""Regions: Graph-valued attributes printed as nested blocks, parsed back, verified
recursively, and handled by the generic passes (a body is its own graph)."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, SymDim, TensorType, interpret, print_graph, verify
from ir.attrs import FusedAttrs, FusionKind, ReduceAttrs, ScanAttrs
from ir.parser import ParseError, parse_graph
from ir.verifier import VerificationError
from passes.constant_folding import constant_folding
from passes.dce import dce
from passes.shape_inference import shape_inference, specialize_inputs
from tests.ir.test_scan import counter_graph, rnn_body, rnn_graph

F32 = DType.float32
T = SymDim("T")

GOLDEN = """\
graph @main(%h0: f32[N,4], %x: f32[N,T,3], %w: f32[3,4], %u: f32[4,4]) {
  %scan.0, %scan.1, %scan.2 = scan(%h0, %x, %w, %u) {body=@step, num_carry=1, num_sequences=1, num_invariants=2, reverse=true} : f32[N,4], f32[N,T,4], f32[N,T,3]
    graph @step(%h: f32[N,4], %x_t: f32[N,3], %w: f32[3,4], %u: f32[4,4]) {
      %matmul = matmul(%x_t, %w) : f32[N,4]
      %matmul_1 = matmul(%h, %u) : f32[N,4]
      %add = add(%matmul, %matmul_1) : f32[N,4]
      %tanh = tanh(%add) : f32[N,4]
      %const = constant() {value=[2.]} : f32[]
      %mul = mul(%x_t, %const) : f32[N,3]
      return %tanh, %tanh, %mul
    }
  return %scan.0, %scan.1, %scan.2
}"""


def nested_graph() -> Graph:
    """A scan whose body runs a scan over an invariant sequence (a loop in a loop)."""
    inner = rnn_body(4, 3, name="inner")
    outer_body = Graph("outer")
    h = outer_body.add_input(TensorType(F32, (BATCH, 4)), "h")
    x = outer_body.add_input(TensorType(F32, (BATCH, 3)), "x_t")
    seq = outer_body.add_input(TensorType(F32, (BATCH, 5, 3)), "seq")
    w = outer_body.add_input(TensorType(F32, (3, 4)), "w")
    u = outer_body.add_input(TensorType(F32, (4, 4)), "u")
    n = outer_body.add_node(Op.SCAN, [h, seq, w, u], ScanAttrs(inner, 1, 1, 2))
    h2 = outer_body.add_node(Op.ADD, [n.outputs[0], outer_body.add_node(Op.MATMUL, [x, w]).output]).output
    outer_body.set_outputs([h2, h2])
    g = Graph("main")
    ins = [g.add_input(t, nm) for t, nm in [(TensorType(F32, (BATCH, 4)), "h0"),
                                             (TensorType(F32, (BATCH, T, 3)), "x"),
                                             (TensorType(F32, (BATCH, 5, 3)), "seq"),
                                             (TensorType(F32, (3, 4)), "w"),
                                             (TensorType(F32, (4, 4)), "u")]]
    g.set_outputs(g.add_node(Op.SCAN, ins, ScanAttrs(outer_body, 1, 1, 3)).outputs)
    return g


def fused_graph() -> Graph:
    """A FUSED node: the region support is by attribute type, not by op."""
    body = Graph("group")
    a = body.add_input(TensorType(F32, (BATCH, 3)), "a")
    body.set_outputs([body.add_node(Op.EXP, [body.add_node(Op.NEG, [a]).output]).output])
    g = Graph("main")
    x = g.add_input(TensorType(F32, (BATCH, 3)), "x")
    g.set_outputs(g.add_node(Op.FUSED, [x], FusedAttrs(body, FusionKind.ELEMENTWISE)).outputs)
    return g


def _random(g: Graph, batch=2, length=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for v in g.inputs:
        shape = tuple(batch if d == BATCH else length if isinstance(d, SymDim) else d for d in v.shape)
        if v.dtype is DType.bool:
            out.append(rng.random(shape) < 0.5)
        elif v.dtype.is_integer:
            out.append(rng.integers(0, 5, shape).astype(v.dtype.numpy))
        else:
            out.append(rng.standard_normal(shape).astype(v.dtype.numpy))
    return out


def test_golden_text():
    assert print_graph(rnn_graph(reverse=True)) == GOLDEN


@pytest.mark.parametrize("make", [lambda: rnn_graph(reverse=True), counter_graph, nested_graph,
                                  fused_graph])
def test_round_trip_is_exact_and_means_the_same(make):
    g = make()
    text = print_graph(g)
    back = parse_graph(text)
    assert print_graph(back) == text
    verify(back)
    ins = _random(g)
    for a, b in zip(interpret(g, ins), interpret(back, ins)):
        np.testing.assert_array_equal(a, b)


def test_nested_blocks_are_indented_under_their_node():
    lines = print_graph(nested_graph()).splitlines()
    assert lines[2].startswith("    graph @outer(")
    assert any(ln.startswith("        graph @inner(") for ln in lines)
    assert any(ln.startswith("          %tanh = tanh") for ln in lines)


def test_parse_errors_name_the_region():
    text = GOLDEN.replace("graph @step(", "graph @other(")
    with pytest.raises(ParseError, match=r"line 2.*names body @step, but the block below is @other"):
        parse_graph(text)
    cut = "\n".join(GOLDEN.splitlines()[:2])
    with pytest.raises(ParseError, match="expected the body block 'graph @step"):
        parse_graph(cut)
    missing = GOLDEN.replace("    }\n", "")
    with pytest.raises(ParseError, match=r"expected '\}' closing the graph|closing the graph @main"):
        parse_graph(missing)
    # a body value is not visible outside, and outer values are not visible inside
    leak = GOLDEN.replace("  return %scan.0, %scan.1, %scan.2", "  return %tanh")
    with pytest.raises(ParseError, match="%tanh in return is not defined"):
        parse_graph(leak)
    inside = GOLDEN.replace("%matmul = matmul(%x_t, %w)", "%matmul = matmul(%x_t, %h0)")
    with pytest.raises(ParseError, match="%h0 in matmul operands is not defined"):
        parse_graph(inside)


def test_verifier_reports_body_errors_under_the_outer_node():
    g = rnn_graph()
    scan = g.nodes[0]
    body = scan.attrs.body
    # Corrupt the body behind the Graph API's back: a stale use-list entry.
    body.inputs[0]._uses.append((body.nodes[0], 7))
    with pytest.raises(VerificationError, match=r"node scan \(scan\): body graph @step failed "
                                                r"verification:\n.*value %h: use-list"):
        verify(g)


def test_verifier_rejects_a_body_reading_an_outer_value():
    g = rnn_graph()
    body = g.nodes[0].attrs.body
    outer_w = g.inputs[2]
    body.set_input(body.nodes[0], 1, outer_w)        # matmul(x_t, <outer %w>)
    with pytest.raises(VerificationError, match=r"(?s)body graph @step.*operand 1 %w is not defined"):
        verify(g)


# -- passes treat bodies as graphs of their own --------------------------------------------------

def _body_with_dead_and_foldable_nodes() -> Graph:
    g = rnn_graph()
    body = g.nodes[0].attrs.body
    h = body.inputs[0]
    body.add_node(Op.EXP, [h], name="dead")                        # unused: DCE drops it
    c = body.add_node(Op.ADD, [body.add_constant(np.float32(1)), body.add_constant(np.float32(2))],
                      name="three").output                       # constant: folding computes it
    h2 = body.add_node(Op.MUL, [body.outputs[0], c], name="scaled").output
    body.set_outputs([h2, *body.outputs[1:]])
    return g


def test_dce_and_folding_inside_a_body_keep_its_signature_and_meaning():
    g = _body_with_dead_and_foldable_nodes()
    ins = _random(g)
    want = interpret(g, ins)
    original_body = g.nodes[0].attrs.body
    before = print_graph(original_body)
    r = constant_folding(g)
    assert r.changed
    r = dce(r.graph)
    assert r.changed
    out = verify(r.graph)
    body = out.nodes[0].attrs.body
    ops = [n.op for n in body.nodes]
    assert Op.EXP not in ops and ops.count(Op.ADD) == 1            # dead exp gone, 1+2 folded
    assert [v.type for v in body.inputs] == [v.type for v in original_body.inputs]
    assert print_graph(original_body) == before                    # shared bodies are copied, not edited
    for a, b in zip(want, interpret(out, ins)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not dce(out).changed


def test_dce_prunes_unused_stacked_outputs_and_invariants():
    g = rnn_graph()
    ins = _random(g)
    want = interpret(g, ins)
    g.set_outputs([g.outputs[0], g.outputs[1]])        # the x*2 sequence is unused
    out = verify(dce(g).graph)
    (scan,) = out.nodes
    assert len(scan.outputs) == 2 and len(scan.attrs.body.outputs) == 2
    got = interpret(out, ins)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # the carry and its sequence stay even when only the final carry is used
    g.set_outputs([g.outputs[0]])
    out = verify(dce(out).graph)
    assert len(out.nodes[0].outputs) == 1


def test_specialize_inputs_binds_symbols_inside_bodies():
    g = rnn_graph()
    x = g.inputs[1]
    r = specialize_inputs(g, input_types={"x": TensorType(F32, (2, 6, 3))})
    out = verify(r.graph)
    body = out.nodes[0].attrs.body
    assert str(body.inputs[0].type) == "f32[2,4]" and str(out.outputs[1].type) == "f32[2,6,4]"
    assert x.type == TensorType(F32, (BATCH, T, 3))


def test_shape_inference_retypes_a_body_when_operands_generalize():
    """A traced static length made symbolic: the body's slice types follow."""
    g = rnn_graph(length=5)
    g.inputs[1].type = TensorType(F32, (BATCH, T, 3))   # what a caller generalizing the input does
    out = verify(shape_inference(g).graph)
    assert str(out.outputs[1].type) == "f32[N,T,4]"


def test_fused_region_verifies_recursively():
    g = fused_graph()
    body = g.nodes[0].attrs.body
    body.add_node(Op.REDUCE_SUM, [body.inputs[0]], ReduceAttrs((1,)))
    body.nodes[-1].outputs[0].type = TensorType(F32, (7,))     # corrupt the body's types
    with pytest.raises(VerificationError, match=r"node fused \(fused\): body graph @group"):
        verify(g)

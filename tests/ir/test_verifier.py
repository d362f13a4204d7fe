"""The verifier's error classes. Broken graphs are made by poking private fields on
purpose: the public methods are built so that they cannot produce them."""
from __future__ import annotations

import pytest

from ir import BATCH, DType, Graph, Op, TensorType, VerificationError, verify
from ir.attrs import CastAttrs
from ir.graph import ValueKind

F32 = DType.float32


def chain() -> Graph:
    """x -> neg -> exp -> output."""
    g = Graph("chain")
    x = g.add_input(TensorType(F32, (BATCH, 3)), "x")
    n = g.add_node(Op.NEG, [x])
    e = g.add_node(Op.EXP, [n.output])
    g.set_outputs([e.output])
    return g


def test_a_well_formed_graph_passes_and_is_returned():
    g = chain()
    assert verify(g) is g


def test_out_of_order_operand():
    g = chain()
    neg, exp = g.nodes
    g.reorder([exp, neg])
    with pytest.raises(VerificationError, match=r"graph @chain failed verification:\n  node exp \(exp\): "
                                                r"operand 0 %neg is not defined before it"):
        verify(g)


def test_operand_from_another_graph():
    g = chain()
    other = Graph()
    stranger = other.add_input(TensorType(F32, (BATCH, 3)), "stranger")
    g.set_input(g.nodes[0], 0, stranger)
    with pytest.raises(VerificationError, match=r"node neg \(neg\): operand 0 %stranger is not defined "
                                                r"before it \(not in this graph, or out of order\)"):
        verify(g)


def test_wrong_output_type():
    g = chain()
    g.nodes[1].outputs[0].type = TensorType(F32, (BATCH, 4))   # poked
    with pytest.raises(VerificationError, match=r"node exp \(exp\): expected output types f32\[N,3\], "
                                                r"received f32\[N,4\]"):
        verify(g)


def test_attributes_the_op_rejects():
    g = chain()
    g.nodes[0].attrs = CastAttrs(DType.int32)                   # poked
    with pytest.raises(VerificationError, match=r"node neg: neg: expected attributes of type NoAttrs, "
                                                r"received CastAttrs"):
        verify(g)


def test_stale_use_list_missing_entry():
    g = chain()
    neg = g.nodes[0]
    neg.output._uses.clear()                                    # poked
    with pytest.raises(VerificationError, match=r"value %neg: use-list has 0 entries, expected 1 "
                                                r"\(the operands that read it\)"):
        verify(g)


def test_stale_use_list_extra_entry():
    g = chain()
    x = g.inputs[0]
    x._uses.append((g.nodes[1], 0))                            # poked: exp does not read x
    with pytest.raises(VerificationError, match=r"value %x: use-list has 2 entries, expected 1"):
        verify(g)


def test_stale_use_list_entry_with_the_wrong_slot():
    # Same count, wrong operand index: the check compares entries, not just lengths.
    g = Graph("pair")
    x = g.add_input(TensorType(F32, (3,)), "x")
    y = g.add_input(TensorType(F32, (3,)), "y")
    a = g.add_node(Op.ADD, [x, y])
    g.set_outputs([a.output])
    x._uses[:] = [(a, 1)]                                       # poked
    with pytest.raises(VerificationError, match=r"value %x: use-list has 1 entries, expected 1"):
        verify(g)


def test_undefined_graph_output():
    g = chain()
    other = chain()
    g.set_outputs([g.nodes[1].output, other.nodes[0].output])
    with pytest.raises(VerificationError, match=r"graph output 1 %neg is not defined in the graph"):
        verify(g)


def test_output_that_does_not_point_back():
    g = chain()
    g.nodes[1].outputs[0].producer = g.nodes[0]                 # poked
    with pytest.raises(VerificationError, match=r"node exp: output 0 %exp does not point back to it"):
        verify(g)


def test_duplicate_value_name():
    g = chain()
    g.nodes[1].outputs[0].name = "neg"                          # poked
    with pytest.raises(VerificationError, match=r"value name %neg is used twice"):
        verify(g)


def test_wrong_kinds_of_graph_values():
    g = chain()
    g.inputs[0].kind = ValueKind.PARAM                          # poked
    with pytest.raises(VerificationError, match=r"graph input %x: expected kind input, received param"):
        verify(g)
    g = chain()
    w = g.add_param(TensorType(F32, (3,)), "w")
    w.kind = ValueKind.NODE                                     # poked
    with pytest.raises(VerificationError, match=r"graph param %w: expected kind param, received node"):
        verify(g)


def test_every_error_is_reported_at_once():
    g = chain()
    neg, exp = g.nodes
    exp.outputs[0].type = TensorType(DType.int32, (BATCH, 3))  # poked
    neg.output._uses.clear()                                    # poked
    with pytest.raises(VerificationError) as info:
        verify(g)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert "expected output types f32[N,3], received i32[N,3]" in lines[1]
    assert "value %neg: use-list has 0 entries, expected 1" in lines[2]


"""Graph construction, naming, and use-lists kept consistent by the mutation methods."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, IRTypeError, Op, TensorType, ValueKind, verify
from ir.attrs import ReduceAttrs, ReshapeAttrs

F32 = DType.float32


def small_graph() -> tuple[Graph, dict]:
    """x -> exp -> add(exp, w) -> output; returns the graph and its pieces by name."""
    g = Graph("small")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = g.add_param(TensorType(F32, (4,)), "w")
    e = g.add_node(Op.EXP, [x])
    a = g.add_node(Op.ADD, [e.output, w])
    g.set_outputs([a.output])
    return g, {"x": x, "w": w, "exp": e, "add": a}


def use_set(v) -> set[tuple[str, int]]:
    return {(n.name, i) for n, i in v.uses}


# -- construction ---------------------------------------------------------
def test_construction_infers_types_and_links_values():
    g, p = small_graph()
    e, a = p["exp"], p["add"]
    assert [n.name for n in g] == ["exp", "add"]
    assert a.output.type == TensorType(F32, (BATCH, 4))
    assert e.output.producer is e and e.output.index == 0 and e.output.kind is ValueKind.NODE
    assert p["x"].kind is ValueKind.INPUT and p["w"].kind is ValueKind.PARAM
    assert a.inputs == (e.output, p["w"])
    assert g.outputs == (a.output,)
    assert [v.name for v in g.values()] == ["x", "w", "exp", "add"]
    verify(g)


def test_add_node_rejects_bad_operands_and_attrs():
    g, p = small_graph()
    with pytest.raises(TypeError, match=r"exp operand 0 must be an ir Value, received ndarray"):
        g.add_node(Op.EXP, [np.zeros(4, np.float32)])
    with pytest.raises(IRTypeError, match=r"add: expected 2 operand\(s\), received 1"):
        g.add_node(Op.ADD, [p["x"]])
    with pytest.raises(IRTypeError, match=r"reduce_sum: expected attributes of type ReduceAttrs, "
                                          r"received NoAttrs"):
        g.add_node(Op.REDUCE_SUM, [p["x"]])
    with pytest.raises(IRTypeError, match=r"cannot reshape \[N,4\] \(4\*N elements\) to \[3\]"):
        g.add_node(Op.RESHAPE, [p["x"]], ReshapeAttrs((3,)))
    # A failed add_node leaves no trace: no node and no use entry.
    assert len(g) == 2 and use_set(p["x"]) == {("exp", 0)}


def test_add_node_before_inserts_in_place():
    g, p = small_graph()
    c = g.add_constant(np.float32(2.0), name="two", before=p["add"])
    assert [n.name for n in g] == ["exp", "two", "add"]
    assert c.type == TensorType(F32, ())
    verify(g)


def test_add_constant_keeps_scalar_rank():
    g = Graph()
    c = g.add_constant(3, DType.int64)
    assert c.type == TensorType(DType.int64, ())
    assert c.producer.attrs.value.shape == ()


# -- naming ---------------------------------------------------------------
def test_names_are_uniqued_with_suffixes():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    x1 = g.add_input(TensorType(F32, (2,)), "x")
    n1 = g.add_node(Op.NEG, [x])
    n2 = g.add_node(Op.NEG, [x])
    n3 = g.add_node(Op.NEG, [x], name="neg_1")      # taken: gets its own suffix
    n4 = g.add_node(Op.NEG, [x], name="")           # no name: the op's
    p = g.add_param(TensorType(F32, (2,)), "neg")   # one namespace for values of every kind
    v = g.add_input(TensorType(F32, (2,)), "")      # an empty hint falls back to "v"
    assert [x.name, x1.name, v.name] == ["x", "x_1", "v"]
    assert [n1.name, n2.name, n3.name, n4.name, p.name] == ["neg", "neg_1", "neg_1_1", "neg_2", "neg_3"]
    assert n1.output.name == n1.name


# -- set_input ------------------------------------------------------------
def test_set_input_moves_the_use_entry():
    g, p = small_graph()
    y = g.add_input(TensorType(F32, (BATCH, 4)), "y")
    g.set_input(p["exp"], 0, y)
    assert p["exp"].inputs == (y,)
    assert use_set(y) == {("exp", 0)}
    assert use_set(p["x"]) == set()
    verify(g)


def test_set_input_same_value_twice_in_one_node():
    g, p = small_graph()
    e = p["exp"].output
    g.set_input(p["add"], 1, e)                      # add(exp, exp)
    assert use_set(e) == {("add", 0), ("add", 1)}
    assert use_set(p["w"]) == set()
    g.set_input(p["add"], 0, p["w"])                 # add(w, exp): only slot 0 moves
    assert use_set(e) == {("add", 1)} and use_set(p["w"]) == {("add", 0)}
    verify(g)


@pytest.mark.parametrize("index", [2, -1])
def test_set_input_rejects_an_index_out_of_range(index):
    g, p = small_graph()
    with pytest.raises(IndexError, match=rf"add \(add\) has 2 operand\(s\); operand index {index} "
                                         r"is out of range"):
        g.set_input(p["add"], index, p["x"])
    assert use_set(p["w"]) == {("add", 1)}
    verify(g)


def test_set_input_type_change_is_caught_by_the_verifier():
    # set_input does not re-infer (its contract leaves that to the verifier).
    g, p = small_graph()
    z = g.add_input(TensorType(F32, (BATCH, 1)), "z")
    g.set_input(p["exp"], 0, z)
    with pytest.raises(ValueError, match=r"node exp \(exp\): expected output types f32\[N,1\], "
                                         r"received f32\[N,4\]"):
        verify(g)


# -- replace_all_uses -----------------------------------------------------
def test_replace_all_uses_rewires_operands_and_outputs():
    g, p = small_graph()
    e, a = p["exp"], p["add"]
    t = g.add_node(Op.TANH, [p["x"]])
    g.set_outputs([a.output, e.output])
    g.replace_all_uses(e.output, t.output)
    assert a.inputs[0] is t.output
    assert g.outputs == (a.output, t.output)
    assert use_set(e.output) == set() and not g.is_live(e.output)
    assert use_set(t.output) == {("add", 0)}
    g.reorder([e, t, a])                             # tanh must come before its new user
    verify(g)


def test_replace_all_uses_with_itself_is_a_no_op():
    g, p = small_graph()
    g.replace_all_uses(p["exp"].output, p["exp"].output)
    assert use_set(p["exp"].output) == {("add", 0)}


def test_replace_all_uses_rejects_a_different_type():
    g, p = small_graph()
    s = g.add_node(Op.REDUCE_SUM, [p["x"]], ReduceAttrs((1,)))
    with pytest.raises(TypeError, match=r"cannot replace %exp: f32\[N,4\] by %reduce_sum: f32\[N\]"):
        g.replace_all_uses(p["exp"].output, s.output)
    assert use_set(p["exp"].output) == {("add", 0)}


# -- remove_node ----------------------------------------------------------
def test_remove_node_drops_its_use_entries():
    g, p = small_graph()
    dead = g.add_node(Op.MUL, [p["x"], p["x"]])
    assert use_set(p["x"]) == {("exp", 0), ("mul", 0), ("mul", 1)}
    g.remove_node(dead)
    assert use_set(p["x"]) == {("exp", 0)}
    assert [n.name for n in g] == ["exp", "add"]
    verify(g)


def test_remove_node_refuses_a_used_node():
    g, p = small_graph()
    with pytest.raises(ValueError, match=r"cannot remove exp: output %exp is used by add"):
        g.remove_node(p["exp"])
    with pytest.raises(ValueError, match=r"cannot remove add: output %add is used by graph output"):
        g.remove_node(p["add"])
    assert len(g) == 2
    verify(g)


def test_remove_node_refuses_a_foreign_node():
    g, p = small_graph()
    other, q = small_graph()
    dead = other.add_node(Op.NEG, [q["x"]])
    with pytest.raises(ValueError, match=r"cannot remove neg: it is not a node of graph @small"):
        g.remove_node(dead)
    assert use_set(q["x"]) == {("exp", 0), ("neg", 0)}   # the other graph is untouched


def test_remove_unused_params():
    g, p = small_graph()
    g.add_param(TensorType(F32, (3,)), "unused")
    g.remove_unused_params()
    assert [v.name for v in g.params] == ["w"]


# -- copy and reorder -----------------------------------------------------
def test_copy_is_independent():
    g, p = small_graph()
    h, vmap = g.copy()
    assert str(h) == str(g)
    assert vmap[p["x"]] is h.inputs[0] and vmap[p["x"]] is not p["x"]
    # Mutating the copy leaves the original's nodes, uses and outputs alone.
    hx = vmap[p["x"]]
    n = h.add_node(Op.NEG, [hx])
    h.set_outputs([n.output])
    h.remove_node(h.nodes[1])
    h.remove_node(h.nodes[0])
    assert [x.name for x in h] == ["neg"]
    assert [x.name for x in g] == ["exp", "add"]
    assert use_set(p["x"]) == {("exp", 0)} and g.outputs == (p["add"].output,)
    verify(g)
    verify(h)


def test_copy_shares_bindings_and_constants():
    g = Graph()
    binding = object()
    w = g.add_param(TensorType(F32, (2,)), "w", binding)
    c = g.add_constant(np.ones(2, np.float32))
    g.set_outputs([g.add_node(Op.ADD, [w, c]).output])
    h, vmap = g.copy()
    assert vmap[w].binding is binding
    assert vmap[c].producer.attrs is c.producer.attrs


def test_reorder():
    g, p = small_graph()
    t = g.add_node(Op.TANH, [p["x"]])
    g.reorder([t, p["exp"], p["add"]])
    assert [n.name for n in g] == ["tanh", "exp", "add"]
    verify(g)
    with pytest.raises(ValueError, match="reorder needs a permutation of the graph's nodes"):
        g.reorder([t, p["exp"]])
    with pytest.raises(ValueError, match="reorder needs a permutation of the graph's nodes"):
        g.reorder([t, p["exp"], p["exp"]])
    assert [n.name for n in g] == ["tanh", "exp", "add"]


def test_node_output_of_a_multi_output_accessor():
    g, p = small_graph()
    with pytest.raises(ValueError, match=r"node exp \(exp\) has 2 outputs"):
        node = p["exp"]
        node.outputs = node.outputs * 2        # poked: no core op has two outputs yet
        node.output

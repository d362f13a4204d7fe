"""canonicalize: structure, semantics (bit-exact, signed zeros and NaNs included), invariants."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import (BroadcastAttrs, CastAttrs, ConcatAttrs, PadAttrs, ReshapeAttrs, SliceAttrs,
                      TransposeAttrs)
from passes import dce
from passes.canonicalize import canonicalize
from tests.passes.helpers import F32, add_random_param, conv_graph, mlp_graph, op_names, random_inputs

SPECIAL = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-40], np.float32)


def _inputs(graph: Graph, batch: int, seed: int) -> list[np.ndarray]:
    """Random inputs salted with the values identities get wrong: -0.0, inf, NaN, denormals."""
    out = random_inputs(graph, batch, seed)
    for x in out:
        if x.dtype.kind == "f":
            flat = x.reshape(-1)
            flat[: min(flat.size, SPECIAL.size)] = SPECIAL[: flat.size]
    return out


def assert_bit_exact(before: Graph, after: Graph, batches=(1, 7, 13), signed_zeros=True) -> None:
    for batch in batches:
        for seed in range(2):
            xs = _inputs(before, batch, seed)
            with np.errstate(all="ignore"):      # inf and NaN inputs are the point here
                want, got = interpret(before, xs), interpret(after, xs)
            for w, r in zip(want, got):
                assert r.dtype == w.dtype and r.shape == w.shape
                np.testing.assert_array_equal(r, w)
                if r.dtype.kind == "f" and signed_zeros:
                    np.testing.assert_array_equal(np.signbit(r), np.signbit(w))


def run(g: Graph, **options) -> tuple[Graph, bool]:
    before, _ = g.copy()
    result = canonicalize(g, **options)
    after = dce(result.graph).graph
    verify(after)
    assert_bit_exact(before, after, signed_zeros=options.get("signed_zeros", True))
    return after, result.changed


def binary(op: Op, const, dtype=F32, shape=(BATCH, 5), const_first=False) -> Graph:
    g = Graph("g")
    x = g.add_input(TensorType(dtype, shape), "x")
    c = g.add_constant(np.asarray(const, dtype.numpy), dtype)
    g.set_outputs([g.add_node(op, [c, x] if const_first else [x, c]).output])
    return g


# -- structure ---------------------------------------------------------------
@pytest.mark.parametrize("op, const, first", [
    (Op.MUL, 1.0, False), (Op.MUL, 1.0, True), (Op.MUL, [1.0] * 5, False), (Op.DIV, 1.0, False),
    (Op.ADD, -0.0, False), (Op.ADD, -0.0, True), (Op.SUB, 0.0, False)])
def test_float_identities_disappear(op, const, first):
    g, changed = run(binary(op, const, const_first=first))
    assert changed and op_names(g) == []
    assert g.outputs[0] is g.inputs[0]


@pytest.mark.parametrize("op, const", [
    (Op.ADD, 0.0),          # -0.0 + 0.0 is +0.0
    (Op.SUB, -0.0),         # -0.0 - (-0.0) is +0.0
    (Op.MUL, 0.0),          # inf * 0 is NaN
    (Op.MUL, [1, 1, 1, 1, 2.0]),
    (Op.DIV, -1.0)])
def test_inexact_float_rewrites_are_not_made(op, const):
    g, changed = run(binary(op, const))
    assert not changed and op.value in op_names(g)


def test_plus_zero_without_signed_zeros():
    g, changed = run(binary(Op.ADD, 0.0), signed_zeros=False)
    assert changed and op_names(g) == []
    with pytest.raises(AssertionError):   # the sign of -0.0 + 0.0 is what the default protects
        assert_bit_exact(binary(Op.ADD, 0.0), g)


@pytest.mark.parametrize("op", [Op.ADD, Op.SUB])
def test_integer_zero(op):
    g, changed = run(binary(op, 0, dtype=DType.int32))
    assert changed and op_names(g) == []


def test_a_broadcasting_identity_is_kept():
    # x: [N,1] * ones[1,5] broadcasts: dropping it would change the type.
    g, changed = run(binary(Op.MUL, np.ones((1, 5)), shape=(BATCH, 1)))
    assert not changed and op_names(g) == ["constant", "mul"]


def test_double_negation_and_not():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 3)), "x")
    b = g.add_input(TensorType(DType.bool, (BATCH, 3)), "b")
    n = g.add_node(Op.NEG, [g.add_node(Op.NEG, [x]).output]).output
    m = g.add_node(Op.LOGICAL_NOT, [g.add_node(Op.LOGICAL_NOT, [b]).output]).output
    e = g.add_node(Op.NEG, [g.add_node(Op.NEG, [g.add_node(Op.NEG, [x]).output]).output]).output
    g.set_outputs([n, m, e])
    after, changed = run(g)
    assert changed and op_names(after) == ["neg"]
    assert after.outputs[0] is after.inputs[0] and after.outputs[1] is after.inputs[1]


def test_transposes():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 3, 5, 7)), "x")
    ident = g.add_node(Op.TRANSPOSE, [x], TransposeAttrs((0, 1, 2, 3))).output
    t1 = g.add_node(Op.TRANSPOSE, [ident], TransposeAttrs((0, 2, 3, 1))).output
    back = g.add_node(Op.TRANSPOSE, [t1], TransposeAttrs((0, 3, 1, 2))).output    # undoes t1
    t2 = g.add_node(Op.TRANSPOSE, [t1], TransposeAttrs((3, 0, 2, 1))).output
    g.set_outputs([back, t2])
    after, changed = run(g)
    assert changed and op_names(after) == ["transpose"]
    assert after.outputs[0] is after.inputs[0]
    node = after.nodes[0]
    assert node.inputs[0] is after.inputs[0] and node.attrs.perm == (1, 0, 3, 2)


def test_reshapes_broadcasts_casts_slices_pads_concats():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 6, 4)), "x")
    r1 = g.add_node(Op.RESHAPE, [x], ReshapeAttrs((BATCH, 24))).output
    r2 = g.add_node(Op.RESHAPE, [r1], ReshapeAttrs((BATCH, 3, 8))).output
    r3 = g.add_node(Op.RESHAPE, [r2], ReshapeAttrs((BATCH, 3, 8))).output           # same shape
    back = g.add_node(Op.RESHAPE, [r1], ReshapeAttrs((BATCH, 6, 4))).output         # round trip
    b = g.add_node(Op.BROADCAST_TO, [x], BroadcastAttrs((BATCH, 6, 4))).output
    c = g.add_node(Op.CAST, [b], CastAttrs(DType.float32)).output
    s = g.add_node(Op.SLICE, [c], SliceAttrs((0, 0, 0), (None, 6, None), (1, 1, 1))).output
    p = g.add_node(Op.PAD, [s], PadAttrs(((0, 0), (0, 0), (0, 0)))).output
    k = g.add_node(Op.CONCAT, [p], ConcatAttrs(1)).output
    part = g.add_node(Op.SLICE, [x], SliceAttrs((0, 1, 0), (None, 6, None), (1, 1, 1))).output
    g.set_outputs([r3, back, k, part])
    after, changed = run(g)
    assert changed and op_names(after) == ["reshape", "slice"]
    assert after.nodes[0].inputs[0] is after.inputs[0]
    assert after.outputs[1] is after.inputs[0] and after.outputs[2] is after.inputs[0]


def test_select():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    y = g.add_input(TensorType(F32, (BATCH, 4)), "y")
    yes = g.add_constant(np.ones((1, 4), bool))
    no = g.add_constant(np.zeros((4,), bool))
    mixed = g.add_constant(np.array([True, False, True, True]))
    g.set_outputs([g.add_node(Op.SELECT, [yes, x, y]).output, g.add_node(Op.SELECT, [no, x, y]).output,
                   g.add_node(Op.SELECT, [mixed, x, y]).output,
                   g.add_node(Op.SELECT, [g.add_node(Op.LESS, [x, y]).output, y, y]).output])
    after, changed = run(g)
    assert changed
    x2, y2 = after.inputs
    assert after.outputs[0] is x2 and after.outputs[1] is y2 and after.outputs[3] is y2
    assert op_names(after) == ["constant", "select"]


def test_updates_and_params_follow_the_rewrite():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = add_random_param(g, "w", (4,))
    one = g.add_constant(np.float32(1.0))
    new_w = g.add_node(Op.MUL, [g.add_node(Op.NEG, [g.add_node(Op.NEG, [w]).output]).output, one]).output
    g.add_update(w, g.add_node(Op.ADD, [new_w, g.add_constant(np.float32(0.5))]).output)
    g.set_outputs([g.add_node(Op.ADD, [x, new_w]).output])
    after, changed = run(g)
    assert changed and op_names(after) == ["constant", "add", "add"]
    assert after.nodes[1].inputs[0] is after.params[0] and after.nodes[2].inputs[1] is after.params[0]
    assert after.updates[0][1] is after.nodes[1].output


def test_fixed_point_and_seed_graphs_unchanged():
    for make in (mlp_graph, conv_graph):
        g, changed = run(make())
        assert not changed and op_names(g) == op_names(make())
    g, _ = run(binary(Op.MUL, 1.0))
    assert not canonicalize(g).changed


def test_symbolic_and_prime_shapes():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 1, 13)), "x")
    t = g.add_node(Op.TRANSPOSE, [x], TransposeAttrs((0, 2, 1))).output
    t = g.add_node(Op.TRANSPOSE, [t], TransposeAttrs((0, 2, 1))).output
    d = g.add_node(Op.DIV, [t, g.add_constant(np.ones((13,), np.float32))]).output
    g.set_outputs([g.add_node(Op.EXP, [d]).output])
    after, changed = run(g)
    assert changed and op_names(after) == ["exp"]

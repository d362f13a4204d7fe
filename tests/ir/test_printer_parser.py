"""The text form: a golden dump, print -> parse -> print round trips over every
registered op, and parse errors that say where and what was expected."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, print_graph, registered_ops, verify
from ir.attrs import (FusedAttrs, FusionKind, ArgReduceAttrs, BroadcastAttrs, CastAttrs, ConcatAttrs, ConvAttrs, GatherAttrs,
                      PadAttrs, PoolAttrs, PoolKind, RandomAttrs, ReduceAttrs, ReshapeAttrs,
                      ScanAttrs, ScatterAddAttrs, SliceAttrs, TransposeAttrs)
from ir.opcodes import BINARY_OPS, COMPARE_OPS, UNARY_OPS
from ir.parser import ParseError, parse_graph

F32 = DType.float32


class Binding:
    def __init__(self, array: np.ndarray):
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array


# -- golden ---------------------------------------------------------------
GOLDEN = """\
graph @mlp(%x: f32[N,3]) {
  param %dense/kernel: f32[3,2]
  %const = constant() {value=[ 0.5,-1. ]} : f32[2]
  %matmul = matmul(%x, %dense/kernel) : f32[N,2]
  %add = add(%matmul, %const) : f32[N,2]
  %pad = pad(%add) {pads=[[0,0],[1,0]], value=0.0} : f32[N,3]
  %reduce_max = reduce_max(%pad) {axes=[1], keepdims=true} : f32[N,1]
  %cast = cast(%reduce_max) {dtype=i32} : i32[N,1]
  return %cast, %add
}"""


def mlp() -> Graph:
    g = Graph("mlp")
    x = g.add_input(TensorType(F32, (BATCH, 3)), "x")
    w = g.add_param(TensorType(F32, (3, 2)), "dense/kernel",
                    Binding(np.arange(6, dtype=np.float32).reshape(3, 2)))
    b = g.add_constant(np.array([0.5, -1.0], np.float32))
    y = g.add_node(Op.ADD, [g.add_node(Op.MATMUL, [x, w]).output, b]).output
    p = g.add_node(Op.PAD, [y], PadAttrs(((0, 0), (1, 0)), 0.0)).output
    m = g.add_node(Op.REDUCE_MAX, [p], ReduceAttrs((1,), keepdims=True)).output
    g.set_outputs([g.add_node(Op.CAST, [m], CastAttrs(DType.int32)).output, y])
    return g


def test_golden_text():
    assert print_graph(mlp()) == GOLDEN
    assert str(mlp()) == GOLDEN


def test_golden_text_parses_to_the_same_graph():
    g = parse_graph(GOLDEN)
    verify(g)
    assert print_graph(g) == GOLDEN
    assert g.params[0].binding is None
    x = np.array([[1, 2, 3], [-1, 0, 0]], np.float32)
    w = mlp().params[0].binding.numpy()
    for a, b in zip(interpret(g, [x], params={"dense/kernel": w}), interpret(mlp(), [x])):
        np.testing.assert_array_equal(a, b)


# -- a graph with every op --------------------------------------------------
def every_op_graph() -> Graph:
    """One node (at least) per registered op, with attributes of every kind and batch N."""
    rng = np.random.default_rng(0)
    g = Graph("every_op")
    img = g.add_input(TensorType(F32, (BATCH, 5, 5, 2)), "img")
    v = g.add_input(TensorType(F32, (BATCH, 4)), "v")
    u = g.add_input(TensorType(F32, (BATCH, 4)), "u")
    mask = g.add_input(TensorType(DType.bool, (BATCH, 4)), "mask")
    idx = g.add_input(TensorType(DType.int32, (3,)), "idx")
    w = g.add_param(TensorType(F32, (4, 4)), "w", Binding(rng.standard_normal((4, 4)).astype(np.float32)))
    outs = []

    def node(op, ins, attrs=None):
        n = g.add_node(op, ins, attrs).output
        outs.append(n)
        return n

    for op in sorted(UNARY_OPS - {Op.LOGICAL_NOT}, key=str):
        node(op, [v])
    node(Op.LOGICAL_NOT, [mask])
    for op in sorted(BINARY_OPS - {Op.LOGICAL_AND, Op.LOGICAL_OR}, key=str):
        node(op, [v, u])
    node(Op.LOGICAL_AND, [mask, mask])
    node(Op.LOGICAL_OR, [mask, node(Op.LESS, [v, u])])
    for op in sorted(COMPARE_OPS - {Op.LESS}, key=str):
        node(op, [v, u])
    node(Op.SELECT, [mask, v, u])
    node(Op.CAST, [v], CastAttrs(DType.int8))
    node(Op.REDUCE_SUM, [v], ReduceAttrs((0, 1)))
    node(Op.REDUCE_MAX, [v], ReduceAttrs((1,), keepdims=True))
    node(Op.REDUCE_MIN, [img], ReduceAttrs((1, 2)))
    node(Op.REDUCE_MEAN, [v], ReduceAttrs(()))
    node(Op.ARGMAX, [v], ArgReduceAttrs(1))
    node(Op.ARGMIN, [img], ArgReduceAttrs(3, keepdims=True))
    node(Op.MATMUL, [v, w])
    # A kernel over the inline limit: only full_constants=True prints it parseably.
    kernel = g.add_constant(rng.standard_normal((3, 3, 1, 4)).astype(np.float32), name="kernel")
    node(Op.CONV, [img, kernel], ConvAttrs(strides=(2, 1), padding=((1, 1), (0, 2)), dilation=(1, 2),
                                         lhs_dilation=(1, 1), groups=2))
    node(Op.CONV, [img, kernel], ConvAttrs(strides=(1, 1), padding=((2, 2), (2, 2)), dilation=(1, 1),
                                         lhs_dilation=(2, 2), groups=2))
    node(Op.POOL, [img], PoolAttrs(PoolKind.MAX, window=(2, 2), strides=(2, 2), padding=((0, 1), (0, 1))))
    pooled = node(Op.POOL, [img], PoolAttrs(PoolKind.AVG, window=(3, 3), strides=(1, 1),
                                            padding=((1, 1), (1, 1))))
    node(Op.POOL_GRAD, [img, pooled], PoolAttrs(PoolKind.AVG, window=(3, 3), strides=(1, 1),
                                                padding=((1, 1), (1, 1))))
    maxed = node(Op.POOL, [img], PoolAttrs(PoolKind.MAX, window=(3, 2), strides=(2, 1),
                                           padding=((1, 1), (0, 1))))
    node(Op.POOL_GRAD, [img, maxed], PoolAttrs(PoolKind.MAX, window=(3, 2), strides=(2, 1),
                                               padding=((1, 1), (0, 1))))
    node(Op.RESHAPE, [v], ReshapeAttrs((2, BATCH, 2)))
    node(Op.TRANSPOSE, [img], TransposeAttrs((0, 2, 1, 3)))
    row = g.add_constant(np.array([1.5, -0.0, np.inf, 1e-30], np.float32), name="row")
    node(Op.BROADCAST_TO, [row], BroadcastAttrs((BATCH, 4)))
    node(Op.SLICE, [v], SliceAttrs(starts=(0, 3), stops=(None, None), steps=(1, -2)))
    node(Op.SLICE, [img], SliceAttrs(starts=(0, 1, 4, 0), stops=(None, 5, 0, 2), steps=(1, 2, -1, 1)))
    node(Op.CONCAT, [v, u, v], ConcatAttrs(1))
    node(Op.PAD, [v], PadAttrs(((0, 0), (1, 2)), value=-1.5))
    node(Op.PAD, [v], PadAttrs(((0, 0), (0, 1)), value=float("-inf")))
    node(Op.PAD, [v], PadAttrs(((0, 0), (3, 0)), value=0))             # an int value stays an int
    node(Op.GATHER, [v, idx], GatherAttrs(1))
    node(Op.SCATTER_ADD, [node(Op.GATHER, [v, idx], GatherAttrs(1)), idx], ScatterAddAttrs(1, 4))
    node(Op.GATHER, [v, g.add_constant(np.array(2, np.int64), name="scalar_index")], GatherAttrs(1))
    node(Op.ADD, [g.add_constant(np.array([[1, -2], [3, 2**40]], np.int64), name="big_ints"),
                  g.add_constant(np.array(7, np.int64), name="seven")])
    node(Op.LOGICAL_OR, [g.add_constant(rng.random((5, 4)) < 0.5, name="bits"),
                         g.add_constant(np.array([True, False, True, False]), name="few_bits")])
    node(Op.MUL, [g.add_constant(rng.standard_normal((5, 4)).astype(np.float16), name="halfs"),
                  g.add_constant(np.array([0.1, 65504, -6e-8, np.nan], np.float16), name="halfs_inline")])
    node(Op.SUB, [g.add_constant(np.array([0.1, 1 / 3, 1e300, -5e-324], np.float64), name="f64"),
                  g.add_constant(np.zeros((2, 4)), name="zeros")])
    node(Op.NEG, [g.add_constant(np.zeros((0, 3), np.int8), name="empty")])
    node(Op.RANDOM_UNIFORM, [g.add_constant(np.array([7, 3], np.int64), name="key")],
         RandomAttrs((BATCH, 4), F32, stream=2))
    # A region: scan's body prints as a nested block (tests/ir/test_regions.py has more).
    step = Graph("step")
    carry = step.add_input(TensorType(F32, (BATCH, 4)), "h")
    x_t = step.add_input(TensorType(F32, (BATCH, 4)), "x_t")
    h2 = step.add_node(Op.TANH, [step.add_node(Op.ADD, [carry, x_t]).output]).output
    step.set_outputs([h2, h2])
    seq = node(Op.RESHAPE, [node(Op.CONCAT, [v, u], ConcatAttrs(1))], ReshapeAttrs((BATCH, 2, 4)))
    g.add_node(Op.SCAN, [v, seq], ScanAttrs(step, 1, 1, 0, reverse=True))
    # A fusion group is a region too: its body is the elementwise chain it computes.
    group = Graph("group")
    a = group.add_input(TensorType(F32, (BATCH, 4)), "a")
    c = group.add_input(TensorType(F32, (BATCH, 4)), "c")
    group.set_outputs([group.add_node(Op.SIGMOID, [group.add_node(Op.MUL, [a, c]).output]).output])
    node(Op.FUSED, [v, u], FusedAttrs(group, FusionKind.ELEMENTWISE))
    g.add_update(w, node(Op.MATMUL, [w, w]))
    g.set_outputs(outs)
    return g


def random_feed(g: Graph, batch: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for v in g.inputs:
        shape = tuple(batch if not isinstance(d, int) else d for d in v.shape)
        if v.dtype is DType.bool:
            out.append(rng.random(shape) < 0.5)
        elif v.dtype.is_integer:
            out.append(rng.integers(-1, 6, shape).astype(v.dtype.numpy))
        else:
            out.append(rng.uniform(0.5, 2.0, shape).astype(v.dtype.numpy))
    return out


def test_every_op_graph_uses_every_registered_op():
    # When an op is added, this test asks for it to be added to every_op_graph too.
    used = {n.op for n in every_op_graph()}
    assert set(registered_ops()) - used == set()
    verify(every_op_graph())


def test_round_trip_every_op_with_full_constants():
    g = every_op_graph()
    text = print_graph(g, full_constants=True)
    assert "hex:" in text and "N" in text
    h = parse_graph(text)
    verify(h)
    assert print_graph(h, full_constants=True) == text
    assert print_graph(h) == print_graph(g)
    # Constants come back bit for bit (the hex ones and the inline ones).
    for a, b in zip(g.nodes, h.nodes):
        if a.op is Op.FUSED:     # groups compare by body identity (no CSE merging): compare text
            assert b.op is Op.FUSED and a.attrs.kind is b.attrs.kind
            assert print_graph(a.attrs.body, full_constants=True) == print_graph(b.attrs.body,
                                                                                 full_constants=True)
        else:
            assert a.op is b.op and a.attrs == b.attrs
        assert [v.name for v in a.outputs] == [v.name for v in b.outputs]
    assert [p.binding for p in h.params] == [None]


def test_round_trip_every_op_means_the_same():
    g = every_op_graph()
    h = parse_graph(print_graph(g, full_constants=True))
    params = {p.name: p.binding.numpy() for p in g.params}
    for batch in (1, 3):
        feed = random_feed(g, batch)
        with np.errstate(all="ignore"):
            want = interpret(g, feed)
            got = interpret(h, feed, params=params)
        for i, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_array_equal(a, b, err_msg=f"output {i} ({g.outputs[i].name})")


def test_default_print_of_a_large_constant_is_a_digest():
    text = print_graph(every_op_graph())
    line = next(ln for ln in text.splitlines() if ln.lstrip().startswith("%kernel ="))
    assert line.startswith("  %kernel = constant() {value=<") and line.endswith(">} : f32[3,3,1,4]")
    with pytest.raises(ParseError, match=r"line \d+, column \d+: constant value <[0-9a-f]{12}> is a "
                                         r"digest, not data: print the graph with "
                                         r"print_graph\(\.\.\., full_constants=True\)"):
        parse_graph(text)


def test_full_constants_prints_little_endian_hex():
    g = Graph("c")
    g.set_outputs([g.add_constant(np.arange(17, dtype=np.int32))])
    text = print_graph(g, full_constants=True)
    assert "{value=hex:00000000" "01000000" "02000000" in text
    blob = text.split("hex:")[1].split("}")[0]
    assert np.frombuffer(bytes.fromhex(blob), "<i4").tolist() == list(range(17))


def test_round_trip_without_inputs_or_outputs():
    g = Graph("empty")
    g.set_outputs([])
    assert print_graph(parse_graph(print_graph(g))) == print_graph(g) == "graph @empty() {\n  return \n}"


@pytest.mark.parametrize("name", ["a b", 'quote"d', "x,y", "ünï", "%x", "", "return", "0"])
def test_round_trip_of_unusual_names(name):
    g = Graph(name)
    x = g.add_input(TensorType(F32, (2,)), name)
    p = g.add_param(TensorType(F32, (2,)), name + "/p")
    g.set_outputs([g.add_node(Op.ADD, [x, p], name=name + ":add").output])
    text = print_graph(g)
    h = parse_graph(text)
    assert print_graph(h) == text
    assert [v.name for v in h.values()] == [v.name for v in g.values()]
    assert h.name == name


def test_print_ignores_numpy_print_options():
    text = print_graph(every_op_graph())
    with np.printoptions(precision=2, nanstr="NaN", infstr="Inf", sign="+", suppress=True, linewidth=20):
        assert print_graph(every_op_graph()) == text


def test_numpy_scalar_attributes_print_as_numbers():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    g.set_outputs([g.add_node(Op.PAD, [x], PadAttrs(((1, 0),), value=np.float64(0.25))).output])
    assert "{pads=[[1,0]], value=0.25}" in print_graph(g)


def test_comments_and_blank_lines_are_skipped():
    text = "// a golden file\n\n" + GOLDEN.replace("  return", "  // the end\n  return")
    assert print_graph(parse_graph(text)) == GOLDEN


# -- parse errors -----------------------------------------------------------
HEAD = "graph @g(%x: f32[N,4]) {\n"
TAIL = "  return %x\n}"


@pytest.mark.parametrize("text, message", [
    ("", r"line 1: expected 'graph @name\(\.\.\.\) \{', found an empty text"),
    ("grph @g() {\n" + TAIL, r"line 1, column 1: expected 'graph @name\(\.\.\.\) \{', found 'grph"),
    ("graph g() {\n" + TAIL, r"line 1, column 7: expected a graph name \('@name'\), found 'g\(\) \{'"),
    ("graph @g(%x f32[4]) {\n" + TAIL, r"line 1, column 13: expected ':' before the input type"),
    ("graph @g(%x: f33[4]) {\n" + TAIL, r"line 1, column 14: expected a dtype \(f16, f32, f64, i8, u8, i32, "
                                        r"i64, bool\), found 'f33'"),
    ("graph @g(%x: f32[4) {\n" + TAIL, r"line 1, column 19: expected ',' or '\]' in the shape"),
    ("graph @g(%x: f32[4], %x: f32[4]) {\n" + TAIL, r"line 1, column 22: value %x is defined twice"),
    (HEAD + "  %y = frobnicate(%x) : f32[N,4]\n" + TAIL, r"line 2, column 8: expected an op name, found "
                                                     r"unknown op 'frobnicate'"),
    (HEAD + "  %y = neg(%z) : f32[N,4]\n" + TAIL, r"line 2, column 12: %z in neg operands is not defined "
                                              r"\(values must be defined above their use\)"),
    (HEAD + "  %y = neg(%x) : f32[N,5]\n" + TAIL, r"line 2, column 18: declared result type\(s\) f32\[N,5\] "
                                              r"but neg infers f32\[N,4\]"),
    (HEAD + "  %y = neg(%x)\n" + TAIL, r"line 2, column 15: expected ':' before the result types, "
                                       r"found end of line"),
    (HEAD + "  %y = neg(%x) : f32[N,4]\n  %y = exp(%x) : f32[N,4]\n" + TAIL,
     r"line 3, column 3: value %y is defined twice"),
    (HEAD + "  %y = add(%x) : f32[N,4]\n" + TAIL, r"line 2, column 8: invalid add: add: expected 2 "
                                              r"operand\(s\), received 1"),
    (HEAD + "  %y = neg(%x) {axes=[1]} : f32[N,4]\n" + TAIL, r"line 2, column 16: expected no attributes "
                                                         r"for neg, found axes"),
    (HEAD + "  %y = reduce_sum(%x) {axis=[1], keepdims=false} : f32[N]\n" + TAIL,
     r"line 2, column 23: expected attributes \{axes, keepdims\} for reduce_sum, found \{axis, keepdims\}"),
    (HEAD + "  %y = pool(%x) {kind=median, window=[2], strides=[1], padding=[[0,0]]} : f32[N,4]\n" + TAIL,
     r"line 2, column 23: attribute kind of pool: expected one of max, avg, found 'median'"),
    (HEAD + "  %y = cast(%x) {dtype=f128} : f32[N,4]\n" + TAIL,
     r"line 2, column 24: attribute dtype of cast: expected one of f16, .*found 'f128'"),
    (HEAD + "  %y = reduce_sum(%x) {axes=[1 2], keepdims=false} : f32[N]\n" + TAIL,
     r"line 2, column 32: expected ',' or '\]' in the list, found '2\], keepdims"),
    (HEAD + "  %c = constant() {value=[1,2]} : f32[3]\n" + TAIL,
     r"line 2, column 26: expected 3 value\(s\) for f32\[3\], found 2"),
    (HEAD + "  %c = constant() {value=[1.5,2]} : i32[2]\n" + TAIL,
     r"line 2, column 26: expected 2 value\(s\) of dtype i32, found \[1\.5,2\]"),
    (HEAD + "  %c = constant() {value=[1,x]} : f32[2]\n" + TAIL,
     r"line 2, column 26: expected 2 value\(s\) of dtype f32, found \[1,x\]"),
    (HEAD + "  %c = constant() {value=[[1],[2]]} : f32[2]\n" + TAIL,
     r"line 2, column 26: expected a flat \[list\] of values, hex:\.\.\. or <digest> for the constant, "
     r"found \[\[1\],\[2\]\]"),
    (HEAD + "  %c = constant() {value=[True,2]} : bool[2]\n" + TAIL,
     r"line 2, column 26: expected 2 value\(s\) of dtype bool, found \[True,2\]"),
    (HEAD + "  %c = constant() {value=[300]} : u8[1]\n" + TAIL,
     r"line 2, column 26: expected 1 value\(s\) of dtype u8, found \[300\]"),
    (HEAD + "  %y = pad(%x) {pads=[[0,0],[1,-1]], value=0.0} : f32[N,4]\n" + TAIL,
     r"line 2, column 8: invalid pad: pad\(f32\[N,4\]\): pad needs non-negative"),
    (HEAD + "  %c = constant() {value=hex:0000} : f32[2]\n" + TAIL,
     r"line 2, column 26: expected 16 hex digits for f32\[2\], found 4"),
    (HEAD + "  %c = constant() {value=[1]} : f32[N]\n" + TAIL,
     r"line 2, column 26: a constant needs a static shape, found f32\[N\]"),
    (HEAD + "  %c = constant() {value=[1], extra=2} : f32[1]\n" + TAIL,
     r"line 2, column 19: expected \{value=\.\.\.\} for constant, found \{value, extra\}"),
    (HEAD + "  return %x\n", r"line 2: expected 'return \.\.\.' and '\}' closing the graph"),
    (HEAD + "  %y = neg(%x) : f32[N,4]\n}", r"line 3, column 1: expected 'return \.\.\.' before the closing"),
    (HEAD + "  return %x, %nope\n}", r"line 2, column 14: %nope in return is not defined"),
    (HEAD + TAIL + "\nextra", r"line 4: expected end of text after the closing '\}'"),
    (HEAD + "  return %x\n  return %x\n}", r"line 3, column 3: expected '\}' closing the graph"),
    (HEAD + "  %y = neg(%x) : f32[N,4] junk\n" + TAIL, r"line 2, column 27: expected end of line, found 'junk'"),
])
def test_parse_errors_name_the_line_and_what_was_expected(text, message):
    with pytest.raises(ParseError, match=message):
        parse_graph(text)


def test_parse_error_carries_line_and_column():
    with pytest.raises(ParseError) as info:
        parse_graph(HEAD + "  %y = neg(%z) : f32[N,4]\n" + TAIL)
    assert (info.value.line, info.value.column) == (2, 12)
    assert isinstance(info.value, ValueError)

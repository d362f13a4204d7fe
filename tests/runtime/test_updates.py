"""Graph state updates: compiled code writes new parameter values in place, after all reads."""
import numpy as np

from frontend.variables import Variable
from ir import DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import ReshapeAttrs
from runtime.executable import Executable


def test_updates_apply_after_every_read_and_match_the_interpreter():
    a = Variable(np.array([1.0, 2.0, 3.0], "float32"), name="a")
    b = Variable(np.array([10.0, 20.0, 30.0], "float32"), name="b")
    g = Graph("step")
    x = g.add_input(TensorType(DType.float32, (None, 3)), "x")
    pa = g.add_param(TensorType(DType.float32, (3,)), "a", a)
    pb = g.add_param(TensorType(DType.float32, (3,)), "b", b)
    y = g.add_node(Op.MUL, [x, pa]).output
    total = g.add_node(Op.ADD, [pa, pb]).output
    g.add_update(pa, pb)          # a <- b and b <- a: a swap, both must read old values
    g.add_update(pb, pa)
    g.set_outputs([y, total, pa])
    verify(g)
    xs = np.ones((4, 3), "float32")
    want, new = interpret(g, [xs], return_updates=True)
    got = Executable(g)(xs)
    for w, o in zip(want, got):
        np.testing.assert_array_equal(o, w)
    np.testing.assert_array_equal(got[2], [1, 2, 3])     # the output saw the old value
    np.testing.assert_array_equal(a.numpy(), new["a"])
    np.testing.assert_array_equal(b.numpy(), new["b"])
    np.testing.assert_array_equal(a.numpy(), [10, 20, 30])


def test_update_through_reshape_of_a_computed_value():
    w = Variable(np.arange(6, dtype="float32").reshape(2, 3), name="w")
    g = Graph("step")
    x = g.add_input(TensorType(DType.float32, (6,)), "x")
    pw = g.add_param(TensorType(DType.float32, (2, 3)), "w", w)
    flat = g.add_node(Op.RESHAPE, [pw], ReshapeAttrs((6,))).output
    new = g.add_node(Op.SUB, [flat, x]).output
    g.add_update(pw, g.add_node(Op.RESHAPE, [new], ReshapeAttrs((2, 3))).output)
    g.set_outputs([new])
    exe = Executable(verify(g))
    exe(np.ones(6, "float32"))
    exe(np.ones(6, "float32"))
    np.testing.assert_array_equal(w.numpy(), np.arange(6).reshape(2, 3) - 2)

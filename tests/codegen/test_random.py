"""RANDOM_UNIFORM: compiled bits equal the reference bits; values look uniform and independent."""
import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType, interpret
from ir.attrs import RandomAttrs
from runtime.executable import Executable


@pytest.mark.parametrize("dtype", [DType.float32, DType.float64])
def test_compiled_random_equals_reference_bit_for_bit(dtype):
    g = Graph("rng")
    x = g.add_input(TensorType(dtype, (None, 7)), "x")
    key = g.add_input(TensorType(DType.int64, (2,)), "key")
    r0 = g.add_node(Op.RANDOM_UNIFORM, [key], RandomAttrs((None, 7), dtype, stream=0)).output
    r1 = g.add_node(Op.RANDOM_UNIFORM, [key], RandomAttrs((None, 7), dtype, stream=1)).output
    g.set_outputs([g.add_node(Op.ADD, [x, r0]).output, r1])
    exe = Executable(g)
    for batch, k in [(1, [0, 0]), (129, [42, 7]), (5, [-3, 2 ** 40])]:
        xs = np.zeros((batch, 7), dtype.numpy)
        keys = np.array(k, np.int64)
        for got, want in zip(exe(xs, keys), interpret(g, [xs, keys])):
            np.testing.assert_array_equal(got, want)


def test_random_values_are_uniform_and_streams_independent():
    g = Graph("rng")
    key = g.add_input(TensorType(DType.int64, (2,)), "key")
    outs = [g.add_node(Op.RANDOM_UNIFORM, [key], RandomAttrs((100000,), DType.float32, s)).output
            for s in (0, 1)]
    g.set_outputs(outs)
    exe = Executable(g)
    a, b = exe(np.array([1, 0], np.int64))
    a2, _ = exe(np.array([1, 1], np.int64))
    assert 0.0 <= a.min() and a.max() < 1.0
    assert abs(a.mean() - 0.5) < 0.005 and abs(a.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01 and abs(np.corrcoef(a, a2)[0, 1]) < 0.01
    np.testing.assert_array_equal(exe(np.array([1, 0], np.int64))[0], a)   # reproducible

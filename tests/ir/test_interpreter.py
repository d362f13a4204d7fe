"""The reference interpreter: input checking, symbolic sizes, parameters, and one
graph worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret
from ir.attrs import ReduceAttrs, ReshapeAttrs

F32 = DType.float32


class Binding:
    def __init__(self, array: np.ndarray):
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array


def dense_graph(w: np.ndarray | None = None) -> Graph:
    """A dense layer without activation, summed per row: (sum(x @ w + b, axis=1), x @ w)."""
    g = Graph("dense")
    x = g.add_input(TensorType(F32, (BATCH, 2)), "x")
    wv = g.add_param(TensorType(F32, (2, 3)), "w", None if w is None else Binding(w))
    b = g.add_constant(np.array([1, 0, -1], np.float32), name="b")
    mm = g.add_node(Op.MATMUL, [x, wv])
    y = g.add_node(Op.ADD, [mm.output, b])
    s = g.add_node(Op.REDUCE_SUM, [y.output], ReduceAttrs((1,)))
    g.set_outputs([s.output, mm.output])
    return g


W = np.array([[1, 2, 3], [4, 5, 6]], np.float32)


def test_small_graph_computed_by_hand():
    x = np.array([[1, 0], [0, 1], [2, -1]], np.float32)
    s, mm = interpret(dense_graph(W), [x])
    # x @ w rows: [1,2,3], [4,5,6], [2-4, 4-5, 6-6] = [-2,-1,0]; + b = [2,2,2], [5,5,5], [-1,-1,-1]
    np.testing.assert_array_equal(mm, [[1, 2, 3], [4, 5, 6], [-2, -1, 0]])
    np.testing.assert_array_equal(s, [6, 15, -3])
    assert s.dtype == np.float32 and s.shape == (3,)


def test_inputs_by_name():
    x = np.ones((1, 2), np.float32)
    assert interpret(dense_graph(W), {"x": x})[0].tolist() == [5 + 7 + 9]


def test_params_override_the_binding():
    x = np.ones((1, 2), np.float32)
    s, _ = interpret(dense_graph(W), [x], params={"w": np.zeros((2, 3), np.float32)})
    assert s.tolist() == [0.0]                    # only the bias: 1 + 0 - 1
    assert W[0, 0] == 1                           # the bound array is not touched


def test_params_override_that_is_not_an_array():
    # Checked like an array (a clear type error), not an AttributeError on list.dtype.
    with pytest.raises(ValueError, match=r"param %w: expected f32\[2,3\], received int64\[2, 3\]"):
        interpret(dense_graph(), [np.ones((1, 2), np.float32)], params={"w": [[1, 1, 1], [0, 0, 0]]})
    s, _ = interpret(dense_graph(), [np.ones((1, 2), np.float32)],
                     params={"w": np.array([[1, 1, 1], [0, 0, 0]], np.float32)})
    assert s.tolist() == [3.0]


def test_unbound_param_without_a_value():
    with pytest.raises(ValueError, match=r"param %w has no binding and no value was given"):
        interpret(dense_graph(), [np.ones((1, 2), np.float32)])


def test_param_of_the_wrong_type():
    with pytest.raises(ValueError, match=r"param %w: expected f32\[2,3\], received float64\[2, 3\]"):
        interpret(dense_graph(), [np.ones((1, 2), np.float32)], params={"w": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"param %w: expected f32\[2,3\], received float32\[3, 2\]"):
        interpret(dense_graph(W.T.copy()), [np.ones((1, 2), np.float32)])


def test_wrong_number_of_inputs():
    with pytest.raises(ValueError, match=r"graph @dense expects 1 inputs, received 2"):
        interpret(dense_graph(W), [np.ones((1, 2), np.float32)] * 2)


def test_missing_named_input():
    with pytest.raises(ValueError, match=r"missing inputs: x"):
        interpret(dense_graph(W), {"y": np.ones((1, 2), np.float32)})


def test_input_of_the_wrong_dtype():
    with pytest.raises(TypeError, match=r"input %x: expected dtype float32, received float64"):
        interpret(dense_graph(W), [np.ones((1, 2))])


def test_input_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"input %x: expected shape \(None, 2\), received shape \(4, 3\)"):
        interpret(dense_graph(W), [np.ones((4, 3), np.float32)])
    with pytest.raises(ValueError, match=r"input %x: expected shape \(None, 2\) \(rank 2\), "
                                         r"received shape \(2,\) \(rank 1\)"):
        interpret(dense_graph(W), [np.ones((2,), np.float32)])


def two_batched_inputs() -> Graph:
    g = Graph()
    a = g.add_input(TensorType(F32, (BATCH, 2)), "a")
    b = g.add_input(TensorType(F32, (BATCH, 2)), "b")
    g.set_outputs([g.add_node(Op.MUL, [a, b]).output])
    return g


def test_symbolic_batch_binds_once_per_run():
    g = two_batched_inputs()
    for n in (1, 4):
        out, = interpret(g, [np.full((n, 2), 2, np.float32), np.full((n, 2), 3, np.float32)])
        assert out.shape == (n, 2) and (out == 6).all()


def test_symbolic_batch_inconsistent_between_inputs():
    with pytest.raises(ValueError, match=r"input %b: dimension N is 3 here but 2 elsewhere"):
        interpret(two_batched_inputs(), [np.ones((2, 2), np.float32), np.ones((3, 2), np.float32)])


def test_symbolic_reshape_target_takes_the_run_time_size():
    g = Graph()
    x = g.add_input(TensorType(F32, (BATCH, 2, 3)), "x")
    g.set_outputs([g.add_node(Op.RESHAPE, [x], ReshapeAttrs((BATCH, 6))).output])
    x_val = np.arange(30, dtype=np.float32).reshape(5, 2, 3)
    out, = interpret(g, [x_val])
    np.testing.assert_array_equal(out, x_val.reshape(5, 6))


def test_graph_outputs_may_be_inputs_and_params():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    w = g.add_param(TensorType(F32, (2,)), "w")
    g.set_outputs([w, x, x])
    xv = np.array([1, 2], np.float32)
    out = interpret(g, [xv], params={"w": np.zeros(2, np.float32)})
    assert [o.tolist() for o in out] == [[0, 0], [1, 2], [1, 2]]

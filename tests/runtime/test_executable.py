"""The runtime's contract: inputs checked, weights bound live, arenas reused per batch size."""
import numpy as np
import pytest

from frontend.variables import Variable
from ir import DType, Graph, Op, TensorType
from runtime.executable import Executable
from runtime.progbar import Progbar


def _dense_graph(var: Variable) -> Graph:
    g = Graph("dense")
    x = g.add_input(TensorType(DType.float32, (None, 3)), "x")
    w = g.add_param(TensorType(DType.float32, (3, 2)), "w", binding=var)
    h = g.add_node(Op.MATMUL, [x, w]).output
    y = g.add_node(Op.TANH, [h]).output
    g.set_outputs([y, h])
    return g


def test_parameters_are_read_in_place_and_arenas_cached():
    var = Variable(np.ones((3, 2), "float32"), name="w")
    exe = Executable(_dense_graph(var))
    x = np.arange(6, dtype="float32").reshape(2, 3)
    y, h = exe(x)
    np.testing.assert_allclose(h, x @ var.numpy(), rtol=1e-6)
    var.assign(np.full((3, 2), 2.0, "float32"))
    _, h2 = exe(x)
    np.testing.assert_allclose(h2, 2 * h, rtol=1e-6)
    exe(np.zeros((5, 3), "float32"))
    exe(x)
    assert len(exe._arenas) == 2        # one arena per batch size seen, reused


def test_input_errors_say_what_was_expected():
    exe = Executable(_dense_graph(Variable(np.ones((3, 2), "float32"), name="w")))
    with pytest.raises(TypeError, match=r"input 'x': expected dtype float32, received float64"):
        exe(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"input 'x': expected shape \(None, 3\)"):
        exe(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="expected 1 input"):
        exe()


def test_parameter_replaced_by_wrong_shape_is_rejected():
    var = Variable(np.ones((3, 2), "float32"), name="w")
    exe = Executable(_dense_graph(var))
    var._array = np.ones((2, 2), "float32")
    with pytest.raises(ValueError, match=r"parameter 'w': expected a contiguous f32\[3,2\] array"):
        exe(np.zeros((1, 3), "float32"))


def test_progbar_prints_one_final_line_when_not_a_terminal(capsys):
    bar = Progbar(3, verbose=1)
    for i in range(1, 4):
        bar.update(i)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("3/3 ━━━━━━━━━━━━━━━━━━━━ ") and "/step" in out
    silent = Progbar(2, verbose=0)
    silent.update(2)
    assert capsys.readouterr().out == ""

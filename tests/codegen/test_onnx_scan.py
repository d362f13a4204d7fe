"""ONNX export of scan (ONNX ``Scan``, batch-major axes, reversed directions) run in ONNX
Runtime against the interpreter, and a model with a loop and a symbolic length against
Horn's compiled predict."""
from __future__ import annotations

import os

import numpy as np
import pytest

from codegen.onnx import graph_to_onnx
from ir import interpret
from tests.codegen.onnx_harness import assert_same, run, session
from tests.codegen.test_loop import _inputs
from tests.ir.test_regions import nested_graph
from tests.ir.test_scan import counter_graph, rnn_graph


@pytest.mark.parametrize("make", [lambda: rnn_graph(reverse=False), lambda: rnn_graph(reverse=True),
                                  lambda: rnn_graph(length=4), counter_graph, nested_graph],
                         ids=["forward", "reverse", "static_t", "int_carry_bool_seq", "nested"])
def test_scan_graph_runs_in_onnxruntime(make):
    g = make()
    sess = session(graph_to_onnx(g))
    static_t = g.inputs[1].shape[1]
    for batch, length in ((1, 1), (3, 5), (2, 13)):
        length = static_t if isinstance(static_t, int) else length
        ins = _inputs(g, batch, length)
        assert_same(run(sess, ins), interpret(g, ins), rtol=1e-5, atol=1e-5)


def test_model_with_a_loop_and_a_symbolic_length(tmp_path):
    import horn
    from tests.frontend.test_scan import _TinyRNN

    model = horn.models.Sequential([horn.layers.Input((None,), dtype="int32"),
                                    horn.layers.Embedding(20, 3), _TinyRNN(4, go_backwards=True),
                                    horn.layers.Dense(2)])
    path = os.path.join(tmp_path, "rnn.onnx")
    model.export(path, format="onnx")
    sess = session(path)
    rng = np.random.default_rng(0)
    for length in (1, 9):
        x = rng.integers(0, 20, (3, length)).astype("int32")
        assert_same(run(sess, [x]), [model.predict(x, verbose=0)], rtol=1e-5, atol=1e-5)

"""Hoisting weight-only computations into a prologue that reruns once per weight version."""
from __future__ import annotations

import numpy as np

import horn as keras
from frontend.variables import Variable
from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import ReshapeAttrs, TransposeAttrs
from runtime import versions
from runtime.executable import Executable
from runtime.hoist import HoistedBinding, split_weight_only
from tests.passes.helpers import ArrayBinding

F32 = DType.float32


def weight_graph(w: Variable, b, *, update: bool = False) -> Graph:
    """y = x @ transpose(w * 2) + reshape(b); the transposed, doubled weight is weight-only."""
    g = Graph("hoist")
    x = g.add_input(TensorType(F32, (BATCH, 3)), "x")
    wp = g.add_param(TensorType(F32, (4, 3)), "w", w)
    bp = g.add_param(TensorType(F32, (4,)), "b", b)
    two = g.add_constant(np.float32(2.0))
    wt = g.add_node(Op.TRANSPOSE, [g.add_node(Op.MUL, [wp, two]).output], TransposeAttrs((1, 0))).output
    h = g.add_node(Op.MATMUL, [x, wt]).output
    rb = g.add_node(Op.RESHAPE, [bp], ReshapeAttrs((1, 4))).output
    g.set_outputs([g.add_node(Op.ADD, [h, rb]).output])
    if update:
        g.add_update(wp, g.add_node(Op.NEG, [wp]).output)
    return g


def variables():
    rng = np.random.default_rng(0)
    return (Variable(rng.standard_normal((4, 3)).astype(np.float32), name="w"),
            Variable(rng.standard_normal(4).astype(np.float32), name="b"))


def test_split_structure():
    w, b = variables()
    split = split_weight_only(weight_graph(w, b))
    assert split is not None
    verify(split.prologue)
    verify(split.main)
    assert [n.op for n in split.prologue.nodes] == [Op.CONSTANT, Op.MUL, Op.TRANSPOSE]
    assert [n.op for n in split.main.nodes] == [Op.MATMUL, Op.RESHAPE, Op.ADD]
    # b stays a plain parameter of main (its reshape is free); the hoisted weight is a new one.
    assert [p.name for p in split.main.params] == ["b", "transpose.hoisted"]
    assert isinstance(split.main.params[1].binding, HoistedBinding)
    assert [p.binding for p in split.sources] == [w]


def test_nothing_hoisted_for_updated_or_unversioned_params():
    w, b = variables()
    assert split_weight_only(weight_graph(w, b, update=True)) is None
    plain = ArrayBinding(w.numpy().copy())
    assert split_weight_only(weight_graph(plain, b)) is None


def test_prologue_runs_once_per_weight_version():
    w, b = variables()
    g = weight_graph(w, b)
    exe = Executable(g, hoist=True)
    assert exe.hoisted_count == 1 and exe.kernel_count == 2
    runs = []
    prologue = exe._prologue
    exe._prologue = type("Counting", (), {"__call__": lambda self: runs.append(1) or prologue()})()
    for batch in (1, 7, 13, 1):
        x = np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)
        np.testing.assert_allclose(exe(x)[0], interpret(g, [x])[0], rtol=1e-5, atol=1e-6)
    assert len(runs) == 1
    versions.bump()                      # another weight changed: versions compared, no rerun
    exe(x)
    assert len(runs) == 1
    w.assign(w.numpy() * 3)
    np.testing.assert_allclose(exe(x)[0], interpret(g, [x])[0], rtol=1e-5, atol=1e-6)
    assert len(runs) == 2
    b.assign(b.numpy() + 1)              # b is not behind the prologue: read live, no rerun
    np.testing.assert_allclose(exe(x)[0], interpret(g, [x])[0], rtol=1e-5, atol=1e-6)
    assert len(runs) == 2


def test_predict_fit_predict_sees_new_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    y = rng.integers(0, 4, (6,)).astype(np.int32)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
                              keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.predict_on_batch(x)
    exe = next(iter(model._executables.values()))
    assert exe.hoisted_count > 0          # the folded BatchNorm scale and shift
    model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    after = model.predict_on_batch(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, interpret(exe.graph, [x])[0], rtol=1e-5, atol=1e-6)
    with keras.config.optimization_level(0):        # no passes, no prologue: the same numbers
        np.testing.assert_allclose(model.predict_on_batch(x), after, rtol=1e-5, atol=1e-6)

"""BatchNorm folding: structure, interpreter equivalence, verifier, and what is left alone."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import ConvAttrs, ReshapeAttrs
from passes.dce import dce
from passes.fold_batchnorm import fold_batchnorm
from passes.pass_manager import DISABLE_ENV
from tests.passes.helpers import add_random_param, random_inputs

F32 = DType.float32


def _bn(g: Graph, h, channels: int, rank: int, seed: int = 10):
    """The inference BatchNorm chain the frontend emits (see frontend/layers/normalization.py)."""
    shape = (1,) * (rank - 1) + (channels,)
    gamma, beta, mean, var = (add_random_param(g, n, (channels,), seed=seed + i)
                              for i, n in enumerate(("gamma", "beta", "mean", "var")))
    var.binding.array = np.abs(var.binding.array) + 0.5
    r = [g.add_node(Op.RESHAPE, [p], ReshapeAttrs(shape)).output for p in (gamma, beta, mean, var)]
    inv = g.add_node(Op.DIV, [g.add_constant(1.0, F32), g.add_node(
        Op.SQRT, [g.add_node(Op.ADD, [r[3], g.add_constant(1e-3, F32)]).output]).output]).output
    inv = g.add_node(Op.MUL, [inv, r[0]], name="inv").output
    res = g.add_node(Op.ADD, [g.add_node(Op.MUL, [g.add_node(Op.NEG, [r[2]]).output, inv]).output, r[1]]).output
    return g.add_node(Op.ADD, [g.add_node(Op.MUL, [h, inv], name="bn_mul").output, res], name="bn_out").output


def _conv_bn(bias: bool = True) -> Graph:
    g = Graph("conv_bn")
    x = g.add_input(TensorType(F32, (BATCH, 7, 5, 3)), "x")
    k = add_random_param(g, "kernel", (3, 3, 3, 4), seed=1)
    h = g.add_node(Op.CONV, [x, k], ConvAttrs((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1)), "conv").output
    if bias:
        h = g.add_node(Op.ADD, [h, add_random_param(g, "bias", (4,), seed=2)], name="bias_add").output
    h = _bn(g, h, 4, 4)
    zero = g.add_constant(0.0, F32)
    g.set_outputs([g.add_node(Op.SELECT, [g.add_node(Op.GREATER, [h, zero]).output, h, zero]).output])
    return g


def _dense_bn(bias: bool) -> Graph:
    g = Graph("dense_bn")
    x = g.add_input(TensorType(F32, (BATCH, 13)), "x")
    w = add_random_param(g, "w", (13, 6), seed=1)
    h = g.add_node(Op.MATMUL, [x, w], name="dense").output
    if bias:
        h = g.add_node(Op.ADD, [add_random_param(g, "b", (6,), seed=2), h], name="bias_add").output
    g.set_outputs([_bn(g, h, 6, 2)])
    return g


def _fold(g: Graph) -> Graph:
    before = g.copy()[0]
    result = fold_batchnorm(g)
    assert result.changed
    out = dce(verify(result.graph)).graph
    verify(out)
    for batch in (1, 7):
        xs = random_inputs(before, batch)
        np.testing.assert_allclose(interpret(out, xs)[0], interpret(before, xs)[0], rtol=2e-5, atol=2e-5)
    return out


@pytest.mark.parametrize("bias", [True, False])
def test_conv_bn_folds_scale_into_the_kernel(bias):
    out = _fold(_conv_bn(bias))
    [conv] = [n for n in out.nodes if n.op is Op.CONV]
    w = conv.inputs[1].producer
    assert w.op is Op.MUL and w.inputs[0].name == "kernel"      # the kernel, scaled per channel
    assert not any(n.name == "bn_mul" for n in out.nodes)
    # What runs per call on the conv result: adds (bias, shift) and the activation.
    after = [n.op for n in out.nodes if n.inputs and any(v is conv.output for v in n.inputs)]
    assert after == [Op.ADD]


@pytest.mark.parametrize("bias", [True, False])
def test_dense_bn_folds(bias):
    out = _fold(_dense_bn(bias))
    [mm] = [n for n in out.nodes if n.op is Op.MATMUL]
    assert mm.inputs[1].producer.op is Op.MUL


def test_train_steps_and_input_dependent_scales_are_left_alone():
    g = _conv_bn()
    g.add_update(g.params[0], g.params[0])              # a graph with updates is a train step
    assert fold_batchnorm(g).changed is False

    g = Graph("dyn")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    s = g.add_input(TensorType(F32, (4,)), "s")         # a scale known only at run time
    w = add_random_param(g, "w", (4, 4))
    h = g.add_node(Op.MATMUL, [x, w]).output
    g.set_outputs([g.add_node(Op.MUL, [h, s]).output])
    assert fold_batchnorm(g).changed is False


def test_a_result_read_twice_or_scaled_per_row_is_left_alone():
    g = Graph("twice")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    w = add_random_param(g, "w", (4, 4))
    s = add_random_param(g, "s", (4,), seed=3)
    h = g.add_node(Op.MATMUL, [x, w]).output
    g.set_outputs([g.add_node(Op.MUL, [h, s]).output, h])
    assert fold_batchnorm(g).changed is False

    g = Graph("rows")
    x = g.add_input(TensorType(F32, (5, 4)), "x")
    w = add_random_param(g, "w", (4, 4))
    s = add_random_param(g, "s", (5, 1), seed=3)        # per row, not per channel
    g.set_outputs([g.add_node(Op.MUL, [g.add_node(Op.MATMUL, [x, w]).output, s]).output])
    assert fold_batchnorm(g).changed is False


def test_keras_conv_bn_model_predicts_the_same_with_folding(monkeypatch):
    import horn as keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(5),
                              keras.layers.BatchNormalization()])
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for w in layer.weights:
            a = w.numpy()
            a[...] = rng.uniform(0.2, 1.2, a.shape).astype(a.dtype)
    x = rng.uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    monkeypatch.setenv(DISABLE_ENV, "fold_batchnorm,fusion")
    structure, arrays = model._standardize_inputs(x)
    plain, _ = model._trace_graph(structure, model._signature(arrays), False)
    out = _fold(plain)
    assert sum(n.name.endswith("bn_folded") for n in out.nodes) == 2

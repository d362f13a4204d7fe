"""Kernel deduplication: structurally equal nodes share one LLVM function (codegen.cpu.dedup).

Structure: which kernels share a function and which must not (shape, dtype, attributes,
the same operand twice, in place or not, a fused body's constants and wiring).
Semantics: the compiled graph matches the interpreter with deduplication on and off.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from codegen.cpu.compiler import compile_graph
from codegen.cpu.dedup import kernel_key
from ir import BATCH, DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import ReduceAttrs
from passes.fusion import fusion
from runtime.executable import Executable
from tests.codegen.harness import random_array

F32, F64 = DType.float32, DType.float64


def _defines(ir: str) -> list[str]:
    return re.findall(r'^define internal void @"(k_[^".]+)"\(', ir, re.M)


def _check(g: Graph, batches=(1, 7, 128), seed=0) -> None:
    """Compiled (dedup on and off) against the interpreter at several batch sizes."""
    verify(g)
    rng = np.random.default_rng(seed)
    on = Executable(g)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HORN_DISABLE_PASSES", "kernel_dedup")
        off = Executable(g)
    assert off.module.distinct_kernels == off.module.kernel_count
    for n in batches:
        xs = [random_array(tuple(n if d is BATCH else d for d in v.shape), v.dtype, rng) for v in g.inputs]
        want = interpret(g, xs)
        for got in (on(*xs), off(*xs)):
            for w, y in zip(want, got):
                np.testing.assert_allclose(y, w, rtol=1e-5, atol=1e-6)


def _twin_adds() -> Graph:
    """Two adds on the same shapes (names differ), one on another shape, one of float64."""
    g = Graph("twins")
    a = g.add_input(TensorType(F32, (BATCH, 13)), "a")
    b = g.add_input(TensorType(F32, (BATCH, 13)), "b")
    c = g.add_input(TensorType(F32, (BATCH, 13)), "c")
    d = g.add_input(TensorType(F32, (BATCH, 7)), "d")
    e = g.add_input(TensorType(F64, (BATCH, 13)), "e")
    s1 = g.add_node(Op.ADD, [a, b], name="first").output
    s2 = g.add_node(Op.ADD, [c, s1], name="second").output
    s3 = g.add_node(Op.ADD, [d, d], name="other_shape").output
    s4 = g.add_node(Op.ADD, [e, e], name="other_dtype").output
    g.set_outputs([s1, s2, s3, s4])
    return g


def test_same_signature_shares_one_function_named_after_the_first_node():
    g = _twin_adds()
    m = compile_graph(g, inplace=False)
    assert m.kernel_count == 4 and m.distinct_kernels == 3
    assert _defines(m.llvm_ir) == ["k_first", "k_other_shape", "k_other_dtype"]
    assert len(re.findall(r'call void @"k_first"\(', m.llvm_ir)) == 2
    _check(g)


def test_switch_off_gives_one_function_per_kernel(monkeypatch):
    g = _twin_adds()
    assert compile_graph(g, inplace=False, dedup=False).distinct_kernels == 4
    monkeypatch.setenv("HORN_DISABLE_PASSES", "kernel_dedup")
    m = compile_graph(g, inplace=False)
    assert m.distinct_kernels == 4 and len(_defines(m.llvm_ir)) == 4


def test_key_ignores_names_but_sees_types_attrs_operand_identity_and_in_place():
    g = Graph("keys")
    x = g.add_input(TensorType(F32, (BATCH, 5)), "x")
    y = g.add_input(TensorType(F32, (BATCH, 5)), "y")
    n1 = g.add_node(Op.MUL, [x, y], name="p")
    n2 = g.add_node(Op.MUL, [y, x], name="q")
    sq = g.add_node(Op.MUL, [x, x], name="square")
    r0 = g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((0,), False))
    r1 = g.add_node(Op.REDUCE_SUM, [x], ReduceAttrs((1,), False))
    r1b = g.add_node(Op.REDUCE_SUM, [y], ReduceAttrs((1,), False), name="again")
    assert kernel_key(n1, None) == kernel_key(n2, None)
    assert kernel_key(n1, None) != kernel_key(sq, None)          # x * x reads one pointer twice
    assert kernel_key(n1, None) != kernel_key(n1, 0)             # in place: one argument fewer
    assert kernel_key(r0, None) != kernel_key(r1, None)
    assert kernel_key(r1, None) == kernel_key(r1b, None)


def _fused_pair(c1: float, c2: float) -> Graph:
    """Two elementwise chains of one structure, whose constants are c1 and c2."""
    g = Graph("chains")
    x = g.add_input(TensorType(F32, (BATCH, 31)), "x")
    y = g.add_input(TensorType(F32, (BATCH, 31)), "y")
    outs = []
    for v, c in ((x, c1), (y, c2)):
        h = g.add_node(Op.MUL, [v, g.add_constant(c, F32)]).output
        outs.append(g.add_node(Op.TANH, [g.add_node(Op.EXP, [h]).output]).output)
    g.set_outputs(outs)
    return fusion(g).graph


@pytest.mark.parametrize("c2,shared", [(0.5, True), (0.25, False)])
def test_fused_bodies_compared_by_structure_and_constants(c2, shared):
    g = _fused_pair(0.5, c2)
    fused = [n for n in g.nodes if n.op is Op.FUSED]
    assert len(fused) == 2 and fused[0].attrs.body is not fused[1].attrs.body
    assert (kernel_key(fused[0], None) == kernel_key(fused[1], None)) is shared
    m = compile_graph(g, inplace=False)
    assert m.distinct_kernels == (1 if shared else 2)
    _check(g)


def test_train_step_same_with_and_without_dedup(monkeypatch):
    """Two same-shaped Dense layers (Adam updates and gradients of equal shapes): the
    step deduplicated and not gives the same losses and weights."""
    import horn as k

    def run() -> tuple[list[float], list[np.ndarray], int, int]:
        k.utils.set_random_seed(0)
        model = k.Sequential([k.Input((16,)), k.layers.Dense(16, activation="tanh"),
                              k.layers.Dense(16, activation="tanh"), k.layers.Dense(3)])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((37, 16)).astype(np.float32), rng.integers(0, 3, 37)
        losses = [float(model.train_on_batch(x, y)[0]) for _ in range(3)]
        step = next(iter(model._train_steps.values())).executable
        return losses, [w.numpy() for w in model.weights], step.module.kernel_count, \
            step.module.distinct_kernels

    losses_on, weights_on, count, distinct = run()
    assert distinct < count
    monkeypatch.setenv("HORN_DISABLE_PASSES", "kernel_dedup")
    losses_off, weights_off, count_off, distinct_off = run()
    assert distinct_off == count_off == count
    np.testing.assert_allclose(losses_on, losses_off, rtol=1e-6)
    for a, b in zip(weights_on, weights_off):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("enabled", [True, False])
def test_compiling_leaves_the_garbage_collector_as_it_found_it(enabled):
    """compile_graph pauses the collector (ir/gc_pause.py) and restores the caller's setting."""
    import gc
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        compile_graph(_twin_adds())
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()

"""Half of a module compiled in a forked process (runtime/jit_split.py): the split is a
partition of the functions, both halves are valid modules, and graphs compiled split
(fused kernels, threaded kernels, a scan whose body is a function of the module) match
the interpreter; a failing child costs only the parallelism."""
from __future__ import annotations

import re

import llvmlite.binding as llvm
import numpy as np
import pytest

from codegen.cpu.compiler import compile_graph
from ir import BATCH, DType, Graph, Op, TensorType, interpret
from ir.attrs import TransposeAttrs
from runtime import jit_split
from runtime.executable import Executable

F32 = DType.float32


@pytest.fixture
def always_split(monkeypatch):
    monkeypatch.setattr(jit_split, "MIN_SPLIT_CHARS", 0)
    monkeypatch.setenv(jit_split.WORKERS_ENV, "2")
    calls = []
    original = jit_split.SideCompile.__init__

    def counting(self, *a, **kw):
        calls.append(1)
        original(self, *a, **kw)
    monkeypatch.setattr(jit_split.SideCompile, "__init__", counting)
    return calls


def _graph() -> Graph:
    g = Graph("split")
    x = g.add_input(TensorType(F32, (BATCH, 67)), "x")
    w = g.add_input(TensorType(F32, (67, 13)), "w")
    h = g.add_node(Op.MATMUL, [x, w]).output
    e = g.add_node(Op.EXP, [g.add_node(Op.NEG, [h]).output]).output
    s = g.add_node(Op.TANH, [h]).output
    t = g.add_node(Op.TRANSPOSE, [s], TransposeAttrs((1, 0))).output
    g.set_outputs([e, t])
    return g


def _defined(ir: str) -> set[str]:
    return set(re.findall(r'^define [^\n@]*@"([^"]+)"', ir, re.M))


def test_split_is_a_partition_into_valid_modules(monkeypatch):
    monkeypatch.setattr(jit_split, "MIN_SPLIT_CHARS", 0)
    ir = compile_graph(_graph()).llvm_ir
    first, second = jit_split.split(ir)
    a, b = _defined(first), _defined(second)
    assert a and b and not a & b and a | b == _defined(ir)
    assert "horn_forward" in a
    for text in (first, second):
        llvm.parse_assembly(text).verify()
        # Callable from the other half; only the shared GEMM stays internal (runtime.jit._link_shared).
        assert not re.search(r'^define internal [^\n@]*@"(?!horn\.gemm\.)', text, re.M)


def test_small_modules_are_not_split():
    g = Graph("small")
    x = g.add_input(TensorType(F32, (BATCH, 5)), "x")
    g.set_outputs([g.add_node(Op.TANH, [g.add_node(Op.EXP, [x]).output]).output])
    assert jit_split.split(compile_graph(g).llvm_ir) is None


def test_workers_setting(monkeypatch):
    monkeypatch.delenv(jit_split.WORKERS_ENV, raising=False)
    assert jit_split.workers() == 1                     # off by default (see the module's docstring)
    monkeypatch.setenv(jit_split.WORKERS_ENV, "1")
    assert jit_split.workers() == 1
    monkeypatch.setenv(jit_split.WORKERS_ENV, "zero")
    with pytest.raises(ValueError, match="HORN_JIT_WORKERS must be a positive integer"):
        jit_split.workers()


def _check(g: Graph, exe: Executable) -> None:
    rng = np.random.default_rng(0)
    for n in (1, 7, 130):
        xs = [rng.standard_normal(tuple(n if d is BATCH else d for d in v.shape)).astype(np.float32)
              for v in g.inputs]
        for got, want in zip(exe(*xs), interpret(g, xs)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_split_compile_matches_the_interpreter(always_split):
    g = _graph()
    exe = Executable(g)
    assert always_split, "the module was not split"
    _check(g, exe)


def test_failing_child_falls_back_to_compiling_here(always_split, monkeypatch):
    import os
    real = jit_split.compile_object
    parent = os.getpid()

    def child_fails(*a, **kw):
        if os.getpid() != parent:
            raise RuntimeError("simulated failure in the child")
        return real(*a, **kw)
    monkeypatch.setattr(jit_split, "compile_object", child_fails)
    g = _graph()
    exe = Executable(g)
    assert always_split
    _check(g, exe)


def test_train_step_split_matches_unsplit(always_split, monkeypatch):
    """A whole train step (fused kernels, threads, Adam) split and not: same losses."""
    import horn as k

    def run() -> list[float]:
        k.utils.set_random_seed(0)
        model = k.Sequential([k.Input((12, 12, 1)), k.layers.Conv2D(4, 3, activation="relu"),
                              k.layers.MaxPooling2D(), k.layers.Flatten(), k.layers.Dense(5)])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x, y = rng.random((33, 12, 12, 1), dtype=np.float32), rng.integers(0, 5, 33)
        return [float(model.train_on_batch(x, y)[0]) for _ in range(3)]

    split_losses = run()
    assert always_split
    monkeypatch.setenv(jit_split.WORKERS_ENV, "1")
    np.testing.assert_allclose(split_losses, run(), rtol=1e-5)

"""memory_planning: liveness, placement (no overlaps, near the bound), in-place, end to end."""
from __future__ import annotations

import re

import numpy as np
import pytest

import horn as keras
from codegen.cpu.compiler import BufferRole, compile_graph
from ir import BATCH, Graph, Op, TensorType, interpret
from ir.attrs import ReduceAttrs, ReshapeAttrs
from passes.memory_planning import ALIGN, Buffer, ByteSize, MemoryPlan, place, plan_memory
from runtime.executable import Executable
from tests.models import seed_models
from tests.passes.helpers import F32, add_random_param, random_inputs

SIZES = ({"N": 1}, {"N": 7}, {"N": 13}, {"N": 128})


def chain_graph() -> Graph:
    """x -> exp -> tanh -> sum over rows -> (x-sized) sub -> neg; reshape keeps exp alive."""
    g = Graph("chain")
    x = g.add_input(TensorType(F32, (BATCH, 6)), "x")
    e = g.add_node(Op.EXP, [x], name="e").output
    t = g.add_node(Op.TANH, [e], name="t").output
    r = g.add_node(Op.RESHAPE, [e], ReshapeAttrs((BATCH, 2, 3)), "r").output   # aliases e
    s = g.add_node(Op.REDUCE_SUM, [t], ReduceAttrs((1,), keepdims=True), "s").output
    d = g.add_node(Op.SUB, [t, s], name="d").output
    n = g.add_node(Op.NEG, [d], name="n").output
    back = g.add_node(Op.RESHAPE, [r], ReshapeAttrs((BATCH, 6)), "back").output
    g.set_outputs([g.add_node(Op.MUL, [n, back], name="out").output])
    return g


def temp_names(module) -> dict[int, str]:
    return {i: b.name for i, b in enumerate(module.buffers) if b.role is BufferRole.TEMP}


# -- liveness and in-place --------------------------------------------------------------------
def test_liveness_follows_kernel_order_and_aliases():
    m = compile_graph(chain_graph(), inplace=True)
    names = temp_names(m)
    life = {names[b.slot]: (b.first, b.last) for b in m.plan.buffers}
    # Kernels: e t s d n out. exp's buffer is read through the reshapes by the last kernel;
    # d writes over tanh's buffer in place, n over d's, and out (a graph output) reads n.
    assert [s.name for s in m.steps] == ["e", "t", "s", "d", "n", "out"]
    assert life == {"e": (0, 5), "t": (1, 5), "s": (2, 3)}
    assert m.inplace_count == 2
    assert not any(n in names.values() for n in ("d", "n"))


def test_inplace_kernel_takes_one_pointer_for_operand_and_output():
    m = compile_graph(chain_graph(), inplace=True)
    args = {name: len(a.split(",")) for name, a in
            re.findall(r"define internal void @\"?k_(\w+)\"?\(([^)]*)\)", m.llvm_ir)}
    assert args["t"] == 3          # sym, e, t: its own output
    assert args["d"] == 3          # sym, t (read and written), s
    assert args["n"] == 2          # sym, d (read and written)
    off = compile_graph(chain_graph())         # the default: off (see compile_graph)
    assert off.inplace_count == 0 and len(temp_names(off)) == 5


def test_no_inplace_when_the_operand_lives_on_or_broadcasts():
    g = Graph("g")
    x = g.add_input(TensorType(F32, (BATCH, 4)), "x")
    b = add_random_param(g, "b", (4,))
    e = g.add_node(Op.EXP, [x], name="e").output
    row = g.add_node(Op.REDUCE_SUM, [e], ReduceAttrs((1,), keepdims=True), "row").output
    a = g.add_node(Op.ADD, [row, e], name="a").output     # e dies here, but row broadcasts
    twice = g.add_node(Op.MUL, [a, a], name="twice").output   # a read twice: no in-place
    keep = g.add_node(Op.SIGMOID, [twice], name="keep").output
    g.set_outputs([g.add_node(Op.ADD, [keep, b], name="y").output, twice])
    m = compile_graph(g, inplace=True)
    # a writes over e (same type, dies at a). twice reads a twice; keep's operand is an output.
    assert m.inplace_count == 1


# -- placement -----------------------------------------------------------------------------------
def test_random_plans_never_overlap_live_buffers():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 40))
        steps = int(rng.integers(1, 30))
        bufs = []
        for i in range(n):
            first = int(rng.integers(0, steps))
            last = int(rng.integers(first, steps))
            syms = ("N",) * int(rng.integers(0, 3))
            bufs.append(Buffer(i, ByteSize(int(rng.integers(0, 5000)), syms), first, last))
        plan = plan_memory(bufs)
        for sizes in SIZES:
            plan.check(sizes)
            p = plan.at(sizes)
            assert p.lower_bound_bytes <= p.arena_bytes
            assert all(o % ALIGN == 0 for o in p.offsets)


def test_check_catches_an_overlap():
    bufs = (Buffer(0, ByteSize(100), 0, 2), Buffer(1, ByteSize(100), 1, 3))
    plan = MemoryPlan(bufs)
    plan.check({})
    bad = MemoryPlan(bufs)
    object.__setattr__(bad, "at", lambda sizes: type(plan.at({}))((0, 64), 192, 200))
    with pytest.raises(AssertionError, match="are live together"):
        bad.check({})


def test_first_fit_reuses_dead_buffers():
    # a [0,1] and c [2,3] never meet: c reuses a; b spans both and sits beside them.
    assert place([128, 64, 128], [0, 0, 2], [1, 3, 3]) == [0, 128, 0]
    naive = plan_memory([Buffer(i, ByteSize(100), i, i) for i in range(4)], reuse=False)
    assert naive.at({}).offsets == (0, 128, 256, 384)
    assert plan_memory([Buffer(i, ByteSize(100), i, i) for i in range(4)]).at({}).arena_bytes == 128


@pytest.mark.parametrize("make", [chain_graph])
def test_compiled_graphs_plan_without_overlap(make):
    for reuse in (True, False):
        plan = compile_graph(make(), reuse_memory=reuse).plan
        for sizes in SIZES:
            plan.check(sizes)


def _seed_graphs(name):
    model = getattr(seed_models, name)(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.zeros((128, 28, 28) if name == "mlp" else (128, 28, 28, 1), np.float32)
    y = np.zeros((128,), np.int32)
    structure, arrays = model._standardize_inputs(x)
    forward, _ = model._trace_graph(structure, model._signature(arrays), False)
    return forward, model._trace_step_graph(x, y, True)


@pytest.mark.parametrize("name", ["mlp", "convnet_s", "convnet_l"])
def test_seed_models_plan_within_ten_percent_of_the_bound(name):
    for graph in _seed_graphs(name):
        plan = compile_graph(graph).plan
        assert plan.arena_bytes <= 1.10 * plan.lower_bound_bytes, (graph.name, plan.arena_bytes,
                                                                    plan.lower_bound_bytes)
        naive = sum(-(-b.size.evaluate({"N": 128}) // ALIGN) * ALIGN for b in plan.buffers)
        assert plan.arena_bytes < naive
        for sizes in SIZES:
            plan.check(sizes)


# -- end to end ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reuse, inplace", [(True, True), (True, False), (False, False)])
def test_results_unchanged_by_planning(reuse, inplace):
    g = chain_graph()
    exe = Executable(g, reuse_memory=reuse, inplace=inplace)
    for batch in (1, 7, 13, 1, 64):
        xs = random_inputs(g, batch, seed=batch)
        np.testing.assert_allclose(exe(*xs)[0], interpret(g, xs)[0], rtol=1e-5, atol=1e-6)


def test_updates_with_swaps_and_temporaries():
    """p <- q * 2 and q <- p (staged: it is a parameter) while other temps are planned around."""
    g = Graph("swap")
    x = g.add_input(TensorType(F32, (BATCH, 5)), "x")
    p = add_random_param(g, "p", (5,), seed=1)
    q = add_random_param(g, "q", (5,), seed=2)
    h = g.add_node(Op.EXP, [g.add_node(Op.ADD, [x, p]).output]).output
    h = g.add_node(Op.TANH, [h]).output
    two = g.add_constant(np.float32(2.0))
    g.add_update(p, g.add_node(Op.MUL, [q, two]).output)
    g.add_update(q, p)
    g.set_outputs([g.add_node(Op.NEG, [h]).output])
    p0, q0 = p.binding.array.copy(), q.binding.array.copy()
    xs = random_inputs(g, 7)
    want, updates = interpret(g, xs, return_updates=True)
    exe = Executable(g)
    got = exe(*xs)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_array_equal(p.binding.array, q0 * 2)
    np.testing.assert_array_equal(q.binding.array, p0)
    exe.plan.check({"N": 7})


def test_executable_arena_matches_the_plan():
    g = chain_graph()
    exe = Executable(g)
    exe(*random_inputs(g, 128))
    arena, _ = exe._arenas[(("N", 128),)]
    assert arena.nbytes == exe.plan.at({"N": 128}).arena_bytes
    naive = Executable(chain_graph(), reuse_memory=False, inplace=False)
    naive(*random_inputs(g, 128))
    assert arena.nbytes < naive._arenas[(("N", 128),)][0].nbytes

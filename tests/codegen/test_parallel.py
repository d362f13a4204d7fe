"""codegen.cpu.parallel.parallel_for: chunks, threshold, captures, thread setting, serial targets.

Each test writes a small kernel with parallel_for by hand, JIT-compiles it and calls
it through ctypes, so what is checked is the generated code, not a Python model of it.
"""
from __future__ import annotations

import ctypes
import os

import llvmlite.ir as ll
import numpy as np
import pytest

from codegen.cpu import host
from codegen.cpu.kernel import F32, I32, I64, PTR, KernelContext, for_range, i64
from codegen.cpu.parallel import MIN_COST_PER_THREAD, parallel_for, uses_threads
from codegen.target import resolve_target
from ir import DType, Graph, Op, TensorType
from ir.shapes import BATCH
from runtime import jit, threads
from runtime.jit import JitLibrary

_KERNEL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def _node():
    g = Graph("par")
    x = g.add_input(TensorType(DType.float32, (BATCH,)), "x")
    return g.add_node(Op.NEG, [x], name="neg")


def _omp_call(b: ll.IRBuilder, name: str) -> ll.Value:
    fn = b.module.globals.get(name) or ll.Function(b.module, ll.FunctionType(I32, []), name)
    return b.call(fn, [])


def _build(cost_per_item: int, extra_capture: int = 0):
    """``kernel(sym, x, y, info)``: y[i] = x[i] * 2 + extra for i < N, in parallel; for each item
    info[2i] = omp_get_thread_num() and info[2i+1] = omp_get_num_threads() (1 outside a team)."""
    module = ll.Module("par_test")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * 4), "kernel")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = KernelContext(module, fn, b, _node(), {"N": 0}, inputs=[fn.args[1]], outputs=[fn.args[2], fn.args[3]])

    def body(w: KernelContext, lo, hi, captured):
        extra, info = captured
        wb = w.builder
        with for_range(wb, lo, hi) as i:
            x = w.load(w.inputs[0], DType.float32, i)
            y = wb.fadd(wb.fmul(x, ll.Constant(F32, 2.0)), wb.sitofp(extra, F32))
            # Read-modify-write: an item run twice (or never) shows up as a wrong value.
            old = w.load(w.outputs[0], DType.float32, i)
            w.store(wb.fadd(old, y), w.outputs[0], DType.float32, i)
            tid = wb.sext(_omp_call(wb, "omp_get_thread_num"), I64)
            nth = wb.sext(_omp_call(wb, "omp_get_num_threads"), I64)
            w.store(tid, info, DType.int64, wb.mul(i, i64(2)))
            w.store(nth, info, DType.int64, wb.add(wb.mul(i, i64(2)), i64(1)))

    parallel_for(ctx, ctx.dim(BATCH), body, cost_per_item=cost_per_item,
                 captures=[i64(extra_capture), fn.args[3]])
    b.ret_void()
    return str(module)


def _run(ir: str, n: int, extra: int = 0):
    lib = JitLibrary(ir)
    fn = _KERNEL(lib.address("kernel"))
    x = np.arange(n, dtype=np.float32)
    y = np.zeros(n, np.float32)
    info = np.full(2 * n, -1, np.int64)
    sym = (ctypes.c_int64 * 1)(n)
    fn(ctypes.addressof(sym), x.ctypes.data, y.ctypes.data, info.ctypes.data)
    np.testing.assert_array_equal(y, x * 2 + extra)
    return info[0::2], info[1::2]


@pytest.fixture
def two_threads():
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(before)


def test_large_loop_is_split_in_contiguous_chunks(two_threads):
    n = 1001
    tid, nth = _run(_build(cost_per_item=MIN_COST_PER_THREAD), n, extra=0)   # each item once
    assert set(nth) == {2} and set(tid) <= {0, 1}
    grain = -(-n // (2 * 4))                             # 4 chunks per thread: 126 items each
    for start in range(0, n, grain):
        assert len(set(tid[start:start + grain])) == 1, f"chunk at {start} split between threads"


def test_captures_reach_the_worker(two_threads):
    _run(_build(cost_per_item=MIN_COST_PER_THREAD, extra_capture=7), 64, extra=7)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fewer_items_than_threads(two_threads, n):
    tid, nth = _run(_build(cost_per_item=MIN_COST_PER_THREAD), n)
    assert set(nth) == ({1} if n == 1 else {2})          # never more threads than items


def test_small_work_stays_on_the_calling_thread(two_threads):
    # 100 items of 100 operations: far below the threshold, so no team is started.
    tid, nth = _run(_build(cost_per_item=100), 100)
    assert set(tid) == {0} and set(nth) == {1}


def test_thread_setting_applies_without_recompiling(two_threads):
    ir = _build(cost_per_item=MIN_COST_PER_THREAD)
    lib_fn = JitLibrary(ir)
    threads.set_num_threads(1)
    _, nth = _run(ir, 50)
    assert set(nth) == {1}
    threads.set_num_threads(2)
    _, nth = _run(ir, 50)
    assert set(nth) == {2}
    del lib_fn


def test_symbolic_dims_and_kernel_args_in_the_worker(two_threads):
    """``wctx.dim`` reads the kernel's %sym array: the worker's N is the caller's N."""
    module = ll.Module("dims")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * 4), "kernel")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = KernelContext(module, fn, b, _node(), {"N": 0}, inputs=[fn.args[1]], outputs=[fn.args[2], fn.args[3]])

    def body(w, lo, hi, captured):
        with for_range(w.builder, lo, hi) as i:
            w.store(w.dim(BATCH), w.outputs[1], DType.int64, i)

    parallel_for(ctx, i64(10), body, cost_per_item=MIN_COST_PER_THREAD)
    b.ret_void()
    lib = JitLibrary(str(module))
    out = np.zeros(10, np.int64)
    sym = (ctypes.c_int64 * 1)(12345)
    _KERNEL(lib.address("kernel"))(ctypes.addressof(sym), None, None, out.ctypes.data)
    assert (out == 12345).all()


def test_serial_target_emits_no_openmp():
    target = resolve_target("aarch64-linux-gnu")
    serial = type(target)(**{**target.__dict__, "threads": False})
    with host.generating_for(serial):
        assert not host.threads_available()
        ir = _build(cost_per_item=MIN_COST_PER_THREAD)
    assert not uses_threads(ir) and "GOMP_parallel" not in ir and "horn_num_threads" not in ir
    assert uses_threads(_build(cost_per_item=MIN_COST_PER_THREAD))
    assert host.threads_available()                      # the context ended with the block


def test_missing_openmp_runtime_is_a_clear_error(monkeypatch):
    import llvmlite.binding as llvm

    def refuse(name):
        raise RuntimeError(f"cannot open {name}")

    monkeypatch.setattr(llvm, "load_library_permanently", refuse)
    jit._openmp_runtime.cache_clear()
    try:
        with pytest.raises(jit.OpenMPNotFound, match="libgomp could not be loaded.*apt-get install libgomp1"):
            JitLibrary(_build(cost_per_item=MIN_COST_PER_THREAD))
    finally:
        monkeypatch.undo()
        jit._openmp_runtime.cache_clear()


def test_set_num_threads_validates():
    before = threads.get_num_threads()
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            threads.set_num_threads(bad)
    assert threads.get_num_threads() == before


def test_env_variable_sets_the_start_value(monkeypatch):
    monkeypatch.setenv("HORN_NUM_THREADS", "3")
    assert threads._initial() == 3
    monkeypatch.setenv("HORN_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="HORN_NUM_THREADS must be a positive integer"):
        threads._initial()
    monkeypatch.delenv("HORN_NUM_THREADS")
    assert 1 <= threads._initial() <= max(1, os.cpu_count() or 1)


def test_public_config():
    import horn
    before = horn.config.get_num_threads()
    horn.config.set_num_threads(1)
    assert threads.get_num_threads() == 1 == horn.config.get_num_threads()
    horn.config.set_num_threads(before)


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="needs a C compiler (cc)")
def test_library_for_a_target_without_threads_is_serial(tmp_path):
    """A Target with ``threads=False`` gets kernels that never call OpenMP, and no libgomp."""
    import dataclasses
    import subprocess

    import horn as keras
    from codegen.library import compile_library
    from codegen.target import Target
    from runtime.native_library import NativeLibrary

    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(200), keras.layers.Dense(3)])
    serial = dataclasses.replace(Target.host(), threads=False)
    info = compile_library(model, tmp_path / "serial", name="serial", target=serial)
    dynamic = subprocess.run(["readelf", "-d", str(info.library)], capture_output=True, text=True,
                             check=True).stdout
    assert "libgomp" not in dynamic
    threaded = compile_library(model, tmp_path / "threaded", name="threaded")
    if Target.host().threads:
        assert "libgomp" in subprocess.run(["readelf", "-d", str(threaded.library)], capture_output=True,
                                           text=True, check=True).stdout
    x = np.random.default_rng(0).uniform(-1, 1, (64, 300)).astype(np.float32)
    want = model.predict(x, verbose=0)
    for built in (info, threaded):
        with NativeLibrary(built.library) as lib:
            np.testing.assert_allclose(lib.predict(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cost,threaded", [(MIN_COST_PER_THREAD, True), (1, False)])
def test_thread_index_names_the_slot(two_threads, cost, threaded):
    """thread_index is the team index under OpenMP, 0 on the calling thread; a loop nested in a
    worker (run on that worker's thread) counts from 0 again."""
    from codegen.cpu.parallel import thread_index
    module = ll.Module("slots")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * 4), "kernel")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = KernelContext(module, fn, b, _node(), {"N": 0}, inputs=[fn.args[1]], outputs=[fn.args[2], fn.args[3]])

    def body(w, lo, hi, captured):
        wb = w.builder
        with for_range(wb, lo, hi) as i:
            w.store(thread_index(w), w.outputs[1], DType.int64, wb.mul(i, i64(3)))
            w.store(wb.sext(_omp_call(wb, "omp_get_thread_num"), I64), w.outputs[1], DType.int64,
                    wb.add(wb.mul(i, i64(3)), i64(1)))

            def inner(w2, lo2, hi2, cap2):                   # one item, far below the threshold
                w2.store(thread_index(w2), w2.outputs[1], DType.int64, w2.builder.add(cap2[0], i64(2)))

            parallel_for(w, i64(1), inner, cost_per_item=1, captures=[wb.mul(i, i64(3))])

    parallel_for(ctx, i64(64), body, cost_per_item=cost)
    b.ret_void()
    lib = JitLibrary(str(module))
    out = np.full(3 * 64, -1, np.int64)
    sym = (ctypes.c_int64 * 1)(1)
    _KERNEL(lib.address("kernel"))(ctypes.addressof(sym), None, None, out.ctypes.data)
    slot, omp, inner = out[0::3], out[1::3], out[2::3]
    np.testing.assert_array_equal(slot, omp)
    # (With dynamic chunks one thread may take every chunk: only the range is certain.)
    assert set(slot) <= ({0, 1} if threaded else {0})
    assert (inner == 0).all()

"""The opt-in on-disk compile cache (runtime.compile_cache): off by default, a miss
stores, a hit loads the same machine code, keys separate what must differ, writes are
atomic, and a damaged or unusable cache costs only the cache."""
from __future__ import annotations

import os

import numpy as np
import pytest

from codegen.cpu.compiler import compile_graph
from ir import BATCH, DType, Graph, Op, TensorType, interpret
from runtime import compile_cache
from runtime.jit import JitLibrary
from runtime.executable import Executable

F32 = DType.float32


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(compile_cache.CACHE_ENV, raising=False)
    compile_cache.set_cache_dir(tmp_path / "cache")
    yield tmp_path / "cache"
    compile_cache.set_cache_dir(None)


def _graph(scale: float = 2.0) -> Graph:
    g = Graph("cached")
    x = g.add_input(TensorType(F32, (BATCH, 37)), "x")
    w = g.add_input(TensorType(F32, (37, 5)), "w")
    h = g.add_node(Op.MATMUL, [x, w]).output
    h = g.add_node(Op.MUL, [h, g.add_constant(scale, F32)]).output
    g.set_outputs([g.add_node(Op.TANH, [h]).output])
    return g


def _check(exe: Executable, g: Graph) -> None:
    rng = np.random.default_rng(0)
    for n in (1, 7, 129):
        xs = [rng.standard_normal((n, 37)).astype(np.float32), rng.standard_normal((37, 5)).astype(np.float32)]
        np.testing.assert_allclose(exe(*xs)[0], interpret(g, xs)[0], rtol=1e-4, atol=1e-5)


def _entries(root) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(compile_cache.CACHE_ENV, raising=False)
    assert compile_cache.get_cache_dir() is None
    lib = JitLibrary(compile_graph(_graph()).llvm_ir)
    assert lib.from_cache is False


def test_miss_stores_then_hit_loads_the_same_code(cache_dir):
    g = _graph()
    first = Executable(g)
    assert first.library.from_cache is False
    names = _entries(cache_dir)
    assert names and all(n.endswith((".o", ".ll")) for n in names)   # no temporaries left
    second = Executable(g)
    assert second.library.from_cache is True
    assert second.library.optimized_ir == first.library.optimized_ir
    assert _entries(cache_dir) == names
    _check(second, g)


def test_key_separates_ir_level_and_switches(cache_dir, monkeypatch):
    Executable(_graph(2.0))
    n = len(_entries(cache_dir))
    assert Executable(_graph(3.0)).library.from_cache is False            # other IR (a constant)
    assert len(_entries(cache_dir)) > n
    ir = compile_graph(_graph(2.0)).llvm_ir
    assert JitLibrary(ir, 2).from_cache is False                          # other LLVM level
    assert JitLibrary(ir, 2).from_cache is True
    monkeypatch.setenv("HORN_LLVM_PIPELINE", "full")
    assert JitLibrary(ir, 2).from_cache is False                          # other pipeline


def test_env_wins_over_setting(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "env"))
    assert compile_cache.get_cache_dir() == tmp_path / "env"
    Executable(_graph())
    assert _entries(tmp_path / "env") and not _entries(cache_dir)


def test_damaged_entry_is_a_miss_and_is_rewritten(cache_dir):
    g = _graph()
    Executable(g)
    for name in _entries(cache_dir):
        if name.endswith(".o"):
            path = cache_dir / name
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
    again = Executable(g)
    assert again.library.from_cache is False
    _check(again, g)
    assert Executable(g).library.from_cache is True


def test_unusable_folder_warns_and_compiles(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(blocker / "cache"))
    compile_cache._warned.clear()
    g = _graph()
    with pytest.warns(RuntimeWarning, match="compile cache"):
        exe = Executable(g)
    _check(exe, g)


def test_horn_config_exposes_the_setting(tmp_path, monkeypatch):
    import horn
    monkeypatch.delenv(compile_cache.CACHE_ENV, raising=False)
    horn.config.set_cache_dir(tmp_path)
    try:
        assert horn.config.get_cache_dir() == tmp_path
    finally:
        horn.config.set_cache_dir(None)
    assert horn.config.get_cache_dir() is None

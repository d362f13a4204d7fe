"""The `horn` command line, run as a user runs it: in a subprocess."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import horn as keras
from tests.native import c_compiler

ROOT = Path(__file__).resolve().parents[1]

FACTORY = '''
import horn as keras

def small_convnet():
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")], name="small")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model

def not_a_model():
    return 42
'''


def horn(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "horn.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "factory_mod.py").write_text(FACTORY)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4, activation="softmax")], name="saved")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(d / "model.keras")
    return d


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"horn": "horn.cli:main"}
    from horn.cli import main
    assert callable(main)


def test_help_for_the_command_and_each_subcommand(tmp_path):
    top = horn("--help", cwd=tmp_path)
    assert top.returncode == 0
    for command in ("compile", "export", "summary", "bench"):
        assert command in top.stdout
        sub = horn(command, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: horn {command}")
    assert "--target" in horn("compile", "--help", cwd=tmp_path).stdout
    assert horn(cwd=tmp_path).returncode != 0          # a command is required


@pytest.mark.skipif(c_compiler() is None, reason="needs a C compiler (cc)")
def test_compile_a_keras_file_then_predict_through_the_library(workdir):
    proc = horn("compile", "model.keras", "-o", "out", "--name", "saved_model", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "wrote out/libsaved_model.so" in proc.stdout and "train step: yes" in proc.stdout
    assert (workdir / "out" / "saved_model.h").is_file()
    model = keras.saving.load_model(workdir / "model.keras")
    lib = keras.load_library(workdir / "out" / "libsaved_model.so")
    x = np.random.default_rng(0).normal(size=(9, 8)).astype(np.float32)
    np.testing.assert_allclose(lib.predict(x), model.predict(x, verbose=0), rtol=0, atol=1e-6)


@pytest.mark.skipif(c_compiler() is None, reason="needs a C compiler (cc)")
def test_compile_module_function_without_train_step(workdir):
    proc = horn("compile", "factory_mod:small_convnet", "-o", "lib", "--train-step", "no", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lib = keras.load_library(workdir / "lib" / "libsmall.so")      # the model's name by default
    assert not lib.has_train_step and lib.inputs[0].shape == (None, 12, 12, 1)


def test_summary_reports_layers_memory_and_kernels(workdir):
    proc = horn("summary", "factory_mod.py:small_convnet", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "Total params" in proc.stdout and "conv2d" in proc.stdout
    kernels = int(re.search(r"Kernels: (\d+)", proc.stdout).group(1))
    arena = int(re.search(r"Planned memory at batch 1: .*?\((\d+) bytes\) of intermediates", proc.stdout).group(1))
    # Cross-check against the JIT path of the same model.
    sys.path.insert(0, str(workdir))
    try:
        import factory_mod
        model = factory_mod.small_convnet()
    finally:
        sys.path.remove(str(workdir))
    model.predict(np.zeros((1, 12, 12, 1), np.float32), verbose=0)
    exe = next(iter(model._executables.values()))
    assert kernels == exe.kernel_count
    block, offsets = exe._arena({"N": 1})      # the JIT's arena: the same 64-byte-aligned plan
    assert arena == block.nbytes and len(offsets) > 0


def test_bench_prints_latency_and_throughput(workdir):
    proc = horn("bench", "model.keras", "--batch", "1", "--batch", "3", "--seconds", "0.05", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["1", "3"]
    for r in rows:
        assert r[2] == "ms" and float(r[1]) > 0 and r[4] == "samples/s" and float(r[3]) > 0
    bad = horn("bench", "model.keras", "--batch", "0", cwd=workdir)
    assert bad.returncode != 0 and "--batch must be a positive integer" in bad.stderr


def test_export_writes_onnx_or_says_why_not(workdir):
    proc = horn("export", "model.keras", "-o", "model.onnx", cwd=workdir)
    try:
        import codegen.onnx.export  # noqa: F401
    except ImportError:
        assert proc.returncode == 1
        assert proc.stderr.strip() == "horn export: error: ONNX export is not available in this Horn " \
                                      "(codegen.onnx.export is missing)"
    else:
        assert proc.returncode == 0, proc.stderr
        assert (workdir / "model.onnx").stat().st_size > 0


@pytest.mark.parametrize("model, message", [
    ("missing.keras", "no such file: missing.keras"),
    ("missing", "no such file: missing"),
    ("a_directory", "is a directory"),
    ("notes.txt", "unsupported model format '.txt'"),
    ("junk.keras", "cannot load junk.keras as a Keras model"),
    ("missing.onnx", "no such file: missing.onnx"),
    ("no_such_module_xyz:build", "cannot import module 'no_such_module_xyz'"),
    ("factory_mod:nothing_here", "module 'factory_mod' has no function 'nothing_here'"),
    ("factory_mod:not_a_model", "returned int, not a Horn model"),
])
def test_bad_model_argument_is_one_clear_line(workdir, model, message):
    (workdir / "a_directory").mkdir(exist_ok=True)
    (workdir / "notes.txt").write_text("not a model")
    (workdir / "junk.keras").write_bytes(b"\x00" * 64)
    proc = horn("summary", model, cwd=workdir)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("horn summary: error: ") and message in lines[0], lines[0]


def test_bad_compile_arguments_are_one_clear_line(workdir):
    for args, message in ((("--target", "sparc"), "Unknown target 'sparc'"),
                          (("--name", "has space"), "must be a C identifier")):
        proc = horn("compile", "model.keras", "-o", "bad_out", *args, cwd=workdir)
        lines = proc.stderr.strip().splitlines()
        errors = [line for line in lines if line.startswith("horn compile: error: ")]
        assert proc.returncode == 1 and len(errors) == 1 and message in errors[0]
        # Anything else on stderr is a one-line warning (loading this file warns about its optimizer).
        assert all(line.startswith("horn: warning: ") for line in lines if line not in errors), lines


@pytest.mark.skipif(c_compiler() is None, reason="needs a C compiler (cc)")
def test_compile_an_onnx_file(workdir):
    pytest.importorskip("codegen.onnx.export", reason="ONNX export is not in this Horn")
    onnx_import = pytest.importorskip("frontend.onnx_import", reason="ONNX import is not in this Horn")
    assert horn("export", "model.keras", "-o", "for_lib.onnx", cwd=workdir).returncode == 0
    proc = horn("compile", "for_lib.onnx", "-o", "onnx_out", "--name", "from_onnx", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lib = keras.load_library(workdir / "onnx_out" / "libfrom_onnx.so")
    model = onnx_import.load_onnx(str(workdir / "for_lib.onnx"))
    x = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)
    np.testing.assert_allclose(lib.predict(x), model.predict(x, verbose=0), rtol=0, atol=1e-6)
    (workdir / "corrupt.onnx").write_bytes(b"\x01\x02junk")
    bad = horn("summary", "corrupt.onnx", cwd=workdir)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("horn summary: error: cannot load corrupt.onnx as an ONNX model")


def test_opt_levels_on_bench_and_summary(workdir):
    proc = horn("bench", "model.keras", "-O0", "--batch", "2", "--seconds", "0.02", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    low = horn("summary", "factory_mod.py:small_convnet", "-O0", cwd=workdir)
    high = horn("summary", "factory_mod.py:small_convnet", cwd=workdir)
    assert low.returncode == 0 and high.returncode == 0, low.stderr + high.stderr
    planned = [int(re.search(r"batch 128: .*?\((\d+) bytes\) of intermediates, lower bound .*?\((\d+) bytes\)",
                             p.stdout).group(1)) for p in (low, high)]
    assert planned[1] < planned[0]          # -O0 gives every intermediate its own memory
    bad = horn("bench", "model.keras", "-O5", cwd=workdir)
    assert bad.returncode == 2 and "invalid choice: 5" in bad.stderr

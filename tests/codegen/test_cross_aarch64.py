"""Cross-compilation for 64-bit ARM: LLVM's AArch64 backend, NEON kernels, the C program under qemu-user.

The library and the C driver (tests/c/horn_driver.c, the same one the host
tests use) are built with Debian's ``gcc-aarch64-linux-gnu`` and run with
``qemu-aarch64`` from ``qemu-user``; without them the tests that need them skip.
Outputs are held to 1e-5 relative against the host's Python ``predict``.
Measured, they are bitwise equal to it (an AVX-512 x86-64 host, glibc 2.36 on
both sides); the tolerance leaves room for what may legitimately differ on
other hosts and compilers: whether a multiply-add is contracted into an FMA,
reductions vectorized at another width, another libm's ``expf``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import horn as keras
from codegen.cpu.compiler import compile_graph
from codegen.library import LibraryBuildError, compile_library, emit_assembly
from codegen.target import TARGETS, resolve_target
from frontend.models.export import library_graphs
from tests.models import seed_models
from tests.native import build_driver, run_driver, write_tensors
from tests.test_cli import horn as horn_cli

TARGET = "aarch64-linux-gnu"
SYSROOT = Path("/usr/aarch64-linux-gnu")      # where Debian's cross packages put the aarch64 libc
QEMU = ("qemu-aarch64", "-L", str(SYSROOT))
# Whole-vector fused multiply-adds on four float lanes: `fmla v0.4s, v1.4s, v2.4s`, or by lane (`v2.s[0]`).
NEON_FMLA = re.compile(r"\bfmla\s+v\d+\.4s,\s*v\d+\.4s,\s*v\d+\.(4s|s\[\d\])")

needs_toolchain = pytest.mark.skipif(
    shutil.which(resolve_target(TARGET).c_compiler) is None or shutil.which(QEMU[0]) is None
    or not (SYSROOT / "lib").is_dir(),
    reason="needs Debian's gcc-aarch64-linux-gnu and qemu-user (apt-get install gcc-aarch64-linux-gnu qemu-user)")


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


def _models():
    return {"mlp": seed_models.mlp(keras), "convnet_s": seed_models.convnet_s(keras)}


# -- the target, without a toolchain ----------------------------------------------------------------

def test_aarch64_target_is_registered():
    t = resolve_target(TARGET)
    assert TARGET in TARGETS
    assert t.triple.startswith("aarch64-") and t.vector_bits == 128 and "+neon" in t.features.split(",")
    assert str(t.target_machine().target_data).startswith("e-")     # little-endian AArch64 layout
    assert t.target_machine().triple == t.triple


@pytest.mark.parametrize("which", ["mlp", "convnet_s"])
def test_kernels_are_neon_vectorized(which):
    """The dense (and convolution) loops become 4-lane NEON FMAs through LLVM's AArch64 backend."""
    module = compile_graph(library_graphs(_models()[which]).forward, f"{which}__forward")
    asm = emit_assembly(module, TARGET)
    assert re.search(r"^\s*\.text", asm, re.M)
    fmla = NEON_FMLA.findall(asm)
    assert len(fmla) >= 4, f"no NEON fmla in the {which} kernels"
    assert not re.search(r"\b(vfmadd|vmovups|xmm|ymm|zmm)", asm)        # nothing of x86 left
    assert not re.search(r"\bz\d+\.s\b", asm)                             # generic ARMv8-A: no SVE


# -- the library, built and run under qemu-user ---------------------------------------------------------

class CrossBuilt:
    """A model, its aarch64 library and the aarch64 C driver linked against it."""

    def __init__(self, model, out_dir: Path, name: str):
        self.model = model
        self.info = compile_library(model, out_dir, name=name, target=TARGET)
        self.driver = build_driver(self.info.library, name, out_dir, compiler=self.info.target.c_compiler)

    def predict(self, x: np.ndarray, tmp: Path) -> np.ndarray:
        run_driver(self.driver, "predict", write_tensors(tmp / "x.bin", [x]), x.shape[0], tmp / "y.bin",
                   runner=QEMU)
        return np.fromfile(tmp / "y.bin", np.float32).reshape(x.shape[0], -1)


@pytest.fixture(scope="module")
def cross(tmp_path_factory) -> dict[str, CrossBuilt]:
    return {name: CrossBuilt(model, tmp_path_factory.mktemp(name), name) for name, model in _models().items()}


@needs_toolchain
def test_library_is_an_aarch64_elf_needing_libc_and_libm_only(cross):
    for built in cross.values():
        so = built.info.library
        header = subprocess.run(["readelf", "-h", str(so)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"Machine:\s+AArch64", header), header
        dynamic = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
        needed = set(re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic))
        # libgomp where the cross toolchain has one: the matmul kernels then use threads.
        assert needed <= {"libc.so.6", "libm.so.6", "libgomp.so.1"}, needed
        assert ("libgomp.so.1" in needed) == built.info.target.threads, needed
        exe = subprocess.run(["readelf", "-h", str(built.driver)], capture_output=True, text=True,
                             check=True).stdout
        assert re.search(r"Machine:\s+AArch64", exe)


@needs_toolchain
@pytest.mark.parametrize("which", ["mlp", "convnet_s"])
@pytest.mark.parametrize("batch", [1, 37])
def test_qemu_output_matches_host_predict(cross, which, batch, tmp_path):
    built = cross[which]
    x = _x((batch,) + tuple(built.model.inputs[0].shape[1:]), seed=batch)
    got = built.predict(x, tmp_path)
    want = built.model.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got.argmax(-1), want.argmax(-1))


@needs_toolchain
def test_qemu_driver_sees_the_interface(cross):
    """The aarch64 program reads the interface the host compiler declared (names depend on the process)."""
    built = cross["convnet_s"]
    lines = run_driver(built.driver, "info", runner=QEMU).stdout.splitlines()
    assert lines[0] == f"input 0 {built.info.inputs[0].name} 1 4 -1 28 28 1"     # float32, rank 4
    assert lines[1] == f"output 0 {built.info.outputs[0].name} 1 2 -1 10"
    weights = [line for line in lines if line.startswith("weight ")]
    assert [w.split()[2] for w in weights] == [w.name for w in built.info.weights] and len(weights) == 8
    assert "train 0" in lines                     # the models here were not compiled with a loss


@needs_toolchain
def test_horn_compile_command_cross_compiles(tmp_path):
    """`horn compile --target aarch64-linux-gnu` on a saved model; the C program agrees with predict."""
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(20, activation="tanh"),
                              keras.layers.Dense(5, activation="softmax")], name="tiny")
    model.save(tmp_path / "tiny.keras")
    proc = horn_cli("compile", "tiny.keras", "-o", "arm", "--target", TARGET, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "target aarch64-linux-gnu aarch64-unknown-linux-gnu" in proc.stdout
    lib = tmp_path / "arm" / "libtiny.so"
    driver = build_driver(lib, "tiny", tmp_path, compiler=resolve_target(TARGET).c_compiler)
    x = _x((7, 12), 3)
    run_driver(driver, "predict", write_tensors(tmp_path / "x.bin", [x]), 7, tmp_path / "y.bin", runner=QEMU)
    got = np.fromfile(tmp_path / "y.bin", np.float32).reshape(7, 5)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)


def test_missing_cross_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HORN_AARCH64_CC", str(tmp_path / "no-such-aarch64-gcc"))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(LibraryBuildError, match="found to link libx.so for target aarch64-linux-gnu: "
                                                 "install the cross compiler"):
        compile_library(model, tmp_path / "out", name="x", target=TARGET)
    assert not any((tmp_path / "out").iterdir())

"""What machine generated code is for: one record, used by everything that emits code for it.

A :class:`Target` fixes the LLVM triple, CPU and feature string, the SIMD
width the kernels can count on, and the C compiler that links a library
for it. Ahead-of-time compilation (``codegen.library``) asks
:func:`resolve_target` for one; the host is the default. Other targets are
added to ``TARGETS`` by name.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Callable

import llvmlite.binding as llvm


@functools.cache
def _init_native() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.cache
def _host_cpu() -> tuple[str, str, str]:
    """(triple, cpu, features) of this machine; asking LLVM each time costs a few ms."""
    _init_native()
    return llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


@dataclass(frozen=True)
class Target:
    """An LLVM target plus the toolchain that links code for it.

    ``vector_bits`` is the widest SIMD register the CPU has (informational for
    now: LLVM's vectorizer reads the width from ``cpu`` and ``features``).
    ``c_compiler`` compiles the generated C wrapper and links the shared library;
    ``toolchain`` says what to install when it is missing.
    """

    name: str
    triple: str
    cpu: str
    features: str = field(repr=False)
    vector_bits: int
    c_compiler: str = "cc"
    toolchain: str = field(default="a C compiler (gcc or clang), or set CC", repr=False)
    # Kernels may split loops across threads through libgomp (codegen.cpu.parallel): true
    # when the toolchain has libgomp to link, else the kernels are generated serial.
    threads: bool = True

    @staticmethod
    def host() -> "Target":
        """The machine Horn runs on, with every feature it has (as ``-march=native``).

        ``$CC`` picks the C compiler when set.
        """
        triple, cpu, features = _host_cpu()
        cc = os.environ.get("CC", "cc")
        return Target(name="host", triple=triple, cpu=cpu, features=features,
                      vector_bits=_vector_bits(features), c_compiler=cc, threads=has_libgomp(cc))

    def target_machine(self, opt_level: int = 3, *, jit: bool = False) -> llvm.TargetMachine:
        """A fresh LLVM target machine for this target, position-independent unless ``jit``.

        Fresh each time: MCJIT takes ownership of the machine it is given.
        """
        _init_native()
        if self.name != "host":
            # Cross targets need LLVM's other backends, which the native init leaves out.
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
        target = llvm.Target.from_triple(self.triple)
        if jit:
            return target.create_target_machine(cpu=self.cpu, features=self.features, opt=opt_level,
                                                codemodel="jitdefault", jit=True)
        return target.create_target_machine(cpu=self.cpu, features=self.features, opt=opt_level,
                                            reloc="pic", codemodel="default")


@functools.cache
def has_libgomp(c_compiler: str) -> bool:
    """Whether ``c_compiler`` can link libgomp (``-lgomp``): asks it where ``libgomp.so`` is.

    A missing compiler counts as yes: linking then fails with its own clear error.
    """
    import shutil
    import subprocess
    if shutil.which(c_compiler) is None:
        return True
    try:
        out = subprocess.run([c_compiler, "-print-file-name=libgomp.so"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return os.path.isabs(out) and os.path.exists(out)


def _vector_bits(features: str) -> int:
    on = {f[1:] for f in features.split(",") if f.startswith("+")}
    if "avx512f" in on:
        return 512
    if "avx" in on:
        return 256
    return 128                          # SSE2 on x86-64, NEON on AArch64


def aarch64_linux_gnu() -> Target:
    """64-bit ARM Linux (glibc): any ARMv8-A core, kernels at NEON width.

    The ``generic`` CPU keeps the library portable across ARMv8-A boards (a
    Raspberry Pi's Cortex-A72 as much as a Graviton); NEON and the FP unit are
    mandatory in ARMv8-A, so naming them costs no portability and makes LLVM's
    vectorizer count on 128-bit vectors. Linking needs Debian's
    ``gcc-aarch64-linux-gnu`` (``$HORN_AARCH64_CC`` names another cross compiler).
    """
    cc = os.environ.get("HORN_AARCH64_CC", "aarch64-linux-gnu-gcc")
    return Target(name="aarch64-linux-gnu", triple="aarch64-unknown-linux-gnu", cpu="generic",
                  features="+neon,+fp-armv8", vector_bits=128, c_compiler=cc, threads=has_libgomp(cc),
                  toolchain="the cross compiler (Debian: apt-get install gcc-aarch64-linux-gnu), "
                            "or set HORN_AARCH64_CC")


# Target names accepted by ``resolve_target`` (and ``horn compile --target``).
TARGETS: dict[str, Callable[[], Target]] = {"host": Target.host, "aarch64-linux-gnu": aarch64_linux_gnu}


def resolve_target(target: "str | Target | None") -> Target:
    """``None`` or ``"host"`` -> the host; a name from ``TARGETS``; a Target as is."""
    if target is None:
        return Target.host()
    if isinstance(target, Target):
        return target
    factory = TARGETS.get(str(target))
    if factory is None:
        raise ValueError(f"Unknown target {target!r}. Expected one of: {', '.join(sorted(TARGETS))}.")
    return factory()

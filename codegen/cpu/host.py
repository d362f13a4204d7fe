"""What the CPU kernels are generated for: vector width, register count, caches, threads.

Emitters ask :func:`cpu_info` for the machine they write code for, and
:func:`gemm_params` for the GEMM blocking derived from it. That machine is the
host unless code generation runs inside :func:`generating_for` (what
``codegen.library`` does for a cross target such as AArch64), so one emitter
serves the JIT and every ahead-of-time target.

Kept small and free of LLVM IR so that convolution and the other kernels can
reuse the same choices.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from dataclasses import dataclass
from typing import Iterator

from ir.dtypes import DType

_TARGET: contextvars.ContextVar = contextvars.ContextVar("horn_codegen_target", default=None)


@contextlib.contextmanager
def generating_for(target) -> Iterator[None]:
    """Within the block, kernels are generated for ``target`` (a ``codegen.target.Target``)."""
    token = _TARGET.set(target)
    try:
        yield
    finally:
        _TARGET.reset(token)


def current_target():
    """The ``Target`` kernels are being generated for (the host outside :func:`generating_for`)."""
    t = _TARGET.get()
    if t is None:
        from codegen.target import Target
        t = Target.host()
    return t


def threads_available() -> bool:
    """Whether generated code may call the OpenMP runtime (``codegen.cpu.parallel``).

    The JIT always may (``runtime.jit`` loads libgomp, or says clearly that it is
    missing); an ahead-of-time target may when its toolchain has libgomp to link.
    """
    t = _TARGET.get()
    return True if t is None else bool(getattr(t, "threads", False))


@dataclass(frozen=True)
class CpuInfo:
    """The facts kernels are tuned by. Cache sizes are per core, in bytes."""

    vector_bits: int          # widest SIMD register the kernels use
    registers: int            # SIMD registers the ISA names (16 for AVX2 and SSE, 32 for AVX-512, NEON)
    fma: bool
    l1d: int
    l2: int
    arch: str                 # "x86_64" or "aarch64"

    def lanes(self, dtype: DType) -> int:
        return max(1, self.vector_bits // (8 * dtype.itemsize))


@functools.cache
def _cpu_info(triple: str, features: str, host: bool) -> CpuInfo:
    on = {f[1:] for f in features.split(",") if f.startswith("+")}
    if triple.startswith("aarch64") or triple.startswith("arm64"):
        info = CpuInfo(vector_bits=128, registers=32, fma=True, l1d=32 << 10, l2=512 << 10, arch="aarch64")
    elif "avx512f" in on:
        info = CpuInfo(512, 32, True, 32 << 10, 1 << 20, "x86_64")
    elif "avx" in on:
        info = CpuInfo(256, 16, "fma" in on, 32 << 10, 256 << 10, "x86_64")
    else:
        info = CpuInfo(128, 16, False, 32 << 10, 256 << 10, "x86_64")
    if host:
        l1d, l2 = _host_caches()
        info = CpuInfo(info.vector_bits, info.registers, info.fma, l1d or info.l1d, l2 or info.l2, info.arch)
    return info


def _host_caches() -> tuple[int, int]:
    """(L1d, L2) of cpu0 from sysfs; zeros where Linux does not say."""
    found = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for idx in os.listdir(base):
            d = os.path.join(base, idx)
            try:
                with open(os.path.join(d, "level")) as f:
                    level = int(f.read())
                with open(os.path.join(d, "type")) as f:
                    kind = f.read().strip()
                with open(os.path.join(d, "size")) as f:
                    text = f.read().strip()
            except (OSError, ValueError):
                continue
            if kind == "Instruction":
                continue
            mult = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            found[level] = int(text.rstrip("KM")) * mult
    except OSError:
        pass
    return found.get(1, 0), found.get(2, 0)


def cpu_info(target=None) -> CpuInfo:
    """The :class:`CpuInfo` of ``target`` (default: :func:`current_target`)."""
    t = target if target is not None else current_target()
    return _cpu_info(t.triple, t.features, t.name == "host")


@dataclass(frozen=True)
class GemmParams:
    """Blocking of a packed GEMM ``C[M,N] += A[M,K] @ B[K,N]`` for one dtype.

    The micro-kernel keeps an ``mr`` x ``nv`` tile of ``lanes``-wide vectors of C in
    registers (``nr = nv * lanes`` columns). ``kc`` x ``nr`` of packed B stays in L1
    while the micro-kernel sweeps the ``mc`` x ``kc`` packed block of A, which stays in
    L2; ``nc`` columns of B are packed at once (L3 / memory).
    """

    lanes: int
    mr: int
    nv: int
    kc: int
    mc: int
    nc: int
    dnv: int = 2      # vectors per row of the direct (unpacked, small-M) path's tiles

    @property
    def nr(self) -> int:
        return self.nv * self.lanes

    @property
    def dnr(self) -> int:
        return self.dnv * self.lanes


def gemm_params(dtype: DType, target=None) -> GemmParams:
    """The GEMM blocking for ``dtype`` on ``target`` (default: the one being generated for).

    Packed tiles by register file: AVX-512 (32 zmm) 12 rows x 2 vectors (24 accumulators, 2 B
    vectors, 1 broadcast: 27 registers); NEON (32 q) 8 x 3 (24 + 3 + 1); AVX2/SSE (16)
    6 x 2 (12 + 2 + 1). ``kc`` puts a ``kc x nr`` panel of B in L1, ``mc`` a
    ``mc x kc`` block of A in half of L2.
    """
    info = cpu_info(target)
    lanes = info.lanes(dtype)
    if info.registers >= 32:
        mr, nv = (8, 3) if info.arch == "aarch64" else (12, 2)
    else:
        mr, nv = 6, 2
    override = os.environ.get("HORN_GEMM_TILE")       # "MRxNV[,KC,MC,NC]", for tuning runs only
    kc = mc = nc = 0
    if override:
        parts = override.split(",")
        mr, nv = (int(x) for x in parts[0].split("x"))
        if len(parts) == 4:
            kc, mc, nc = (int(x) for x in parts[1:])
    nr = nv * lanes
    size = dtype.itemsize
    if not kc:
        # kc x nr of B fills L1: on Zen 4 (32 KiB, nr = 32 floats) kc = 256 measured ahead of
        # 128 (half of L1) and 384 by 5-10% at 512^3 and 1024^3.
        kc = max(64, min(512, info.l1d // (nr * size) // 16 * 16))
        mc = max(mr, (info.l2 // 2) // (kc * size) // mr * mr)
        nc = 4096 // nr * nr
    # The direct path's 4-row tiles read B in place, dnv vectors per row. Wider runs of B per k
    # help once B leaves the caches (4 x 1024 x 1024: 110 us at 4 vectors, 185 at 2), but a
    # ragged last block wastes its empty lanes: at N = 128, 6 vectors (96 + a third-full 96)
    # took 1.7x the time of 4. Measured on Zen 4, one thread: 4 vectors matched or beat
    # numpy at M = 32 and 128 (K = 784, N = 128). 16-register ISAs: 4 x 2 + 2 + 1 registers.
    dnv = 4 if info.registers >= 32 else 2
    return GemmParams(lanes=lanes, mr=mr, nv=nv, kc=kc, mc=mc, nc=nc, dnv=dnv)

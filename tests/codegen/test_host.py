"""codegen.cpu.host: what the kernels are tuned for, on the host and on the cross targets."""
from __future__ import annotations

import dataclasses

import pytest

from codegen.cpu import host
from codegen.target import Target, resolve_target
from ir.dtypes import DType


def test_host_choice_is_consistent():
    info = host.cpu_info()
    assert info.vector_bits in (128, 256, 512) and info.registers in (16, 32)
    assert info.l1d >= 4096 and info.l2 >= info.l1d
    for dt in (DType.float32, DType.float64, DType.int8):
        p = host.gemm_params(dt)
        assert p.lanes == info.vector_bits // (8 * dt.itemsize)
        # accumulators + B vectors + one broadcast fit in the register file
        assert p.mr * p.nv + p.nv + 1 <= info.registers
        assert 4 * p.dnv + p.dnv + 1 <= info.registers      # the direct path's 4-row tiles
        assert p.kc >= 64 and p.mc >= p.mr and p.mc % p.mr == 0 and p.nc % p.nr == 0


def test_aarch64_gets_neon():
    t = resolve_target("aarch64-linux-gnu")
    info = host.cpu_info(t)
    assert (info.arch, info.vector_bits, info.registers) == ("aarch64", 128, 32)
    p = host.gemm_params(DType.float32, t)
    assert (p.lanes, p.mr, p.nv) == (4, 8, 3)
    with host.generating_for(t):
        assert host.gemm_params(DType.float32) == p
        assert host.current_target() is t
    assert host.current_target().name == "host"


@pytest.mark.parametrize("features,bits,regs,tile", [
    ("+avx512f,+avx2,+avx,+fma", 512, 32, (12, 2)),
    ("+avx2,+avx,+fma", 256, 16, (6, 2)),
    ("+sse2", 128, 16, (6, 2)),
])
def test_x86_levels(features, bits, regs, tile):
    t = dataclasses.replace(Target.host(), name="x86-test", triple="x86_64-unknown-linux-gnu",
                            features=features)
    info = host.cpu_info(t)
    assert (info.vector_bits, info.registers) == (bits, regs)
    p = host.gemm_params(DType.float32, t)
    assert (p.mr, p.nv) == tile and p.lanes == bits // 32


def test_threads_follow_the_target():
    assert host.threads_available()                      # the JIT: libgomp is loaded on demand
    with host.generating_for(dataclasses.replace(Target.host(), threads=False)):
        assert not host.threads_available()
    assert host.threads_available()

"""CPU lowering of RANDOM_UNIFORM: the same 64-bit integer mixing as ir/ops/random.py."""
from __future__ import annotations

import llvmlite.ir as ll

from codegen.cpu.kernel import F32, F64, I64, KernelContext, for_range, i64, lowering
from ir.dtypes import DType
from ir.opcodes import Op
from ir.ops.random import G1, G2, M1, M2


def _c(v: int) -> ll.Constant:
    # i64 constants are signed in LLVM's text form; wrap the unsigned 64-bit value.
    return ll.Constant(I64, v - (1 << 64) if v >= 1 << 63 else v)


def _mix(b: ll.IRBuilder, z: ll.Value) -> ll.Value:
    z = b.xor(z, b.lshr(z, i64(30)))
    z = b.mul(z, _c(M1))
    z = b.xor(z, b.lshr(z, i64(27)))
    z = b.mul(z, _c(M2))
    return b.xor(z, b.lshr(z, i64(31)))


@lowering(Op.RANDOM_UNIFORM)
def emit_random_uniform(ctx: KernelContext) -> None:
    b, node = ctx.builder, ctx.node
    out = node.output
    key0 = ctx.load(ctx.inputs[0], DType.int64, i64(0))
    key1 = ctx.load(ctx.inputs[0], DType.int64, i64(1))
    z = _mix(b, b.xor(key0, _mix(b, b.add(key1, b.mul(i64(node.attrs.stream), _c(G2))))))
    f32 = out.dtype is DType.float32
    with for_range(b, 0, ctx.numel(out)) as i:
        u = _mix(b, b.add(z, b.mul(i, _c(G1))))
        bits = b.lshr(u, i64(40 if f32 else 11))
        ty = F32 if f32 else F64
        value = b.fmul(b.uitofp(bits, ty), ll.Constant(ty, 2.0 ** (-24 if f32 else -53)))
        ctx.store(value, ctx.outputs[0], out.dtype, i)

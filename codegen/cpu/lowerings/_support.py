"""Small LLVM helpers shared by the elementwise, reduction and movement emitters.

Not an op family: it registers nothing. Kept apart so the families do not
import each other for plumbing.
"""
from __future__ import annotations

from typing import Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import F16, F32, F64, add, i64, lltype, mul
from ir.dtypes import DType
from ir.shapes import Dim


def declare(module: ll.Module, name: str, ret: ll.Type, args: Sequence[ll.Type]) -> ll.Function:
    """The function ``name`` in ``module``, declared on first use (intrinsics and libm alike)."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ll.Function(module, ll.FunctionType(ret, list(args)), name)
    return fn


def type_suffix(ty: ll.Type) -> str:
    """The overload suffix LLVM intrinsics use for ``ty`` (``f32``, ``i64``, ``v8f32``, ...)."""
    if isinstance(ty, ll.VectorType):
        return f"v{ty.count}" + type_suffix(ty.element)
    if ty == F16:
        return "f16"
    if ty == F32:
        return "f32"
    if ty == F64:
        return "f64"
    if isinstance(ty, ll.IntType):
        return f"i{ty.width}"
    raise TypeError(f"no intrinsic suffix for LLVM type {ty}")


def lanes(ty: ll.Type) -> int | None:
    """The lane count of a vector type, None for a scalar."""
    return ty.count if isinstance(ty, ll.VectorType) else None


def like(ty: ll.Type, element: ll.Type) -> ll.Type:
    """``element``, or a vector of it with as many lanes as ``ty`` has."""
    return ll.VectorType(element, ty.count) if isinstance(ty, ll.VectorType) else element


def element_type(ty: ll.Type) -> ll.Type:
    """The scalar type of ``ty`` (itself unless a vector)."""
    return ty.element if isinstance(ty, ll.VectorType) else ty


def splat(b: ll.IRBuilder, v: ll.Value, count: int | None) -> ll.Value:
    """A vector of ``count`` copies of scalar ``v`` (``v`` itself when count is None)."""
    if count is None:
        return v
    vty = ll.VectorType(v.type, count)
    if isinstance(v, ll.Constant):
        return ll.Constant(vty, v.constant)
    one = b.insert_element(ll.Constant(vty, ll.Undefined), v, ll.Constant(ll.IntType(32), 0))
    return b.shuffle_vector(one, ll.Constant(vty, ll.Undefined),
                            ll.Constant(ll.VectorType(ll.IntType(32), count), 0))


def call_intrinsic(b: ll.IRBuilder, name: str, *args: ll.Value, ret: ll.Type | None = None,
                   overloads: Sequence[ll.Type] | None = None) -> ll.Value:
    """Calls ``llvm.<name>.<suffixes>``; overloaded on the first argument's type unless told."""
    module = b.module
    types = [a.type for a in args]
    over = list(overloads) if overloads is not None else [types[0]]
    full = "llvm." + name + "".join("." + type_suffix(t) for t in over)
    return b.call(declare(module, full, ret or types[0], types), list(args))


def entry_alloca(b: ll.IRBuilder, ty: ll.Type, count: int | None = None, name: str = "") -> ll.Value:
    """An ``alloca`` at the top of the function's entry block, where mem2reg can promote it.

    The builder keeps its position; emitters only ever append at the end of a block.
    """
    here = b.block
    b.position_at_start(b.function.entry_basic_block)
    slot = b.alloca(ty, size=None if count is None else i64(count), name=name)
    b.position_at_end(here)
    return slot


def offset(b: ll.IRBuilder, ivs: Sequence[ll.Value], strides: Sequence[ll.Value]) -> ll.Value:
    """sum(iv * stride), skipping axes whose stride is the constant 0 (broadcast axes)."""
    acc: ll.Value = i64(0)
    for iv, s in zip(ivs, strides):
        if isinstance(s, ll.Constant) and s.constant == 0:
            continue
        acc = add(b, acc, mul(b, iv, s))
    return acc


def product(b: ll.IRBuilder, values: Sequence[ll.Value]) -> ll.Value:
    acc: ll.Value = i64(1)
    for v in values:
        acc = mul(b, acc, v)
    return acc


def is_one(d: Dim) -> bool:
    """A static dim of size 1: it never moves an index, so loops can skip it."""
    return isinstance(d, int) and d == 1


def compute_dtype(dtype: DType) -> DType:
    """float16 arithmetic is done in float32 (as numpy does), everything else in its own type."""
    return DType.float32 if dtype is DType.float16 else dtype


def widen(b: ll.IRBuilder, v: ll.Value, dtype: DType) -> ll.Value:
    """A loaded ``dtype`` value (scalar or vector) in its compute type."""
    return b.fpext(v, like(v.type, F32)) if dtype is DType.float16 else v


def narrow(b: ll.IRBuilder, v: ll.Value, dtype: DType) -> ll.Value:
    """A compute-type value (or an i1 truth value), scalar or vector, in the storage type of ``dtype``."""
    el = element_type(v.type)
    if isinstance(el, ll.IntType) and el.width == 1:
        return b.zext(v, like(v.type, lltype(dtype)))
    if dtype is DType.float16 and el != F16:
        return b.fptrunc(v, like(v.type, F16))
    return v


def bits_type(dtype: DType) -> ll.IntType:
    """An integer type as wide as one element: data movement copies bytes, not values."""
    return ll.IntType(8 * dtype.itemsize)


def load_bits(b: ll.IRBuilder, base: ll.Value, ty: ll.Type, index: ll.Value) -> ll.Value:
    return b.load(b.gep(base, [index], inbounds=True, source_etype=ty), typ=ty)


def store_bits(b: ll.IRBuilder, value: ll.Value, base: ll.Value, index: ll.Value) -> None:
    b.store(value, b.gep(base, [index], inbounds=True, source_etype=value.type))



def f64_to_f16(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """double -> half rounded once to nearest-even, without LLVM's ``__truncdfhf2`` libcall.

    MCJIT does not resolve compiler-rt/libgcc builtins in-process (a call to
    ``__truncdfhf2`` jumps to null). Going through float32 instead rounds twice,
    which is wrong near half-way points, unless the first rounding is *to odd*:
    with 13 more bits than half, round-to-odd then round-to-nearest equals one
    direct rounding. So: round to float32, and if that was inexact, step the
    result back toward zero (if it moved away) and set its last bit.
    """
    r = b.fptrunc(x, like(x.type, F32))
    wide = b.fpext(r, x.type)
    inexact = b.fcmp_ordered("!=", wide, x)            # false for NaN: it passes through untouched
    away = b.fcmp_ordered(">", call_intrinsic(b, "fabs", wide), call_intrinsic(b, "fabs", x))
    i32 = like(x.type, ll.IntType(32))
    bits = b.bitcast(r, i32)
    bits = b.select(away, b.sub(bits, ll.Constant(i32, 1)), bits)   # sign-magnitude: -1 is toward 0
    odd = b.bitcast(b.or_(bits, ll.Constant(i32, 1)), r.type)
    return b.fptrunc(b.select(inexact, odd, r), like(x.type, F16))


def tail_mask(b: ll.IRBuilder, remaining: ll.Value, count: int) -> ll.Value:
    """``<count x i1>``: lane k is on when k < remaining (an i64; may exceed count)."""
    iota = ll.Constant(ll.VectorType(ll.IntType(64), count), list(range(count)))
    return b.icmp_signed("<", iota, splat(b, remaining, count))


def masked_load(b: ll.IRBuilder, ptr: ll.Value, vty: ll.VectorType, mask: ll.Value,
                passthru: ll.Value, align: int) -> ll.Value:
    """Loads the lanes of ``mask``, ``passthru`` elsewhere; off lanes are never touched.

    Tails of vector loops use this instead of a scalar loop: one more vector step, and
    nothing for LLVM to re-vectorize (which costs compile time and code size).
    """
    name = f"llvm.masked.load.{type_suffix(vty)}.p0"
    fn = declare(b.module, name, vty, [ptr.type, ll.IntType(32), mask.type, vty])
    return b.call(fn, [ptr, ll.Constant(ll.IntType(32), align), mask, passthru])


def masked_store(b: ll.IRBuilder, value: ll.Value, ptr: ll.Value, mask: ll.Value, align: int) -> None:
    """Stores the lanes of ``value`` where ``mask`` is on."""
    name = f"llvm.masked.store.{type_suffix(value.type)}.p0"
    fn = declare(b.module, name, ll.VoidType(), [value.type, ptr.type, ll.IntType(32), mask.type])
    b.call(fn, [value, ptr, ll.Constant(ll.IntType(32), align), mask])

"""The contract between the CPU graph compiler and the per-op emitters.

Every IR node becomes one LLVM function, a *kernel*, with the signature::

    void @k_<node>(ptr %sym, ptr %in0, ..., ptr %out0, ...)

``%sym`` points at an ``i64`` array holding the run-time size of every
symbolic dimension (``ctx.dim`` reads it), and each tensor argument points at
a contiguous row-major buffer of the value's dtype (bool is stored as ``i8``).
An emitter is a function ``emit(ctx: KernelContext) -> None`` registered with
``@lowering(Op.X)``; it writes the kernel body at ``ctx.builder`` and must
leave the builder in an unterminated block (the compiler adds ``ret void``).

Loops are written with :func:`for_range` over row-major indices with the
innermost loop walking unit-stride memory, so LLVM's loop vectorizer can do
its job.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import llvmlite.ir as ll

from ir.dtypes import DType
from ir.graph import Node, Value
from ir.opcodes import Op
from ir.shapes import Dim, SymDim

I1 = ll.IntType(1)
I8 = ll.IntType(8)
I32 = ll.IntType(32)
I64 = ll.IntType(64)
F16 = ll.HalfType()
F32 = ll.FloatType()
F64 = ll.DoubleType()
PTR = ll.PointerType()

_LLTYPES = {
    DType.float16: F16, DType.float32: F32, DType.float64: F64,
    DType.int8: I8, DType.uint8: I8, DType.int32: I32, DType.int64: I64, DType.bool: I8,
}


def lltype(dtype: DType) -> ll.Type:
    """Storage type of ``dtype`` in memory (bool is one byte holding 0 or 1)."""
    return _LLTYPES[dtype]


def i64(n: int) -> ll.Constant:
    return ll.Constant(I64, n)


class LoweringError(NotImplementedError):
    """No CPU lowering exists for an op, or for this use of it."""


Emitter = Callable[["KernelContext"], None]

Epilogue = Callable[[ll.IRBuilder, ll.Value, ll.Value, ll.Value], ll.Value]
"""What a fused GEMM or convolution does to its results before storing them.

``epilogue(b, row, col, acc) -> acc'``: ``acc`` holds the finished results for output
elements ``[row, col : col + w]`` of the output viewed as a matrix (every axis but the
last flattened into ``row``, the last axis is ``col``; both are i64). ``acc`` is either a
scalar (w = 1) or an LLVM vector of w lanes of the output's element type. The epilogue
returns a value of the same type, which the kernel stores in place of ``acc``. It may
load other tensors (a bias at ``col``, a residual at ``row * ncols + col``) but must not
store to the output: the kernel does that, once, so every element is written once.
"""
CPU_LOWERINGS: dict[Op, Emitter] = {}


def lowering(*ops: Op) -> Callable[[Emitter], Emitter]:
    """Registers an emitter for one or more ops."""
    def deco(fn: Emitter) -> Emitter:
        for op in ops:
            if op in CPU_LOWERINGS:
                raise RuntimeError(f"CPU lowering for {op} registered twice")
            CPU_LOWERINGS[op] = fn
        return fn
    return deco


@dataclass
class KernelContext:
    """What an emitter sees: the node, the LLVM function being written and its arguments."""

    module: ll.Module
    function: ll.Function
    builder: ll.IRBuilder
    node: Node
    sym_index: dict[str, int]             # SymDim name -> slot in the %sym array
    inputs: list[ll.Value] = field(default_factory=list)
    outputs: list[ll.Value] = field(default_factory=list)

    @property
    def sym(self) -> ll.Value:
        return self.function.args[0]

    def dim(self, d: Dim) -> ll.Value:
        """An i64 holding the size of ``d`` (a constant unless it is symbolic)."""
        if isinstance(d, SymDim):
            slot = self.builder.gep(self.sym, [i64(self.sym_index[d.name])], source_etype=I64)
            return self.builder.load(slot, typ=I64, name=f"dim_{d.name}")
        return i64(d)

    def dims(self, value: Value) -> list[ll.Value]:
        return [self.dim(d) for d in value.shape]

    def strides(self, dims: Sequence[ll.Value]) -> list[ll.Value]:
        """Row-major element strides of a contiguous tensor with sizes ``dims``."""
        out: list[ll.Value] = [i64(1)] * len(dims)
        acc: ll.Value = i64(1)
        for i in range(len(dims) - 1, -1, -1):
            out[i] = acc
            acc = mul(self.builder, acc, dims[i])
        return out

    def numel(self, value: Value) -> ll.Value:
        acc: ll.Value = i64(1)
        for d in self.dims(value):
            acc = mul(self.builder, acc, d)
        return acc

    def element_ptr(self, base: ll.Value, dtype: DType, index: ll.Value) -> ll.Value:
        return self.builder.gep(base, [index], inbounds=True, source_etype=lltype(dtype))

    def load(self, base: ll.Value, dtype: DType, index: ll.Value) -> ll.Value:
        return self.builder.load(self.element_ptr(base, dtype, index), typ=lltype(dtype))

    def store(self, value: ll.Value, base: ll.Value, dtype: DType, index: ll.Value) -> None:
        self.builder.store(value, self.element_ptr(base, dtype, index))


def mul(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    """i64 multiply that folds constants, so static shapes give constant strides."""
    if isinstance(x, ll.Constant) and isinstance(y, ll.Constant):
        return i64(int(x.constant) * int(y.constant))
    if isinstance(x, ll.Constant) and x.constant == 1:
        return y
    if isinstance(y, ll.Constant) and y.constant == 1:
        return x
    return b.mul(x, y)


def add(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    if isinstance(x, ll.Constant) and isinstance(y, ll.Constant):
        return i64(int(x.constant) + int(y.constant))
    if isinstance(x, ll.Constant) and x.constant == 0:
        return y
    if isinstance(y, ll.Constant) and y.constant == 0:
        return x
    return b.add(x, y)


@contextlib.contextmanager
def for_range(b: ll.IRBuilder, start: ll.Value | int, stop: ll.Value | int,
              step: int = 1, name: str = "i") -> Iterator[ll.Value]:
    """``for (i = start; i < stop; i += step)`` over i64; the body is written inside the ``with``.

    On exit the builder is positioned after the loop.
    """
    start = i64(start) if isinstance(start, int) else start
    stop = i64(stop) if isinstance(stop, int) else stop
    pre = b.block
    head = b.append_basic_block(f"{name}.head")
    body = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.branch(head)
    b.position_at_end(head)
    iv = b.phi(I64, name=name)
    iv.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", iv, stop), body, done)
    b.position_at_end(body)
    yield iv
    nxt = b.add(iv, i64(step), name=f"{name}.next")
    iv.add_incoming(nxt, b.block)
    b.branch(head)
    b.position_at_end(done)


@contextlib.contextmanager
def loop_nest(b: ll.IRBuilder, extents: Sequence[ll.Value], name: str = "i") -> Iterator[list[ll.Value]]:
    """Nested row-major loops over ``extents``; yields the induction variables, outermost first."""
    with contextlib.ExitStack() as stack:
        ivs = [stack.enter_context(for_range(b, 0, e, name=f"{name}{k}")) for k, e in enumerate(extents)]
        yield ivs


def linear_index(b: ll.IRBuilder, indices: Sequence[ll.Value], strides: Sequence[ll.Value]) -> ll.Value:
    acc: ll.Value = i64(0)
    for i, s in zip(indices, strides):
        acc = add(b, acc, mul(b, i, s))
    return acc

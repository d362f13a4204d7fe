"""Graph -> one LLVM module: a kernel per node and one entry function.

The entry function has the signature::

    void @<entry>(ptr %sym, ptr %table)

``%sym`` is the i64 array of symbolic dim sizes (order: ``CompiledModule.sym_names``)
and ``%table`` an array of buffer pointers (order: ``CompiledModule.buffers``):
graph inputs, graph outputs, parameters, then intermediates. The entry calls
the kernels in graph order, so Python enters native code once per batch.

Constants become LLVM globals. Ops in ``ALIAS_OPS`` (reshape) emit no kernel:
their output shares the operand's buffer. A graph output that no kernel can
write directly (an input, parameter, constant, alias, or a value returned
twice) is copied into its output buffer at the end.

Memory: every intermediate has a TEMP slot; the order of kernel calls and
copies is recorded as ``CompiledModule.steps`` and ``passes.memory_planning``
places the TEMP slots in one arena with reuse (``CompiledModule.plan``; the
runtime and the C library point the slots at ``arena + offset``). With
``inplace=True`` (off by default, see compile_graph), an elementwise kernel
whose operand dies at it writes in place: the output shares the operand's
slot, and the kernel takes one pointer argument for both.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass

import llvmlite.ir as ll
import numpy as np

from passes.memory_planning import MemoryPlan, Step, inplace_pairs, lifetimes, plan_memory
from codegen.cpu.dedup import kernel_key
from codegen.cpu.kernel import CPU_LOWERINGS, I8, I64, PTR, KernelContext, LoweringError, i64, mul
from ir.gc_pause import gc_paused
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from ir.shapes import Shape, SymDim
from ir.dtypes import DType

ALIAS_OPS = frozenset({Op.RESHAPE})
DEDUP_PASS_NAME = "kernel_dedup"        # HORN_DISABLE_PASSES=kernel_dedup: a function per kernel


def _disabled_passes() -> set[str]:
    from passes.pass_manager import DISABLE_ENV
    return {s.strip() for s in os.environ.get(DISABLE_ENV, "").split(",")}


class BufferRole(enum.Enum):
    INPUT = "input"
    OUTPUT = "output"
    PARAM = "param"
    TEMP = "temp"


@dataclass(frozen=True)
class BufferSpec:
    """One slot of the pointer table: who owns the memory and how big it is."""

    name: str
    role: BufferRole
    dtype: DType
    shape: Shape


@dataclass(frozen=True)
class CompiledModule:
    """LLVM IR text plus what the runtime needs to call its entry function."""

    llvm_ir: str
    entry: str
    sym_names: tuple[str, ...]
    buffers: tuple[BufferSpec, ...]
    kernel_count: int
    steps: tuple[Step, ...] = ()           # kernel calls and copies in order: the liveness input
    plan: MemoryPlan | None = None         # arena offsets of the TEMP slots
    inplace_count: int = 0                 # kernels that write over a dying operand
    distinct_kernels: int = 0              # kernel functions emitted (calls of one function share it)


def _load_emitters() -> None:
    # Importing the families registers their emitters in CPU_LOWERINGS.
    import codegen.cpu.lowerings  # noqa: F401


def missing_lowerings(graph: Graph) -> list[Node]:
    _load_emitters()
    return [n for n in graph.nodes
            if n.op not in CPU_LOWERINGS and n.op not in ALIAS_OPS and n.op is not Op.CONSTANT]


def compile_graph(graph: Graph, entry: str = "horn_forward", *, reuse_memory: bool = True,
                  inplace: bool = False, module: ll.Module | None = None,
                  prefix: str = "", dedup: bool | None = None) -> CompiledModule:
    """Emits LLVM IR for ``graph``; raises LoweringError listing every op without a CPU lowering.

    ``reuse_memory=False`` gives every intermediate its own memory (for -O0
    and for bisecting a suspected planning bug). ``inplace=True`` lets
    elementwise kernels write over an operand that dies there. It is off by
    default: the kernel itself takes one pointer for both, but the workers of
    ``codegen.cpu.parallel`` receive the kernel's arguments position by
    position and mark each ``noalias``, so a threaded in-place kernel would
    have two ``noalias`` pointers to one buffer (undefined behaviour, even if
    today's loops read element i before writing it). Turning it on by default
    needs the workers to pass a repeated argument once.

    With ``module``, the entry function and its kernels are added to that module
    instead of a new one, their symbols prefixed with ``prefix``, and ``llvm_ir``
    is left empty: this is how a region body (a scan's step) becomes a function
    its op's kernel calls (``codegen/cpu/lowerings/loop.py``).
    """
    # The collector off while emitting: it would walk the whole heap again and again
    # for nothing (ir/gc_pause.py; about 40% of this function's time on convnet-S).
    with gc_paused():
        return _compile_graph(graph, entry, reuse_memory=reuse_memory, inplace=inplace, module=module,
                              prefix=prefix, dedup=dedup)


def _compile_graph(graph: Graph, entry: str, *, reuse_memory: bool, inplace: bool,
                   module: ll.Module | None, prefix: str, dedup: bool | None) -> CompiledModule:
    _load_emitters()
    missing = missing_lowerings(graph)
    if missing:
        raise LoweringError("no CPU lowering for: " + ", ".join(f"{n.name} ({n.op})" for n in missing))

    nested = module is not None
    module = ll.Module(name=graph.name) if module is None else module
    sym_names = _symbol_order(graph)
    sym_index = {s: i for i, s in enumerate(sym_names)}

    buffers: list[BufferSpec] = []
    slot: dict[int, int] = {}          # id(Value) -> table slot it lives in
    for v in graph.inputs:
        slot[id(v)] = len(buffers)
        buffers.append(BufferSpec(v.name, BufferRole.INPUT, v.dtype, v.shape))
    out_slots = []
    for i, v in enumerate(graph.outputs):
        out_slots.append(len(buffers))
        buffers.append(BufferSpec(f"output_{i}", BufferRole.OUTPUT, v.dtype, v.shape))
    for v in graph.params:
        slot[id(v)] = len(buffers)
        buffers.append(BufferSpec(v.name, BufferRole.PARAM, v.dtype, v.shape))

    # Outputs written in place by their producing kernel: produced by a real kernel, returned once.
    direct: dict[int, int] = {}
    for v, s in zip(graph.outputs, out_slots):
        if (v.kind is ValueKind.NODE and v.producer.op not in ALIAS_OPS | {Op.CONSTANT}
                and sum(o is v for o in graph.outputs) == 1):
            direct[id(v)] = s

    entry_fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR, PTR]), entry)
    entry_fn.args[0].name, entry_fn.args[1].name = "sym", "table"
    b = ll.IRBuilder(entry_fn.append_basic_block("entry"))
    ptr_of: dict[int, ll.Value] = {}
    steps: list[Step] = []
    inplace_of = inplace_pairs(graph, ALIAS_OPS, set(direct)) if inplace else {}

    def slots_of(values) -> tuple[int, ...]:
        return tuple(slot[id(v)] for v in values if id(v) in slot)

    def table_ptr(s: int, name: str) -> ll.Value:
        p = b.gep(entry_fn.args[1], [i64(s)], inbounds=True, source_etype=PTR)
        return b.load(p, typ=PTR, name=name)

    for v in [*graph.inputs, *graph.params]:
        ptr_of[id(v)] = table_ptr(slot[id(v)], v.name)

    kernels = 0
    # Kernel deduplication (codegen.cpu.dedup): one function per structurally distinct kernel.
    if dedup is None:
        dedup = DEDUP_PASS_NAME not in _disabled_passes()
    emitted: dict = {}
    for node in graph.nodes:
        if node.op is Op.CONSTANT:
            ptr_of[id(node.output)] = _constant_global(module, node, prefix)
            continue
        if node.op in ALIAS_OPS:
            ptr_of[id(node.output)] = ptr_of[id(node.inputs[0])]
            if id(node.inputs[0]) in slot:
                slot[id(node.output)] = slot[id(node.inputs[0])]
            continue
        shared = inplace_of.get(id(node))
        for v in node.outputs:
            if shared is not None:
                ptr_of[id(v)] = ptr_of[id(node.inputs[shared])]
                slot[id(v)] = slot[id(node.inputs[shared])]
            elif id(v) in direct:
                slot[id(v)] = direct[id(v)]
                ptr_of[id(v)] = table_ptr(direct[id(v)], v.name)
            else:
                slot[id(v)] = len(buffers)
                buffers.append(BufferSpec(v.name, BufferRole.TEMP, v.dtype, v.shape))
                ptr_of[id(v)] = table_ptr(slot[id(v)], v.name)
        key = kernel_key(node, shared) if dedup else None
        fn = emitted.get(key) if dedup else None
        if fn is None:
            fn = _emit_kernel(module, node, sym_index, shared, prefix)
            if dedup:
                emitted[key] = fn
        outs = [] if shared is not None else [ptr_of[id(v)] for v in node.outputs]
        b.call(fn, [entry_fn.args[0], *(ptr_of[id(v)] for v in node.inputs), *outs])
        steps.append(Step(node.name, slots_of(node.inputs), slots_of(node.outputs)))
        kernels += 1

    for v, s in zip(graph.outputs, out_slots):
        if id(v) not in direct:
            nbytes = i64(v.dtype.itemsize)
            for d in v.shape:
                nbytes = mul(b, nbytes, _entry_dim(b, entry_fn, sym_index, d))
            b.call(_memcpy(module), [table_ptr(s, f"out{s}"), ptr_of[id(v)], nbytes,
                                     ll.Constant(ll.IntType(1), 0)])
            steps.append(Step(f"copy to output {s}", slots_of([v]), (s,)))

    # State updates land after every kernel and output copy, so every read saw the old
    # value. A new value living in a parameter's own memory is staged in a temporary
    # first, so that swaps (p <- q, q <- p) read old values too.
    def nbytes_of(v: Value) -> ll.Value:
        n = i64(v.dtype.itemsize)
        for d in v.shape:
            n = mul(b, n, _entry_dim(b, entry_fn, sym_index, d))
        return n

    copies = []
    for param, v in graph.updates:
        root = _alias_root(v)
        if root is param:
            continue                     # p <- p (or a reshape of p): nothing changes
        src = ptr_of[id(v)]
        if root.kind is ValueKind.PARAM:
            staged_slot = len(buffers)
            buffers.append(BufferSpec(f"{v.name}.staged", BufferRole.TEMP, v.dtype, v.shape))
            staged = table_ptr(staged_slot, f"{v.name}.staged")
            b.call(_memcpy(module), [staged, src, nbytes_of(v), ll.Constant(ll.IntType(1), 0)])
            steps.append(Step(f"stage update of {param.name}", slots_of([v]), (staged_slot,)))
            src = staged
            copies.append((ptr_of[id(param)], src, nbytes_of(v), (staged_slot,), slot[id(param)]))
        else:
            copies.append((ptr_of[id(param)], src, nbytes_of(v), slots_of([v]), slot[id(param)]))
    for dst, src, n, _, _ in copies:
        b.call(_memcpy(module), [dst, src, n, ll.Constant(ll.IntType(1), 0)])
    if copies:
        # One step: every update's source (staged or not) stays live until the last copy.
        steps.append(Step("apply updates", tuple(s for c in copies for s in c[3]),
                          tuple(c[4] for c in copies)))
    b.ret_void()
    temps = {i: (spec.dtype, spec.shape) for i, spec in enumerate(buffers) if spec.role is BufferRole.TEMP}
    plan = plan_memory(lifetimes(steps, temps), reuse=reuse_memory)
    return CompiledModule("" if nested else str(module), entry, sym_names, tuple(buffers), kernels,
                          tuple(steps), plan,
                          len(inplace_of), len(emitted) if dedup else kernels)


def _alias_root(v: Value) -> Value:
    """The value whose buffer ``v`` shares (itself unless made by an alias op)."""
    while v.kind is ValueKind.NODE and v.producer.op in ALIAS_OPS:
        v = v.producer.inputs[0]
    return v


def _symbol_order(graph: Graph) -> tuple[str, ...]:
    names: list[str] = []
    for v in graph.values():
        for d in v.shape:
            if isinstance(d, SymDim) and d.name not in names:
                names.append(d.name)
    return tuple(names)


def _entry_dim(b: ll.IRBuilder, fn: ll.Function, sym_index: dict[str, int], d) -> ll.Value:
    if isinstance(d, SymDim):
        p = b.gep(fn.args[0], [i64(sym_index[d.name])], source_etype=I64)
        return b.load(p, typ=I64)
    return i64(d)


def _emit_kernel(module: ll.Module, node: Node, sym_index: dict[str, int],
                 shared: int | None = None, prefix: str = "") -> ll.Function:
    """The kernel of ``node``: ``(sym, inputs..., outputs...)``.

    With ``shared`` (in place), the one output is written through the pointer
    of operand ``shared`` and has no argument of its own: the loop reads and
    writes the same element through one ``noalias`` pointer, which is both
    correct and still vectorizable without run-time overlap checks.
    """
    nargs = 1 + len(node.inputs) + (0 if shared is not None else len(node.outputs))
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR] * nargs), f"k_{prefix}{node.name}")
    fn.linkage = "internal"
    # Each kernel has one call site, so O3 would inline every kernel into the entry and
    # then optimize one giant function: compile time grew superlinearly (14 s for 138
    # kernels against 3.5 s separately). Kernels stay functions; calls cost nothing here.
    fn.attributes.add("noinline")
    for i, arg in enumerate(fn.args):
        if i > 0:
            arg.add_attribute("noalias")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    inputs = list(fn.args[1:1 + len(node.inputs)])
    ctx = KernelContext(module, fn, b, node, sym_index, inputs=inputs,
                        outputs=[inputs[shared]] if shared is not None else list(fn.args[1 + len(node.inputs):]))
    CPU_LOWERINGS[node.op](ctx)
    ctx.builder.ret_void()
    return fn


def _constant_global(module: ll.Module, node: Node, prefix: str = "") -> ll.Value:
    arr: np.ndarray = node.attrs.value
    data = np.ascontiguousarray(arr.astype(np.int8) if arr.dtype == np.bool_ else arr)
    raw = bytearray(data.tobytes()) or bytearray(1)
    ty = ll.ArrayType(I8, len(raw))
    g = ll.GlobalVariable(module, ty, name=f"c_{prefix}{node.name}")
    g.global_constant = True
    g.linkage = "internal"
    g.align = 64
    g.initializer = ll.Constant(ty, raw)
    return g


def _memcpy(module: ll.Module) -> ll.Function:
    name = "llvm.memcpy.p0.p0.i64"
    if name in module.globals:
        return module.globals[name]
    return ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR, PTR, I64, ll.IntType(1)]), name)

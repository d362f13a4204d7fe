"""Splitting a kernel's loop across threads, through the OpenMP runtime (libgomp).

One entry point, for every emitter that has a loop worth sharing (GEMM, convolution,
elementwise, fused groups)::

    def body(wctx, lo, hi, captured):
        with for_range(wctx.builder, lo, hi) as i:     # items [lo, hi) of this thread
            ... wctx.inputs[0], wctx.dim(...), captured[0] ...

    parallel_for(ctx, count, body, cost_per_item=4 * row_len, captures=[row_len])

``body`` is called once, at code-generation time, to write an outlined *worker*
function ``void @<kernel>.par<k>(ptr sym, ptr in.., ptr out.., i64 lo, i64 hi, i64 thread,
cap..)``. Its ``wctx`` is a :class:`KernelContext` for the worker with the kernel's own
argument layout first, so ``wctx.sym``, ``wctx.dim()``, ``wctx.inputs`` and
``wctx.outputs`` work exactly as in the kernel (and :func:`rebind` maps a kernel
argument to the worker's); ``captured`` are the ``captures`` values (i64 or pointers) as
worker arguments. The body must leave ``wctx.builder`` in an unterminated block, as an
emitter does.

At run time the kernel decides how many threads to use::

    n = min(horn_num_threads, count, count * cost_per_item // MIN_COST_PER_THREAD)
    if n <= 1: worker(args.., 0, count, 0, caps..)       # on the calling thread, no OpenMP call
    else:      GOMP_parallel(trampoline, &args, n, 0)    # threads claim chunks until none are left

so small kernels never pay for waking a team. ``cost_per_item`` is in "simple
operations" (a multiply-add, a load and a store): pick it so that ``count *
cost_per_item`` is the kernel's work. ``horn_num_threads`` is an ``i32`` global the
process provides (``runtime.threads`` in the JIT; the C wrapper of a shared library);
a value below 1 means ``omp_get_max_threads()``. Threads claim contiguous chunks of
about ``count / (4 * threads)`` items from a shared counter, so which thread runs an
item varies from call to call: items must be independent, and a worker may use
per-thread scratch (:func:`thread_index`) but not assume which items it gets. Each
call of the worker gets one chunk ``[lo, hi)``; a thread may get several calls.

Targets without an OpenMP runtime to link (``Target.threads`` false; see
:func:`codegen.cpu.host.threads_available`) get the direct call only: the same
worker, no reference to libgomp.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import I32, I64, PTR, KernelContext, i64

# Chunks per thread in a threaded loop: enough to even out a thread that runs late, few
# enough that each still amortizes what a chunk repeats (a GEMM packs A once per chunk).
_CHUNKS_PER_THREAD = 4

# Below this much work per thread, a second thread costs more (waking it, sharing the
# caches) than it saves. Starting and joining a team of 2 for two trivial items measured
# 10.8 us per call against 0.3 us on the calling thread (2-vCPU Zen 4, shared with other
# jobs); 2**18 simple operations is ~10 us of work on one core, so a kernel gets a second
# thread from ~0.5 M operations up.
MIN_COST_PER_THREAD = 1 << 18

NUM_THREADS_SYMBOL = "horn_num_threads"

Body = Callable[[KernelContext, ll.Value, ll.Value, list], None]


def parallel_for(ctx: KernelContext, count: ll.Value, body: Body, *, cost_per_item: int | ll.Value,
                 captures: Sequence[ll.Value] = (), max_threads: ll.Value | None = None,
                 min_grain: int = 1) -> None:
    """Runs ``body`` over items ``[0, count)``, split in contiguous chunks across threads.

    ``count`` and ``cost_per_item`` are i64 values (or Python ints); see the module
    docstring for the worker's contract and the threading policy. ``max_threads`` (i64)
    caps the team further: pass the value :func:`max_threads` returned when per-thread
    scratch was sized with it (the setting may change between the two reads).
    ``min_grain``: the fewest items a chunk may have, for bodies that repeat some setup
    per call (a GEMM packs A per chunk of columns). The builder of ``ctx`` ends up after
    the (joined) loop.
    """
    from codegen.cpu.host import threads_available
    b = ctx.builder
    count = i64(count) if isinstance(count, int) else count
    cost = i64(cost_per_item) if isinstance(cost_per_item, int) else cost_per_item
    captures = list(captures)
    for c in captures:
        if not (isinstance(c.type, ll.PointerType) or c.type == I64):
            raise TypeError(f"parallel_for captures i64 and pointer values; received one of type {c.type}")
    kernel_args = _kernel_args(ctx)
    worker = _emit_worker(ctx, kernel_args, captures, body)
    direct_args = [*kernel_args, i64(0), count, i64(0), *captures]
    if not threads_available():
        b.call(worker, direct_args)
        return

    # Threads worth using: bounded by the setting, the items, and the work per thread.
    total = b.mul(count, cost)
    by_cost = b.sdiv(total, i64(MIN_COST_PER_THREAD))
    want = _setting(ctx) if max_threads is None else max_threads
    n = _smin(b, _smin(b, want, count), by_cost)
    with b.if_else(b.icmp_signed("<=", n, i64(1))) as (serial, threaded):
        with serial:
            b.call(worker, direct_args)
        with threaded:
            # The arguments travel as i64 words (pointers through ptrtoint): one array, so the
            # trampoline needs no struct type shared with this function.
            fields = [*kernel_args, count, *captures]
            # One more word after the fields: the next unclaimed item (see _emit_trampoline).
            slot = _entry_alloca(ctx, ll.ArrayType(I64, len(fields) + 1))
            for i, f in enumerate(fields):
                word = b.ptrtoint(f, I64) if isinstance(f.type, ll.PointerType) else f
                b.store(word, b.gep(slot, [i64(0), i64(i)], inbounds=True))
            b.store(i64(0), b.gep(slot, [i64(0), i64(len(fields))], inbounds=True))
            slot = b.bitcast(slot, PTR)
            tramp = _emit_trampoline(ctx.module, worker, [f.type for f in fields], len(kernel_args),
                                     len(captures), min_grain)
            b.call(_omp(ctx.module, "GOMP_parallel"), [tramp, slot, b.trunc(n, I32), ll.Constant(I32, 0)])


def _setting(ctx: KernelContext) -> ll.Value:
    """The thread setting as i64: ``horn_num_threads``, or OpenMP's default where that is below 1."""
    b = ctx.builder
    want = b.sext(b.load(_num_threads_global(ctx.module), typ=I32), I64)
    default = b.sext(b.call(_omp(ctx.module, "omp_get_max_threads"), []), I64)
    return b.select(b.icmp_signed("<", want, i64(1)), default, want)


def max_threads(ctx: KernelContext) -> ll.Value:
    """An i64 bound on the threads a later ``parallel_for(..., max_threads=<it>)`` uses (>= 1).

    For sizing per-thread scratch before the loop; :func:`thread_index` picks the slot.
    """
    from codegen.cpu.host import threads_available
    if not threads_available():
        return i64(1)
    n = _setting(ctx)
    return ctx.builder.select(ctx.builder.icmp_signed("<", n, i64(1)), i64(1), n)


def thread_index(wctx: KernelContext) -> ll.Value:
    """In a worker of :func:`parallel_for`: this thread's index in the loop's team, as i64.

    0 when the loop runs on the calling thread, even where that thread is itself one of
    an enclosing team (a kernel called from another kernel's worker), so a slot of scratch
    sized with :func:`max_threads` for this loop is never shared.
    """
    slot = getattr(wctx.function, "horn_thread_slot", None)
    if slot is None:
        raise ValueError("thread_index is for the workers of parallel_for; "
                         f"{wctx.function.name} is not one")
    return slot


def rebind(b: ll.IRBuilder, value: ll.Value) -> ll.Value:
    """``value`` as seen from the function ``b`` writes into.

    A kernel argument (``ctx.inputs[i]``, ``ctx.outputs[j]``, ``ctx.sym``) used in code
    that ends up in a worker is the worker's argument at the same position: workers
    keep the kernel's argument layout. Anything else (constants, globals, values of
    ``b``'s own function) is returned as is. Epilogues and other callbacks that may run
    inside a worker (a parallel GEMM's) reach the kernel's tensors through this.
    """
    if isinstance(value, ll.Argument) and value.parent is not b.function:
        return b.function.args[value.parent.args.index(value)]
    return value


def _kernel_args(ctx: KernelContext) -> list[ll.Value]:
    return [ctx.sym, *ctx.inputs, *ctx.outputs]


def _unique(module: ll.Module, base: str) -> str:
    k = 0
    while f"{base}{k}" in module.globals:
        k += 1
    return f"{base}{k}"


def _emit_worker(ctx: KernelContext, kernel_args: list[ll.Value], captures: list[ll.Value],
                 body: Body) -> ll.Function:
    n_in, n_out = len(ctx.inputs), len(ctx.outputs)
    # (kernel args.., lo, hi, thread slot, captures..)
    types = [PTR] * len(kernel_args) + [I64, I64, I64] + [c.type for c in captures]
    fn = ll.Function(ctx.module, ll.FunctionType(ll.VoidType(), types),
                     _unique(ctx.module, f"{ctx.function.name}.par"))
    fn.linkage = "internal"
    # As the kernel's own buffer arguments: distinct tensors never overlap, and saying so
    # is what lets LLVM vectorize loops that load one and store another.
    for arg in fn.args[1:len(kernel_args)]:
        arg.add_attribute("noalias")
    wb = ll.IRBuilder(fn.append_basic_block("entry"))
    wctx = KernelContext(ctx.module, fn, wb, ctx.node, ctx.sym_index,
                         inputs=list(fn.args[1:1 + n_in]), outputs=list(fn.args[1 + n_in:1 + n_in + n_out]))
    lo, hi, slot = fn.args[len(kernel_args):len(kernel_args) + 3]
    lo.name, hi.name, slot.name = "lo", "hi", "thread"
    fn.horn_thread_slot = slot            # what thread_index(wctx) returns
    body(wctx, lo, hi, list(fn.args[len(kernel_args) + 3:]))
    wctx.builder.ret_void()
    return fn


def _emit_trampoline(module: ll.Module, worker: ll.Function, types: list[ll.Type],
                     n_kernel_args: int, n_captures: int, min_grain: int) -> ll.Function:
    """``void tramp(ptr data)``: what each OpenMP thread runs; computes its chunk, calls the worker."""
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [PTR]), _unique(module, f"{worker.name}.omp"))
    fn.linkage = "internal"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    data = fn.args[0]

    def field(i: int) -> ll.Value:
        word = b.load(b.gep(data, [i64(i)], inbounds=True, source_etype=I64), typ=I64)
        return b.inttoptr(word, types[i]) if isinstance(types[i], ll.PointerType) else word

    kargs = [field(i) for i in range(n_kernel_args)]
    count = field(n_kernel_args)
    caps = [field(n_kernel_args + 1 + i) for i in range(n_captures)]
    # Threads claim chunks of about count / (4 * threads) items from a shared counter until
    # none are left: a thread that the OS deschedules (the cores are shared) holds up only
    # its current chunk, not a fixed half of the work.
    nth = b.sext(b.call(_omp(module, "omp_get_num_threads"), []), I64)
    tid = b.sext(b.call(_omp(module, "omp_get_thread_num"), []), I64)
    per = b.mul(nth, i64(_CHUNKS_PER_THREAD))
    grain = b.sdiv(b.add(count, b.sub(per, i64(1))), per)
    grain = b.select(b.icmp_signed("<", grain, i64(min_grain)), i64(max(1, min_grain)), grain)
    next_item = b.gep(data, [i64(len(types))], inbounds=True, source_etype=I64)
    loop = b.append_basic_block("claim")
    run = b.append_basic_block("run")
    done = b.append_basic_block("done")
    b.branch(loop)
    b.position_at_end(loop)
    lo = b.atomic_rmw("add", next_item, grain, "monotonic")
    b.cbranch(b.icmp_signed("<", lo, count), run, done)
    b.position_at_end(run)
    b.call(worker, [*kargs, lo, _smin(b, b.add(lo, grain), count), tid, *caps])
    b.branch(loop)
    b.position_at_end(done)
    b.ret_void()
    return fn


def _smin(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _entry_alloca(ctx: KernelContext, ty: ll.Type) -> ll.Value:
    b, here = ctx.builder, ctx.builder.block
    b.position_at_start(ctx.function.entry_basic_block)
    slot = b.alloca(ty, name="par.args")
    b.position_at_end(here)
    return slot


def _num_threads_global(module: ll.Module) -> ll.GlobalVariable:
    g = module.globals.get(NUM_THREADS_SYMBOL)
    if g is None:
        g = ll.GlobalVariable(module, I32, NUM_THREADS_SYMBOL)   # external: the process defines it
    return g


_OMP_TYPES = {
    "GOMP_parallel": ll.FunctionType(ll.VoidType(), [PTR, PTR, I32, I32]),
    "omp_get_thread_num": ll.FunctionType(I32, []),
    "omp_get_num_threads": ll.FunctionType(I32, []),
    "omp_get_max_threads": ll.FunctionType(I32, []),
}


def _omp(module: ll.Module, name: str) -> ll.Function:
    fn = module.globals.get(name)
    if fn is None:
        fn = ll.Function(module, _OMP_TYPES[name], name)
    return fn


def uses_threads(llvm_ir: str) -> bool:
    """Whether generated IR calls into the OpenMP runtime (then it needs libgomp loaded or linked)."""
    return re.search(r'@"?GOMP_parallel"?\(', llvm_ir) is not None

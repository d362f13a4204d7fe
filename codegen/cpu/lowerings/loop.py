"""CPU lowering of ``scan``: a native loop that calls the compiled body once per step.

The body graph is compiled by the graph compiler itself (``compile_graph`` into
this module, symbols prefixed with the scan kernel's name) into a function
``void body(ptr sym, ptr table)`` with its own kernels and its own memory plan.
The scan kernel then

1. ``malloc``\\s one 64-byte-aligned scratch block per call, sized from the
   run-time sizes: the body's planned temporaries, two buffers per carry (the
   body reads one and writes the other; they swap each step), one contiguous
   slice per sequence and one per per-step output;
2. copies the initial carries in, then for ``i`` in ``0 .. T-1`` (``t = i``, or
   ``T-1-i`` when reversed) gathers ``sequences[:, t]`` into the slice buffers
   (sequences are batch-major, so a step's slice is ``batch`` strided rows: one
   ``memcpy`` per row; over the whole loop that moves each sequence once, as a
   transpose to time-major would, without a second full-size buffer), calls the
   body, scatters the per-step outputs into ``stacked[:, t]`` and swaps carries;
3. copies the final carries out and frees the block.

Nothing depends on ``T`` but the trip count, so compile time and code size are
the same for every length, and a symbolic ``T`` serves all of them.
"""
from __future__ import annotations

import llvmlite.ir as ll

from codegen.cpu.kernel import I1, I8, I64, PTR, KernelContext, LoweringError, add, for_range, i64, lowering, mul
from codegen.cpu.lowerings._support import declare, entry_alloca
from ir.attrs import ScanAttrs
from ir.opcodes import Op
from ir.ops.loop import split_operands
from ir.shapes import Shape, SymDim, element_count

ALIGN = 64


def _round_up(b: ll.IRBuilder, n: ll.Value) -> ll.Value:
    if isinstance(n, ll.Constant):
        return i64((int(n.constant) + ALIGN - 1) // ALIGN * ALIGN)
    return b.and_(b.add(n, i64(ALIGN - 1)), i64(-ALIGN))


def _memcpy(b: ll.IRBuilder, dst: ll.Value, src: ll.Value, nbytes: ll.Value) -> None:
    fn = declare(b.module, "llvm.memcpy.p0.p0.i64", ll.VoidType(), [PTR, PTR, I64, I1])
    b.call(fn, [dst, src, nbytes, ll.Constant(I1, 0)])


def _byte_ptr(b: ll.IRBuilder, base: ll.Value, offset: ll.Value) -> ll.Value:
    return b.gep(base, [offset], inbounds=True, source_etype=I8)


@lowering(Op.SCAN)
def _scan(ctx: KernelContext) -> None:
    from codegen.cpu.compiler import BufferRole, compile_graph   # the compiler imports the emitters

    node, b = ctx.node, ctx.builder
    a: ScanAttrs = node.attrs
    nc = a.num_carry
    prefix = ctx.function.name[2:] + "/"          # the kernel is k_<prefix><node name>
    body = compile_graph(a.body, entry=f"body_{prefix[:-1]}", module=ctx.module, prefix=prefix)
    body_fn = ctx.module.get_global(body.entry)
    body_fn.linkage = "internal"

    def nbytes(dtype, shape: Shape) -> ll.Value:
        n = i64(dtype.itemsize)
        for d in shape:
            n = mul(b, n, ctx.dim(d))
        return n

    carries, seqs, invs = split_operands(node.inputs, a)
    c_ptrs, s_ptrs, k_ptrs = split_operands(ctx.inputs, a)
    length = ctx.dim(seqs[0].shape[1])
    batch = ctx.dim(seqs[0].shape[0])
    step_outs = a.body.outputs[nc:]

    # -- the body's symbol array: its own order, values from ours --------------------------
    missing = [s for s in body.sym_names if s not in ctx.sym_index]
    if missing:
        raise LoweringError(f"scan {node.name}: body dimension(s) {', '.join(missing)} are not sizes "
                            f"of the enclosing graph")
    bsym = entry_alloca(b, I64, max(1, len(body.sym_names)), name="body_sym")
    for i, s in enumerate(body.sym_names):
        b.store(ctx.dim(SymDim(s)), b.gep(bsym, [i64(i)], source_etype=I64))

    # -- one scratch block: body temporaries, carries (x2), slices, step outputs ------------
    layout: list[ll.Value] = []
    total: ll.Value = i64(0)

    def reserve(n: ll.Value) -> ll.Value:
        nonlocal total
        at = total
        total = add(b, total, _round_up(b, n))
        return at

    temp_slots = [i for i, s in enumerate(body.buffers) if s.role is BufferRole.TEMP]
    temp_off: dict[int, ll.Value] = {}
    for monomial, (offsets, extent) in _plan_temps(body, temp_slots).items():
        scale = i64(1)
        for sym in monomial:
            scale = mul(b, scale, ctx.dim(SymDim(sym)))
        at = reserve(mul(b, i64(extent), scale))
        for slot, off in offsets.items():
            temp_off[slot] = add(b, at, mul(b, i64(off), scale))
    carry_bytes = [nbytes(v.dtype, v.shape) for v in carries]
    carry_off = [(reserve(n), reserve(n)) for n in carry_bytes]
    slice_bytes = [nbytes(v.dtype, v.shape[2:]) for v in seqs]          # one row of one step
    slice_off = [reserve(mul(b, batch, n)) for n in slice_bytes]
    out_row = [nbytes(v.dtype, v.shape[1:]) for v in step_outs]
    out_off = [reserve(mul(b, batch, n)) for n in out_row]

    malloc = declare(b.module, "malloc", PTR, [I64])
    free = declare(b.module, "free", ll.VoidType(), [PTR])
    raw = b.call(malloc, [add(b, total, i64(ALIGN))], name="scan_scratch")
    addr = b.ptrtoint(raw, I64)
    base = b.inttoptr(b.and_(b.add(addr, i64(ALIGN - 1)), i64(-ALIGN)), PTR, name="scratch")

    table = entry_alloca(b, PTR, max(1, len(body.buffers)), name="body_table")

    def set_slot(slot: int, ptr: ll.Value) -> None:
        b.store(ptr, b.gep(table, [i64(slot)], source_etype=PTR))

    in_slots = [i for i, s in enumerate(body.buffers) if s.role is BufferRole.INPUT]
    out_slots = [i for i, s in enumerate(body.buffers) if s.role is BufferRole.OUTPUT]
    ns = a.num_sequences
    for s in temp_slots:
        set_slot(s, _byte_ptr(b, base, temp_off[s]))
    for k, p in enumerate(k_ptrs):
        set_slot(in_slots[nc + ns + k], p)
    for j in range(ns):
        set_slot(in_slots[nc + j], _byte_ptr(b, base, slice_off[j]))
    for j in range(len(step_outs)):
        set_slot(out_slots[nc + j], _byte_ptr(b, base, out_off[j]))

    cur = [entry_alloca(b, PTR, name=f"carry{i}") for i in range(nc)]
    nxt = [entry_alloca(b, PTR, name=f"carry{i}.next") for i in range(nc)]
    for i in range(nc):
        first, second = (_byte_ptr(b, base, o) for o in carry_off[i])
        _memcpy(b, first, c_ptrs[i], carry_bytes[i])
        b.store(first, cur[i])
        b.store(second, nxt[i])

    with for_range(b, 0, length, name="step") as i:
        t = b.sub(b.sub(length, i64(1)), i) if a.reverse else i
        # gather sequences[:, t] (batch rows of one step) into the contiguous slice buffers
        for j in range(ns):
            dst = _byte_ptr(b, base, slice_off[j])
            with for_range(b, 0, batch, name=f"gather{j}") as row:
                src = b.add(b.mul(row, length), t)
                _memcpy(b, _byte_ptr(b, dst, b.mul(row, slice_bytes[j])),
                        _byte_ptr(b, s_ptrs[j], b.mul(src, slice_bytes[j])), slice_bytes[j])
        for k in range(nc):
            set_slot(in_slots[k], b.load(cur[k], typ=PTR))
            set_slot(out_slots[k], b.load(nxt[k], typ=PTR))
        b.call(body_fn, [bsym, table])
        # scatter the per-step outputs into stacked[:, t]
        for j in range(len(step_outs)):
            src_base = _byte_ptr(b, base, out_off[j])
            with for_range(b, 0, batch, name=f"scatter{j}") as row:
                dst = b.add(b.mul(row, length), t)
                _memcpy(b, _byte_ptr(b, ctx.outputs[nc + j], b.mul(dst, out_row[j])),
                        _byte_ptr(b, src_base, b.mul(row, out_row[j])), out_row[j])
        for k in range(nc):
            old, new = b.load(cur[k], typ=PTR), b.load(nxt[k], typ=PTR)
            b.store(new, cur[k])
            b.store(old, nxt[k])

    for k in range(nc):
        _memcpy(b, ctx.outputs[k], b.load(cur[k], typ=PTR), carry_bytes[k])
    b.call(free, [raw])


def _plan_temps(body, temp_slots: list[int]) -> dict[tuple, tuple[dict[int, int], int]]:
    """Static placement of the body's temporaries, valid for every binding of the sizes.

    Temporaries are grouped by the symbols their byte size is a product of (``4*N``,
    ``16*N*N``, ``48``); within a group sizes are ``coef * m`` for one run-time ``m``,
    so a first-fit placement of the 64-rounded coefficients (buffers live at the same
    step never overlap) scaled by ``m`` stays valid and aligned for every ``m``. Each
    group gets its own region. Returns ``monomial -> ({slot: offset coef}, extent coef)``.
    Lifetimes come from the body's recorded kernel order (``CompiledModule.steps``).
    """
    span: dict[int, list[int]] = {}
    for i, step in enumerate(getattr(body, "steps", ()) or ()):
        for s in (*step.reads, *step.writes):
            span.setdefault(s, [i, i])[1] = i
    whole = [0, max(len(getattr(body, "steps", ()) or ()), 1)]   # no record: live throughout
    groups: dict[tuple, list[tuple[int, int, int, int]]] = {}
    for s in temp_slots:
        spec = body.buffers[s]
        count = element_count(spec.shape)
        coef = -(-count.coef * spec.dtype.itemsize // ALIGN) * ALIGN
        first, last = span.get(s, whole)
        groups.setdefault(tuple(count.syms), []).append((s, coef, first, last))
    out = {}
    for monomial, bufs in groups.items():
        placed: list[tuple[int, int, int, int]] = []     # (offset, coef, first, last)
        offsets = {}
        for s, coef, first, last in sorted(bufs, key=lambda x: (-x[1], x[2], x[0])):
            conflicts = sorted((p for p in placed if p[2] <= last and first <= p[3]), key=lambda p: p[0])
            at = 0
            for off, size, _, _ in conflicts:
                if at + coef <= off:
                    break
                at = max(at, off + size)
            offsets[s] = at
            placed.append((at, coef, first, last))
        out[monomial] = (offsets, max((p[0] + p[1] for p in placed), default=0))
    return out

"""CPU lowering of FUSED groups (``passes.fusion``): one kernel per group.

Every body node is computed in registers with ``emit_scalar``, the rules of the
unfused elementwise kernels, so a group gives the same bits as its nodes run
one by one. Only the group's operands are loaded (each through its own
broadcast strides) and only its outputs are stored.

* ELEMENTWISE: one loop nest over the iteration shape, planned by
  ``broadcast_plan`` (unit axes dropped, axes merged while every operand walks
  them alike, innermost loop unit-stride so LLVM vectorizes it); the outer
  loop is split across threads by ``parallel_for`` when the group is large.
* REDUCTION: the reduction loops of ``reduction.py`` (a scalar accumulator
  when the innermost axis is reduced, a tile of accumulators when it is kept),
  whose element load is the prologue evaluated in registers; prologue values
  the graph needs elsewhere are stored as they are computed; the tail runs on
  each finished result.
* MATMUL_EPILOGUE / CONV_EPILOGUE: the GEMM and convolution kernels with an
  ``Epilogue`` that runs the tail on each block of accumulators. A matmul's
  operands may be transposes (last two axes) of group inputs, read in place
  through swapped strides, and its result may be summed over the batch axis
  (``emit_batch_summed_matmul_into``: one GEMM, contraction over batch x K).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import (I64, KernelContext, LoweringError, add, for_range, i64, lltype, loop_nest,
                                lowering, mul)
from codegen.cpu.host import cpu_info
from codegen.cpu.lowerings._support import (call_intrinsic, compute_dtype, entry_alloca, lanes, offset,
                                            product, splat)
from codegen.cpu.lowerings.elementwise import broadcast_plan, emit_scalar
from codegen.cpu.lowerings.linalg import emit_batch_summed_matmul_into, emit_matmul_into
from codegen.cpu.lowerings.reduction import _KINDS, TILE, _Fold, _reducer
from codegen.cpu.lowerings.window import emit_conv_into
from codegen.cpu.parallel import parallel_for, rebind
from ir.attrs import ArgReduceAttrs, FusedAttrs, FusionKind
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import ARG_REDUCE_OPS, ELEMENTWISE_OPS, REDUCE_OPS, Op
from ir.shapes import Shape
from passes.fusion import is_last_two_swap

# Work per element of a group, in the "simple operations" parallel_for counts, per body node.
_COST_PER_NODE = 2


# ---------------------------------------------------------------------------------------------
# evaluating body nodes on register values

class _Env:
    """Register values of body values at the current loop position; operands load lazily."""

    def __init__(self, b: ll.IRBuilder, load: Callable[[Value], ll.Value], lanes: int | None = None):
        self.b = b
        self._load = load
        self.lanes = lanes          # constants are splatted to this many lanes (None: scalars)
        self.values: dict[Value, ll.Value] = {}

    def get(self, v: Value) -> ll.Value:
        got = self.values.get(v)
        if got is None:
            if v.kind is ValueKind.INPUT:
                got = self._load(v)
            elif v.producer.op is Op.CONSTANT:
                got = splat(self.b, _constant(v), self.lanes)
            else:
                raise LoweringError(f"fused body value %{v.name} is used before it is computed")
            self.values[v] = got
        return got

    def run(self, nodes: Sequence[Node]) -> None:
        for n in nodes:
            if n.op is Op.CONSTANT:
                continue                       # materialized on first use, as an immediate
            if n.op is Op.BROADCAST_TO:
                # The operand is read at the group's indices through broadcast strides already.
                self.values[n.output] = self.get(n.inputs[0])
            elif n.op in ELEMENTWISE_OPS:
                self.values[n.output] = emit_scalar(self.b, n.op, n.attrs, [v.dtype for v in n.inputs],
                                                    n.output.dtype, [self.get(v) for v in n.inputs])
            else:
                raise LoweringError(f"fused body node {n.name} ({n.op}) is not elementwise")


def _constant(v: Value) -> ll.Constant:
    arr = v.producer.attrs.value
    if arr.size != 1:
        raise LoweringError(f"fused body constant %{v.name} has {arr.size} elements; only scalar "
                            f"constants are inlined (the fusion pass passes larger ones as operands)")
    x = arr.reshape(()).item()
    ty = lltype(v.dtype)
    return ll.Constant(ty, int(x) if not v.dtype.is_floating else float(x))


def _outputs(ctx: KernelContext) -> dict[Value, list[ll.Value]]:
    body: Graph = ctx.node.attrs.body
    # A body value returned twice is stored twice: each output has its own buffer.
    out: dict[Value, list[ll.Value]] = {}
    for v, ptr in zip(body.outputs, ctx.outputs):
        out.setdefault(v, []).append(ptr)
    return out


# ---------------------------------------------------------------------------------------------
# ELEMENTWISE

def _emit_elementwise(ctx: KernelContext) -> None:
    body: Graph = ctx.node.attrs.body
    shape = body.outputs[0].shape
    if any(v.shape != shape for n in body.nodes if n.op is not Op.CONSTANT for v in n.outputs):
        raise LoweringError(f"{ctx.node.name}: an elementwise group computes every value at one shape")
    extents, _ = broadcast_plan(ctx, shape, [v.shape for v in body.inputs])
    nodes = [n for n in body.nodes if n.op is not Op.CONSTANT]
    if not extents:
        _elementwise_loops(ctx, None, None)
        return
    inner = product(ctx.builder, extents[1:])
    cost = mul(ctx.builder, inner, i64(_COST_PER_NODE * max(1, len(nodes))))
    parallel_for(ctx, extents[0], lambda wctx, lo, hi, caps: _elementwise_loops(wctx, lo, hi),
                 cost_per_item=cost)


def _elementwise_loops(ctx: KernelContext, lo: ll.Value | None, hi: ll.Value | None) -> None:
    """The loop nest over the group's shape; the outermost loop covers ``[lo, hi)`` only."""
    b = ctx.builder
    body: Graph = ctx.node.attrs.body
    shape = body.outputs[0].shape
    extents, strides = broadcast_plan(ctx, shape, [v.shape for v in body.inputs])
    out_strides = ctx.strides(extents)
    stride_of = dict(zip(body.inputs, strides))
    ptr_of = dict(zip(body.inputs, ctx.inputs))
    outputs = _outputs(ctx)
    nodes = body.nodes

    def inner(ivs: list[ll.Value]) -> None:
        env = _Env(b, lambda v: ctx.load(ptr_of[v], v.dtype, offset(b, ivs, stride_of[v])))
        env.run(nodes)
        at = offset(b, ivs, out_strides)
        for v, ptrs in outputs.items():
            for p in ptrs:
                ctx.store(env.get(v), p, v.dtype, at)

    if lo is None:
        inner([])
        return
    with for_range(b, lo, hi, name="o") as i0:
        with loop_nest(b, extents[1:], name="e") as ivs:
            inner([i0, *ivs])


# ---------------------------------------------------------------------------------------------
# REDUCTION

def _split_reduction(body: Graph) -> tuple[Node, list[Node], list[Node]]:
    """The reduction, its prologue (nodes at the input's shape) and tail (at the result's shape).

    The fusion pass never fuses into a reduction whose input and result shapes are equal,
    so the shape says where a node runs; the reads are checked to match.
    """
    anchors = [n for n in body.nodes if n.op in REDUCE_OPS or n.op in ARG_REDUCE_OPS]
    if len(anchors) != 1:
        raise LoweringError(f"a reduction group holds one reduction, body @{body.name} has {len(anchors)}")
    anchor = anchors[0]
    in_shape, out_shape = anchor.inputs[0].shape, anchor.output.shape
    if in_shape == out_shape:
        raise LoweringError(f"body @{body.name}: a fused reduction must change the shape")
    nodes = [n for n in body.nodes if n is not anchor and n.op is not Op.CONSTANT]
    pro = [n for n in nodes if n.output.shape == in_shape]
    tail = [n for n in nodes if n.output.shape != in_shape]
    pro_set = set(pro)
    for n in tail:
        if n.output.shape != out_shape or any(v.producer in pro_set for v in n.inputs
                                              if v.kind is ValueKind.NODE):
            raise LoweringError(f"body @{body.name}: {n.name} is neither prologue nor tail")
    for n in [*pro, anchor]:
        if any(v.kind is ValueKind.NODE and v.producer.op is not Op.CONSTANT and v.producer not in pro_set
               for v in n.inputs):
            raise LoweringError(f"body @{body.name}: the prologue node {n.name} reads a tail value")
    return anchor, pro, tail


def _tail_view(shape: Shape, out_shape: Shape, in_rank: int, axes: tuple[int, ...],
               keepdims: bool) -> tuple:
    """``shape`` (broadcastable to the reduction's result) as a shape over the input's axes."""
    lead = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    if keepdims:
        return lead
    it = iter(lead)
    return tuple(1 if i in axes else next(it) for i in range(in_rank))


class _Reduction:
    """The loop plan of a reduction group, computed from a kernel (or worker) context."""

    def __init__(self, ctx: KernelContext):
        self.ctx = ctx
        b = ctx.builder
        body: Graph = ctx.node.attrs.body
        self.anchor, self.pro, self.tail = _split_reduction(body)
        anchor = self.anchor
        x = self.x = anchor.inputs[0]
        in_shape, out_shape = x.shape, anchor.output.shape
        if anchor.op in ARG_REDUCE_OPS:
            a: ArgReduceAttrs = anchor.attrs
            axes, keepdims = (a.axis,), a.keepdims
        else:
            axes, keepdims = anchor.attrs.axes, anchor.attrs.keepdims
        self.reducer = _reducer(anchor.op, x.dtype)
        tail_inputs = {v for n in self.tail for v in n.inputs if v.kind is ValueKind.INPUT}
        self.ptr_of = dict(zip(body.inputs, ctx.inputs))
        # Every tensor read or written, as a shape over the input's axes; the first is the
        # result's (1 on the reduced axes), so a merged run is reduced iff its stride there is 0.
        views = [_tail_view(out_shape, out_shape, len(in_shape), axes, keepdims)]
        views += [_tail_view(v.shape, out_shape, len(in_shape), axes, keepdims) if v in tail_inputs
                  else v.shape for v in body.inputs]
        self.extents, strides = broadcast_plan(ctx, in_shape, views)
        self.out_st, self.in_st = strides[0], dict(zip(body.inputs, strides[1:]))
        self.red = [k for k, st in enumerate(self.out_st) if isinstance(st, ll.Constant) and st.constant == 0]
        self.kept = [k for k in range(len(self.extents)) if k not in self.red]
        self.x_st = ctx.strides(self.extents)                      # prologue values: the input's shape
        self.red_st = ctx.strides([self.extents[k] for k in self.red])   # index along reduced axes
        self.count = product(b, [self.extents[k] for k in self.red])
        outputs = _outputs(ctx)
        pro = set(self.pro)
        self.pro_out = {v: ptrs for v, ptrs in outputs.items() if v.producer in pro}
        self.res_out = {v: ptrs for v, ptrs in outputs.items() if v.producer not in pro}

    @property
    def last_reduced(self) -> bool:
        return not self.extents or not self.kept or self.red[-1:] == [len(self.extents) - 1]

    def full(self, kivs: Sequence[ll.Value], rivs: Sequence[ll.Value]) -> list[ll.Value]:
        """Indices per run from the kept and the reduced loops' induction variables."""
        ivs: list[ll.Value] = [i64(0)] * len(self.extents)
        for k, iv in zip(self.kept, kivs):
            ivs[k] = iv
        for k, iv in zip(self.red, rivs):
            ivs[k] = iv
        return ivs

    def element(self, ivs: list[ll.Value], width: int | None = None) -> ll.Value:
        """The reduction's operand at ``ivs`` (``width`` lanes along the innermost run), prologue
        values the graph needs stored on the way."""
        ctx, b = self.ctx, self.ctx.builder

        def load(v: Value) -> ll.Value:
            st = self.in_st[v]
            at = offset(b, ivs, st)
            if width is None or isinstance(st[-1], ll.Constant) and st[-1].constant == 0:
                return splat(b, ctx.load(self.ptr_of[v], v.dtype, at), width)
            return b.load(ctx.element_ptr(self.ptr_of[v], v.dtype, at),
                          typ=ll.VectorType(lltype(v.dtype), width), align=v.dtype.itemsize)

        env = _Env(b, load, lanes=width)
        env.run(self.pro)
        if self.pro_out:
            at = offset(b, ivs, self.x_st)
            for v, ptrs in self.pro_out.items():
                for p in ptrs:
                    b.store(env.get(v), ctx.element_ptr(p, v.dtype, at), align=v.dtype.itemsize)
        return env.get(self.x)

    def finish(self, result: ll.Value, ivs: list[ll.Value]) -> None:
        """Stores the result and the tail at the output position of ``ivs`` (reduced entries unused)."""
        ctx, b = self.ctx, self.ctx.builder
        env = _Env(b, lambda v: ctx.load(self.ptr_of[v], v.dtype, offset(b, ivs, self.in_st[v])))
        env.values[self.anchor.output] = result
        env.run(self.tail)
        at = offset(b, ivs, self.out_st)
        for v, ptrs in self.res_out.items():
            for p in ptrs:
                ctx.store(env.get(v), p, v.dtype, at)


@contextlib.contextmanager
def _nest(b: ll.IRBuilder, extents: Sequence[ll.Value], lo: ll.Value | None, hi: ll.Value | None,
          name: str) -> Iterator[list[ll.Value]]:
    """``loop_nest`` whose outermost loop covers ``[lo, hi)`` only (a thread's share) when given."""
    if lo is None or not extents:
        with loop_nest(b, extents, name=name) as ivs:
            yield ivs
        return
    with for_range(b, lo, hi, name=f"{name}0") as i0:
        with loop_nest(b, extents[1:], name=name) as ivs:
            yield [i0, *ivs]


def _emit_reduction(ctx: KernelContext) -> None:
    """Splits the outermost kept loop across threads when there is one."""
    plan = _Reduction(ctx)
    outer = plan.kept if plan.last_reduced else plan.kept[:-1]
    if not outer:
        _reduction_loops(ctx, None, None)
        return
    b = ctx.builder
    items = plan.extents[outer[0]]
    per_item = mul(b, b.sdiv(product(b, plan.extents), items),
                   i64(_COST_PER_NODE * (len(plan.pro) + 1)))
    parallel_for(ctx, items, lambda wctx, lo, hi, caps: _reduction_loops(wctx, lo, hi),
                 cost_per_item=per_item)


def _reduction_loops(ctx: KernelContext, lo: ll.Value | None, hi: ll.Value | None) -> None:
    plan = _Reduction(ctx)
    if plan.last_reduced:
        inner = plan.extents[-1] if plan.extents else i64(1)
        lanes_ = cpu_info().lanes(compute_dtype(plan.x.dtype))
        # Rows shorter than two vectors spend more on the tails and the horizontal sum than
        # they gain (10 classes of a softmax): the scalar loop, which LLVM unrolls, wins there.
        if plan.anchor.op in _KINDS and not (isinstance(inner, ll.Constant)
                                             and int(inner.constant) < 2 * lanes_):
            _last_reduced_vector(plan, lo, hi)
        else:
            _last_reduced_scalar(plan, lo, hi)
    else:
        _last_kept(plan, lo, hi)


def _last_reduced_scalar(plan: _Reduction, lo, hi) -> None:
    """One scalar accumulator per output (argmax/argmin, or nothing to vectorize)."""
    b, reducer, ext = plan.ctx.builder, plan.reducer, plan.extents
    slots = [entry_alloca(b, t, name="acc") for t in reducer.acc_types]
    with _nest(b, [ext[k] for k in plan.kept], lo, hi, name="k") as kivs:
        for sl, v in zip(slots, reducer.init()):
            b.store(v, sl)
        with loop_nest(b, [ext[k] for k in plan.red], name="r") as rivs:
            acc = tuple(b.load(sl, typ=t) for sl, t in zip(slots, reducer.acc_types))
            xv = reducer.load(b, plan.element(plan.full(kivs, rivs)))
            for sl, v in zip(slots, reducer.step(b, acc, xv, offset(b, rivs, plan.red_st))):
                b.store(v, sl)
        acc = tuple(b.load(sl, typ=t) for sl, t in zip(slots, reducer.acc_types))
        plan.finish(reducer.finish(b, acc, plan.count), plan.full(kivs, []))


def _last_reduced_vector(plan: _Reduction, lo, hi) -> None:
    """Innermost run reduced: the prologue runs on vectors of ``lanes`` elements along it, into
    two vector accumulators (their adds overlap), then a scalar tail."""
    b, ext = plan.ctx.builder, plan.extents
    fold = _Fold(plan.x.dtype, _KINDS[plan.anchor.op])
    lanes_ = cpu_info().lanes(compute_dtype(plan.x.dtype))
    vty = ll.VectorType(fold.acc, lanes_)
    vslots = [entry_alloca(b, vty, name="vacc") for _ in range(2)]
    sslot = entry_alloca(b, fold.acc, name="sacc")
    inner = ext[-1]
    with _nest(b, [ext[k] for k in plan.kept], lo, hi, name="k") as kivs:
        for sl in vslots:
            b.store(fold.init(lanes_), sl)
        b.store(fold.init(None), sslot)
        with loop_nest(b, [ext[k] for k in plan.red[:-1]], name="r") as rivs:
            def add_at(j: ll.Value, width: int | None, slot: ll.Value) -> None:
                x = fold.load(b, plan.element(plan.full(kivs, [*rivs, j]), width))
                b.store(fold.step(b, b.load(slot, typ=slot.allocated_type), x), slot)

            big = b.and_(inner, i64(-2 * lanes_))
            with for_range(b, 0, big, step=2 * lanes_, name="u") as j:
                add_at(j, lanes_, vslots[0])
                add_at(b.add(j, i64(lanes_)), lanes_, vslots[1])
            vec = b.and_(inner, i64(-lanes_))
            with for_range(b, big, vec, step=lanes_, name="v") as j:
                add_at(j, lanes_, vslots[0])
            with for_range(b, vec, inner, name="s") as j:
                add_at(j, None, sslot)
        both = fold.step(b, b.load(vslots[0], typ=vty), b.load(vslots[1], typ=vty))
        total = fold.step(b, fold.across(b, both), b.load(sslot, typ=fold.acc))
        plan.finish(fold.finish(b, total, plan.count), plan.full(kivs, []))


def _last_kept(plan: _Reduction, lo, hi) -> None:
    """Innermost run kept: a tile of it accumulates while the reduced runs are walked outside."""
    b, reducer, ext = plan.ctx.builder, plan.reducer, plan.extents
    inner = ext[-1]
    outer = plan.kept[:-1]
    static = isinstance(inner, ll.Constant)
    tile = min(TILE, int(inner.constant)) if static else TILE
    tiles = [entry_alloca(b, t, tile, name="tile") for t in reducer.acc_types]

    def elem(arr: ll.Value, ty: ll.Type, k: ll.Value) -> ll.Value:
        return b.gep(arr, [k], inbounds=True, source_etype=ty)

    with _nest(b, [ext[k] for k in outer], lo, hi, name="k") as kivs:
        with for_range(b, 0, inner, step=tile, name="t") as t0:
            # A constant trip count when the kept run fits one tile helps the vectorizer.
            width = i64(tile) if static and tile == int(inner.constant) else \
                call_intrinsic(b, "smin", i64(tile), b.sub(inner, t0))
            with for_range(b, 0, width, name="z") as k:
                for arr, t, v in zip(tiles, reducer.acc_types, reducer.init()):
                    b.store(v, elem(arr, t, k))
            with loop_nest(b, [ext[r] for r in plan.red], name="r") as rivs:
                with for_range(b, 0, width, name="j") as k:
                    acc = tuple(b.load(elem(arr, t, k), typ=t) for arr, t in zip(tiles, reducer.acc_types))
                    xv = reducer.load(b, plan.element(plan.full([*kivs, add(b, t0, k)], rivs)))
                    for arr, v in zip(tiles, reducer.step(b, acc, xv, offset(b, rivs, plan.red_st))):
                        b.store(v, elem(arr, v.type, k))
            with for_range(b, 0, width, name="w") as k:
                acc = tuple(b.load(elem(arr, t, k), typ=t) for arr, t in zip(tiles, reducer.acc_types))
                plan.finish(reducer.finish(b, acc, plan.count), plan.full([*kivs, add(b, t0, k)], []))


# ---------------------------------------------------------------------------------------------
# MATMUL_EPILOGUE / CONV_EPILOGUE

def _dim_in(b: ll.IRBuilder, ctx: KernelContext, d) -> ll.Value:
    """``ctx.dim(d)`` read in the function ``b`` writes into (a GEMM worker, maybe)."""
    if isinstance(d, int):
        return i64(d)
    slot = b.gep(rebind(b, ctx.sym), [i64(ctx.sym_index[d.name])], source_etype=I64)
    return b.load(slot, typ=I64)


def _epilogue(ctx: KernelContext, result: Value, tail: list[Node], primary: int):
    """The Epilogue running ``tail`` on a block of accumulators of ``result`` (the matmul's or
    conv's value, or its batch sum); stores every output but ``primary``."""
    body: Graph = ctx.node.attrs.body
    out_shape = result.shape
    rank = len(out_shape)
    index_of_input = {v: i for i, v in enumerate(body.inputs)}

    def epilogue(b: ll.IRBuilder, row: ll.Value, col: ll.Value, acc: ll.Value) -> ll.Value:
        w = lanes(acc.type)
        # The GEMM may call this inside a worker function: reach the tensors through rebind.
        ins = [rebind(b, p) for p in ctx.inputs]
        outs = [rebind(b, p) for p in ctx.outputs]
        ncols = _dim_in(b, ctx, out_shape[-1])
        at = b.add(b.mul(row, ncols), col)

        def vec_load(ptr: ll.Value, v: Value, index: ll.Value) -> ll.Value:
            p = b.gep(ptr, [index], inbounds=True, source_etype=lltype(v.dtype))
            if w is None:
                return b.load(p, typ=lltype(v.dtype))
            return b.load(p, typ=ll.VectorType(lltype(v.dtype), w), align=v.dtype.itemsize)

        def load(v: Value) -> ll.Value:
            ptr = ins[index_of_input[v]]
            lead = (1,) * (rank - len(v.shape)) + tuple(v.shape)
            walks_rows = any(d != 1 for d in lead[:-1])
            walks_cols = lead[-1] != 1
            if walks_rows and walks_cols:
                return vec_load(ptr, v, at)
            if walks_cols:
                return vec_load(ptr, v, col)
            x = b.load(b.gep(ptr, [row if walks_rows else i64(0)], inbounds=True,
                             source_etype=lltype(v.dtype)), typ=lltype(v.dtype))
            return splat(b, x, w)

        env = _Env(b, load, lanes=w)
        env.values[result] = acc
        env.run(tail)
        for k, (v, ptr) in enumerate(zip(body.outputs, outs)):
            if k == primary:
                continue
            x = env.get(v)
            b.store(x, b.gep(ptr, [at], inbounds=True, source_etype=lltype(v.dtype)),
                    align=v.dtype.itemsize)
        return env.get(body.outputs[primary])

    return epilogue


def _emit_epilogue_group(ctx: KernelContext) -> None:
    body: Graph = ctx.node.attrs.body
    kind = ctx.node.attrs.kind
    op = Op.MATMUL if kind is FusionKind.MATMUL_EPILOGUE else Op.CONV
    anchors = [n for n in body.nodes if n.op is op]
    if len(anchors) != 1:
        raise LoweringError(f"{ctx.node.name}: a {kind} group holds one {op} of the group's operands")
    anchor = anchors[0]
    # A matmul operand may be transpose(input) swapping the last two axes: read in place.
    operands, transposed, prologue = [], [], set()
    for v in anchor.inputs:
        t = v.producer if v.kind is ValueKind.NODE else None
        if op is Op.MATMUL and t is not None and t.op is Op.TRANSPOSE and t.inputs[0].kind is ValueKind.INPUT \
                and is_last_two_swap(t.attrs.perm):
            operands.append(t.inputs[0])
            transposed.append(True)
            prologue.add(t)
        elif v.kind is ValueKind.INPUT:
            operands.append(v)
            transposed.append(False)
        else:
            raise LoweringError(f"{ctx.node.name}: a {kind} group's {op} reads group operands or their "
                                f"transposes (last two axes), not %{v.name}")
    # reduce_sum(matmul, axes=(0,)) reading only the matmul: the batch-summed GEMM.
    users = [u for u, _ in anchor.output.uses]
    summed = users[0] if (op is Op.MATMUL and len(users) == 1 and users[0].op is Op.REDUCE_SUM
                          and users[0].attrs.axes == (0,) and not users[0].attrs.keepdims) else None
    result = summed.output if summed is not None else anchor.output
    if any(v is anchor.output for v in body.outputs) and summed is not None:
        raise LoweringError(f"{ctx.node.name}: a batch-summed matmul cannot also return the products")
    tail = [n for n in body.nodes if n is not anchor and n is not summed and n not in prologue]
    acc_type = result.type
    primary = next((k for k, v in enumerate(body.outputs) if v.type == acc_type), None)
    if primary is None:
        raise LoweringError(f"{ctx.node.name}: a {kind} group must return a {acc_type} value for "
                            f"the {op} kernel to store")
    ptr_of = dict(zip(body.inputs, ctx.inputs))
    lhs, rhs = operands
    epilogue = _epilogue(ctx, result, tail, primary) if tail or len(body.outputs) > 1 else None
    out_ptr = ctx.outputs[primary]
    if op is Op.MATMUL:
        emit = emit_batch_summed_matmul_into if summed is not None else emit_matmul_into
        emit(ctx, ptr_of[lhs], ptr_of[rhs], out_ptr, lhs.type, rhs.type, acc_type, epilogue,
             lhs_transposed=transposed[0], rhs_transposed=transposed[1])
    else:
        emit_conv_into(ctx, ptr_of[lhs], ptr_of[rhs], out_ptr, lhs.type, rhs.type, acc_type,
                       anchor.attrs, epilogue)


# ---------------------------------------------------------------------------------------------
# dispatch

@lowering(Op.FUSED)
def emit_fused(ctx: KernelContext) -> None:
    """One kernel for a whole fusion group, by kind."""
    attrs: FusedAttrs = ctx.node.attrs
    if attrs.kind is FusionKind.ELEMENTWISE:
        _emit_elementwise(ctx)
    elif attrs.kind is FusionKind.REDUCTION:
        _emit_reduction(ctx)
    else:
        _emit_epilogue_group(ctx)

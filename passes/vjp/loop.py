"""The VJP of ``scan``: a reverse scan over the saved carries, and scan surgery.

Forward ``F``: operands ``[c0, xs, inv]``, body ``B(c, x_t, inv) -> (c', y_t)``.
The rule

1. rebuilds the forward scan as ``F'`` whose body also stacks the carry each step
   *consumed* (``Cs[:, t]``, batch-major like every stacked output), inserts it in
   place of ``F`` and moves ``F``'s users to it (``F`` is left dead for DCE; when
   nobody asks for gradients no scan ever stacks its carries);
2. builds the backward body ``BB``: a copy of ``B`` on ``(c_t, x_t, inv)`` and, by
   ``passes.autodiff.gradients`` of ``sum(c' * dc) + sum(y_t * dy_t)``, the
   cotangents of ``c_t``, ``x_t`` and ``inv``;
3. emits the backward scan ``G`` (the opposite direction of ``F``) whose carries
   are the carry cotangents and one accumulator per invariant (weight
   cotangents summed over steps), whose sequences are ``xs``, ``Cs`` and the
   cotangents of the stacked outputs, and whose per-step outputs are ``dx_t``.

The body is recomputed from the saved carry in the backward step (memory
``O(T * carries)``, not ``O(T * body)``), except for the carry-dependent matrix
products (:func:`checkpoints`, switch ``CHECKPOINT_PRODUCTS``), which ``F'`` also
stacks so that the backward step reads them instead of redoing the GEMM; a
sequence the backward body then no longer reads is not passed to ``G``. Only
carries the body reads are saved (an overwritten one has a zero cotangent). Sums
of padded slice cotangents in ``BB`` become one concat (:func:`pads_to_concat`).
Carries with a gradient must be batch-first, as stacked outputs are; a scalar
carry gets a clear error.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ir.attrs import BroadcastAttrs, CastAttrs, ConcatAttrs, ReduceAttrs, ScanAttrs
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from ir.ops.loop import slice_type, split_operands
from passes.vjp.emit import Emit


# Save carry-dependent matrix products in the forward scan (see :func:`checkpoints`); off
# recomputes them in the backward body, as for every other value.
CHECKPOINT_PRODUCTS = True


def _floating(v: Value) -> bool:
    return v.dtype.is_floating


def subgraph(body: Graph, inputs: Sequence[int], outputs: Sequence[Value], name: str | None = None) -> Graph:
    """A new graph with ``body``'s inputs at ``inputs`` (in that order) and the given outputs.

    Only the nodes the outputs need are copied; a dropped input must not be needed.
    """
    g = Graph(name or body.name)
    vmap: dict[int, Value] = {}
    for i in inputs:
        v = body.inputs[i]
        vmap[id(v)] = g.add_input(v.type, v.name)
    needed: set[int] = set()
    stack = [o.producer for o in outputs if o.kind is ValueKind.NODE]
    while stack:
        n = stack.pop()
        if id(n) in needed:
            continue
        needed.add(id(n))
        stack.extend(v.producer for v in n.inputs if v.kind is ValueKind.NODE)
    for n in body.nodes:
        if id(n) not in needed:
            continue
        missing = [v.name for v in n.inputs if id(v) not in vmap]
        if missing:
            raise AssertionError(f"scan body @{body.name}: node {n.name} needs dropped input(s) "
                                 f"{', '.join(missing)}")
        new = g.add_node(n.op, [vmap[id(v)] for v in n.inputs], n.attrs, n.name)
        for a, b in zip(n.outputs, new.outputs):
            vmap[id(a)] = b
    for o in outputs:
        if id(o) not in vmap:
            raise AssertionError(f"scan body @{body.name}: output %{o.name} needs a dropped input")
    g.set_outputs(vmap[id(o)] for o in outputs)
    return g


def _reaches(body: Graph, start: Value) -> set[int]:
    """ids of the values of ``body`` that depend on ``start``."""
    seen = {id(start)}
    for n in body.nodes:
        if any(id(v) in seen for v in n.inputs):
            seen.update(id(o) for o in n.outputs)
    return seen


def removable_carries(graph: Graph, node: Node) -> list[int]:
    """Carries of scan ``node`` whose final value is unused and that feed no other output.

    Such a carry only feeds itself (the weight-cotangent accumulator of an invariant
    nobody differentiates with respect to), so dropping it changes nothing else.
    """
    a: ScanAttrs = node.attrs
    out = []
    for i in range(a.num_carry):
        if graph.is_live(node.outputs[i]):
            continue
        reach = _reaches(a.body, a.body.inputs[i])
        if not any(id(o) in reach for j, o in enumerate(a.body.outputs) if j != i):
            out.append(i)
    return out


def rebuild_scan(graph: Graph, node: Node, *, keep_steps: Sequence[int],
                 drop_carries: Sequence[int] = ()) -> Node:
    """A copy of scan ``node`` (inserted before it) with only the stacked outputs ``keep_steps``
    and without the carries ``drop_carries`` (see :func:`removable_carries`).

    Invariants the remaining body no longer reads are dropped too. Results come in
    the old order, less the dropped ones; the caller moves the users over and the
    old node is left for DCE.
    """
    a: ScanAttrs = node.attrs
    body = a.body
    c, s = a.num_carry, a.num_sequences
    keep_c = [i for i in range(c) if i not in set(drop_carries)]
    outs = [body.outputs[i] for i in keep_c] + [body.outputs[c + i] for i in keep_steps]
    # Which inputs are still read once the dropped outputs' nodes are gone.
    trimmed = subgraph(body, range(len(body.inputs)), outs)
    used = {i for i, v in enumerate(trimmed.inputs) if v.uses or any(o is v for o in trimmed.outputs)}
    keep_inv = [i for i in range(c + s, len(body.inputs)) if i in used]
    new_body = subgraph(trimmed, [*keep_c, *range(c, c + s), *keep_inv], trimmed.outputs)
    operands = [*(node.inputs[i] for i in keep_c), *node.inputs[c:c + s],
                *(node.inputs[i] for i in keep_inv)]
    attrs = ScanAttrs(new_body, len(keep_c), s, len(keep_inv), a.reverse)
    return graph.add_node(Op.SCAN, operands, attrs, node.name, before=node)


def unused_invariants(node: Node) -> bool:
    a: ScanAttrs = node.attrs
    start = a.num_carry + a.num_sequences
    return any(not v.uses and all(o is not v for o in a.body.outputs) for v in a.body.inputs[start:])


def _with_saved_carries(graph: Graph, node: Node, saved: list[int], values: Sequence[Value] = ()) -> Node:
    """``node`` rebuilt so its body also outputs the carries ``saved`` it consumed, then the
    body ``values``, each stacked."""
    a: ScanAttrs = node.attrs
    body, vmap = a.body.copy()
    body.set_outputs([*body.outputs, *(body.inputs[i] for i in saved), *(vmap[v] for v in values)])
    attrs = ScanAttrs(body, a.num_carry, a.num_sequences, a.num_invariants, a.reverse)
    new = graph.add_node(Op.SCAN, node.inputs, attrs, f"{node.name}/saving", before=node)
    for old, fresh in zip(node.outputs, new.outputs):
        graph.replace_all_uses(old, fresh)
    return new


def _zeros(g: Graph, type, name: str) -> Value:
    zero = g.add_constant(np.zeros((), type.dtype.numpy), name=f"{name}/zero")
    if type.rank == 0:
        return zero
    return g.add_node(Op.BROADCAST_TO, [zero], BroadcastAttrs(type.shape), name=f"{name}/zeros").output


def _pad_axis(node: Node) -> tuple[int, int, int] | None:
    """``(axis, low, high)`` when ``node`` zero-pads exactly one axis, else None."""
    if node.op is not Op.PAD or node.attrs.value != 0.0:
        return None
    padded = [(i, lo, hi) for i, (lo, hi) in enumerate(node.attrs.pads) if lo or hi]
    return padded[0] if len(padded) == 1 else None


def pads_to_concat(g: Graph) -> int:
    """Rewrites sums of zero-pads that tile one axis into one ``concat`` of their operands.

    The cotangent of a value split into slices (an LSTM's four gates) is the sum of
    each slice's cotangent padded back to full width: as many full-size writes and
    reads as slices, where a concat writes the result once. A sum qualifies when it
    is a tree of same-typed ``add``\\s (inner ones used once) whose leaves pad the same
    axis and whose pieces tile it exactly. Returns the number of sums rewritten.
    """
    def leaves(v: Value, root: bool) -> list[Value] | None:
        n = v.producer if v.kind is ValueKind.NODE else None
        if n is not None and n.op is Op.ADD and (root or len(v.uses) == 1) \
                and all(x.type == v.type for x in n.inputs):
            parts = [leaves(x, False) for x in n.inputs]
            return None if any(p is None for p in parts) else [x for p in parts for x in p]
        return [v] if n is not None and _pad_axis(n) is not None else None

    done = 0
    for n in list(g.nodes):
        if n.op is not Op.ADD or any(u.op is Op.ADD and len(n.output.uses) == 1 for u, _ in n.output.uses):
            continue                                   # an inner add: handled from its root
        pieces = leaves(n.output, True)
        if not pieces:
            continue
        spans = sorted(((_pad_axis(p.producer), i) for i, p in enumerate(pieces)), key=lambda t: t[0][1])
        axes = {a for (a, _, _), _ in spans}
        if len(axes) != 1:
            continue
        (axis,) = axes
        width = n.output.shape[axis]
        at, ok = 0, True
        for (_, lo, hi), i in spans:
            size = pieces[i].producer.inputs[0].shape[axis]
            ok = ok and lo == at and lo + size + hi == width
            at = lo + size
        if not ok or at != width:
            continue
        srcs = [pieces[i].producer.inputs[0] for _, i in spans]
        cat = g.add_node(Op.CONCAT, srcs, ConcatAttrs(axis), name=f"{n.name}/concat", before=n).output
        g.replace_all_uses(n.output, cat)
        _remove_dead(g, n)
        done += 1
    return done


def _remove_dead(g: Graph, node: Node) -> None:
    """Removes ``node`` and, transitively, the producers it leaves unused."""
    stack = [node]
    while stack:
        n = stack.pop()
        if any(g.is_live(o) for o in n.outputs) or not any(m is n for m in g.nodes):
            continue
        ins = [v.producer for v in n.inputs if v.kind is ValueKind.NODE]
        g.remove_node(n)
        stack.extend(ins)


def checkpoints(body: Graph, carries: Sequence[int], batch) -> list[Value]:
    """Values of ``body`` the forward scan saves so that the backward body need not recompute them.

    Each is a matrix product that depends on a carry (the recurrent projection ``h @ U``),
    taken after the same-shaped ``add``\\s that are its only use (``x_t + h @ U``): the
    backward step then reads the gate pre-activations instead of redoing the GEMM, for
    one more stacked output the size of a sequence it no longer reads. Batch-first
    floating values only, as every stacked output is.
    """
    live: set[int] = set()
    for i in carries:
        live |= _reaches(body, body.inputs[i])
    out: list[Value] = []
    for n in body.nodes:
        if n.op is not Op.MATMUL or id(n.output) not in live:
            continue
        v = n.output
        while len(v.uses) == 1 and v.uses[0][0].op is Op.ADD and v.uses[0][0].output.type == v.type:
            v = v.uses[0][0].output
        if (v.type.rank >= 1 and v.shape[0] == batch and v.dtype.is_floating
                and all(v is not o for o in out)):
            out.append(v)
    return out


def _scan_vjp(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    from passes.autodiff import gradients   # autodiff imports this table

    a: ScanAttrs = node.attrs
    nc, ns = a.num_carry, a.num_sequences
    carries, seqs, invs = split_operands(node.inputs, a)
    body = a.body
    batch = seqs[0].shape[0]
    dcar = [i for i, v in enumerate(carries) if _floating(v)]
    dseq = [i for i, v in enumerate(seqs) if _floating(v)]
    dinv = [i for i, v in enumerate(invs) if _floating(v)]
    for i in dcar:
        if carries[i].type.rank < 1 or carries[i].shape[0] != batch:
            raise ValueError(f"scan {node.name}: carry {i} ({carries[i].type}) must be batch-first "
                             f"(batch {batch}, ...) to be saved for its gradient")
    n_steps = len(body.outputs) - nc
    step_cts = [(j, ct) for j, ct in enumerate(cts[nc:nc + n_steps]) if ct is not None
                and _floating(body.outputs[nc + j])]

    if not step_cts and all(cts[i] is None for i in dcar):
        return [None] * len(node.inputs)
    # Only carries the body reads are saved: one it merely overwrites (the last output that
    # a Keras RNN carries beside its states) has a zero cotangent and needs no stacking.
    read = [i for i in dcar if body.inputs[i].uses or any(o is body.inputs[i] for o in body.outputs)]
    kept = checkpoints(body, read, batch) if CHECKPOINT_PRODUCTS else []
    fwd = _with_saved_carries(graph, node, read, kept)
    saved = list(fwd.outputs[len(node.outputs):])
    e = Emit(graph, node)

    # -- the backward body --------------------------------------------------------------
    bb = Graph(f"{body.name}/vjp")
    dc_in = [bb.add_input(carries[i].type, f"d_carry_{i}") for i in dcar]
    acc_in = [bb.add_input(invs[i].type, f"d_inv_{i}") for i in dinv]
    x_in = [bb.add_input(slice_type(s.type), f"x_{i}") for i, s in enumerate(seqs)]
    c_in = {i: bb.add_input(carries[i].type, f"carry_{i}") for i in read}
    kept_in = [bb.add_input(v.type, f"saved_{k}") for k, v in enumerate(kept)]
    dy_in = [bb.add_input(slice_type(ct.type), f"d_y_{j}") for j, ct in step_cts]
    inv_in = [bb.add_input(v.type, f"inv_{i}") for i, v in enumerate(invs)]
    # Carries without a gradient (integer counters) are not saved: only floating ones
    # are, and a body reading an integer carry cannot be recomputed from the saves.
    for i, v in enumerate(carries):
        if i not in c_in and (body.inputs[i].uses or any(o is body.inputs[i] for o in body.outputs)):
            raise ValueError(f"scan {node.name}: the body reads integer carry {i} ({v.type}); "
                             f"differentiating such a loop is not supported")
    vmap: dict[int, Value] = {}
    for i, v in enumerate(body.inputs):
        if i < nc:
            if i in c_in:
                vmap[id(v)] = c_in[i]
        elif i < nc + ns:
            vmap[id(v)] = x_in[i - nc]
        else:
            vmap[id(v)] = inv_in[i - nc - ns]
    for n in body.nodes:
        new = bb.add_node(n.op, [vmap[id(v)] for v in n.inputs], n.attrs, n.name)
        for old, fresh in zip(n.outputs, new.outputs):
            vmap[id(old)] = fresh
    outs = [vmap[id(o)] for o in body.outputs]

    # The objective whose gradient is the VJP: <c', dc> + <y_t, dy_t>.
    terms = [(outs[i], d) for i, d in zip(dcar, dc_in)] + [(outs[nc + j], d)
                                                          for (j, _), d in zip(step_cts, dy_in)]
    obj = None
    for value, ct in terms:
        prod = bb.add_node(Op.MUL, [value, ct], name="vjp/dot").output
        term = bb.add_node(Op.REDUCE_SUM, [prod], ReduceAttrs(tuple(range(prod.type.rank))),
                           name="vjp/dot").output
        if obj is not None and term.dtype != obj.dtype:
            term = bb.add_node(Op.CAST, [term], CastAttrs(obj.dtype), name="vjp/cast").output
        obj = term if obj is None else bb.add_node(Op.ADD, [obj, term], name="vjp/objective").output
    wrt = [c_in[i] for i in read] + [x_in[i] for i in dseq] + [inv_in[i] for i in dinv]
    grads = gradients(bb, obj, wrt)
    g_read, g_x, g_i = grads[:len(read)], grads[len(read):len(read) + len(dseq)], grads[len(read) + len(dseq):]
    by_carry = dict(zip(read, g_read))
    g_c = [by_carry[i] if i in by_carry else _zeros(bb, carries[i].type, f"grad/carry_{i}") for i in dcar]
    new_acc = [bb.add_node(Op.ADD, [acc, g], name="vjp/accumulate").output for acc, g in zip(acc_in, g_i)]
    bb.set_outputs([*g_c, *new_acc, *g_x])
    # Saved values replace their recomputation (the same numbers), and what computed them
    # goes unless the gradient still needs it.
    for v, fresh in zip(kept, kept_in):
        old = vmap[id(v)]
        bb.replace_all_uses(old, fresh)
        _remove_dead(bb, old.producer)
    pads_to_concat(bb)

    # -- the backward scan ----------------------------------------------------------------
    # Sequences the backward body no longer reads (the inputs of a saved projection) are
    # not gathered each step; one sequence always remains (the saves or the cotangents).
    dys = [ct for _, ct in step_cts]
    seq_operands = [*seqs, *saved, *dys]
    seq_inputs = [*x_in, *c_in.values(), *kept_in, *dy_in]
    keep_seq = [k for k, v in enumerate(seq_inputs) if v.uses or any(o is v for o in bb.outputs)]
    if len(keep_seq) < len(seq_inputs) and keep_seq:
        first = len(dc_in) + len(acc_in)
        bb = subgraph(bb, [*range(first), *(first + k for k in keep_seq),
                           *range(first + len(seq_inputs), len(bb.inputs))], bb.outputs, bb.name)
        seq_operands = [seq_operands[k] for k in keep_seq]

    init_dc = [cts[i] if cts[i] is not None else e.zeros(carries[i].type) for i in dcar]
    init_acc = [e.zeros(invs[i].type) for i in dinv]
    attrs = ScanAttrs(bb, len(dcar) + len(dinv), len(seq_operands), len(invs), not a.reverse)
    back = graph.add_node(Op.SCAN, [*init_dc, *init_acc, *seq_operands, *invs], attrs,
                          f"grad/{node.name}/scan")
    res = list(back.outputs)
    d_c0, d_inv, d_xs = res[:len(dcar)], res[len(dcar):len(dcar) + len(dinv)], res[len(dcar) + len(dinv):]
    out: list[Value | None] = [None] * len(node.inputs)
    for i, v in zip(dcar, d_c0):
        out[i] = v
    for i, v in zip(dseq, d_xs):
        out[nc + i] = v
    for i, v in zip(dinv, d_inv):
        out[nc + ns + i] = v
    return out


RULES = {Op.SCAN: _scan_vjp}

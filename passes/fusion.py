"""Fusion: contract chains of nodes into FUSED kernel groups.

Every node of the graph is one kernel today, so ``relu(x @ w + b)`` reads and
writes its ``[N, units]`` result three times and an Adam update of one weight
runs a dozen passes over memory. This pass groups nodes into FUSED nodes (see
``ir/attrs.py: FusedAttrs``) that the CPU backend lowers to one loop each:

* **elementwise** groups: elementwise ops (compares, select and cast included,
  and ``broadcast_to``) whose results all have one shape, the group's
  *iteration shape*. Smaller operands are read through numpy broadcasting, so
  a scalar learning rate or a bias vector never needs its own kernel. Any
  number of results leave the group (the m', v' and p' of an Adam update);
* **reduction** groups: a reduction whose operand is computed on the fly by an
  elementwise *prologue* at the reduction's input shape, and an elementwise
  *tail* on its result (softmax's ``exp``/sum, a loss's ``log``/sum/negate);
* **epilogue** groups: a matmul or conv whose result feeds an elementwise tail
  of the same shape (bias add, activation, residual add), computed on the
  accumulators before they are stored. A matmul also takes in the
  ``transpose`` of the last two axes of an operand (read through strides, no
  copy) when the matmul is its only reader, and a ``reduce_sum`` over axis 0
  of its (N, M, K) @ (N, K, P) result (the weight gradients of Dense and conv
  layers: one GEMM whose contraction runs over the batch too, with no
  per-example product); the tail then runs on the sum.

The grouping is greedy in topological order: each fusible node joins the
groups of its producers that accept it (same iteration shape; at most one
matmul/conv/reduction per group), and contracting must leave the graph of
groups acyclic: merging groups S is refused when some node outside S lies on
a path between two members of S (checked by a bounded search over the
networkx DAG of groups, and the final DAG is checked acyclic again). A value
that is a graph output, the new value of a graph update, or read by a node
outside its group stays materialized as an output of the FUSED node.

Scalar constants are copied into the bodies (they become immediates in the
generated code); larger constants stay operands. Reshapes are buffer aliases
and constants LLVM globals, so neither is a kernel and neither is grouped.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import networkx as nx

from ir.attrs import FusedAttrs, FusionKind
from ir.dtypes import DType
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import ARG_REDUCE_OPS, ELEMENTWISE_OPS, REDUCE_OPS, Op
from ir.shapes import Shape, SymDim
from ir.printer import regions
from passes.regions import run_in_regions
from passes.pass_manager import PassResult

# Ops that cost no kernel: the CPU compiler aliases reshapes and makes constants globals.
FREE_OPS = frozenset({Op.CONSTANT, Op.RESHAPE})
# broadcast_to is a strided read of its operand, so inside a group it costs nothing.
POINTWISE_OPS = ELEMENTWISE_OPS | {Op.BROADCAST_TO}
REDUCTION_OPS = REDUCE_OPS | ARG_REDUCE_OPS
# Matmul/conv accumulate in the operand dtype; the fused GEMM and conv kernels exist for floats.
EPILOGUE_DTYPES = frozenset({DType.float32, DType.float64})


def kernel_count(graph: Graph) -> int:
    """How many kernels the CPU backend emits for ``graph`` (constants and reshapes are free)."""
    return sum(n.op not in FREE_OPS for n in graph.nodes)


def unfused_kernel_count(graph: Graph) -> int:
    """The kernel count ``graph`` had before fusion: each FUSED node counts its body's kernels."""
    return sum(kernel_count(n.attrs.body) if n.op is Op.FUSED else n.op not in FREE_OPS
               for n in graph.nodes)


def fusion_report(graph: Graph) -> str:
    """One line for a fused graph: kernels before and after fusion, and the groups by kind."""
    kinds = Counter(str(n.attrs.kind) for n in graph.nodes if n.op is Op.FUSED)
    groups = ", ".join(f"{k} {c}" for k, c in sorted(kinds.items())) or "none"
    return (f"kernels: {unfused_kernel_count(graph)} before fusion, {kernel_count(graph)} after; "
            f"groups: {groups}")


def fusion(graph: Graph, *, elementwise: bool = True, reductions: bool = True,
           epilogues: bool = True, matmul_operands: bool = True) -> PassResult:
    """Groups fusible nodes into FUSED nodes; returns a new graph (the input is consumed).

    ``elementwise`` forms elementwise groups, ``reductions`` lets reductions absorb
    their elementwise producers and consumers, ``epilogues`` lets matmul and conv
    absorb their elementwise consumers (and, with ``matmul_operands``, a matmul its
    operands' last-two-axes transposes and a sum of its result over the batch axis).
    With all of them off the graph is unchanged.
    ``fusion_report(result.graph)`` gives the kernel counts before and after.
    """
    # A scan's step runs T times per call: its body is fused like any graph (measured on the
    # length-200 LSTM classifier: 1072 -> 1223 samples/s). FUSED bodies are not re-fused.
    in_loops = run_in_regions(graph, lambda body: fusion(body, elementwise=elementwise,
                                                         reductions=reductions, epilogues=epilogues,
                                                         matmul_operands=matmul_operands),
                              ops={Op.SCAN})
    planner = _Planner(graph, elementwise=elementwise, reductions=reductions, epilogues=epilogues,
                       matmul_operands=matmul_operands)
    groups = planner.plan()
    if not any(len(g.nodes) > 1 for g in groups):
        return PassResult(graph, in_loops)
    return PassResult(_build(graph, groups), True)


# ---------------------------------------------------------------------------------------------
# planning: which nodes go together

@dataclass(eq=False)
class _Group:
    nodes: list[Node]
    kind: FusionKind | None = None        # None: not (yet) fused with anything
    anchor: Node | None = None            # the matmul, conv or reduction of the group
    shape: Shape | None = None            # the shape elementwise members must have
    prologue: set[Node] = field(default_factory=set)   # a reduction's operand chain; a matmul's transposes
    summed: Node | None = None            # a matmul group's reduce_sum over the batch axis
    minpos: int = 0
    maxpos: int = 0


def _is_small_constant(v: Value) -> bool:
    return (v.kind is ValueKind.NODE and v.producer.op is Op.CONSTANT
            and v.producer.attrs.value.size == 1)


def is_last_two_swap(perm: tuple[int, ...]) -> bool:
    """Whether ``perm`` swaps the last two axes and keeps the others in place."""
    r = len(perm)
    return r >= 2 and tuple(perm) == (*range(r - 2), r - 1, r - 2)


def _epilogue_operand_ok(shape: Shape, out: Shape) -> bool:
    """Whether a matmul/conv epilogue can read an operand of ``shape`` at each (row, col).

    The epilogue sees the result as a matrix (every axis but the last is the row), so
    an operand must be a scalar, vary along the columns only (a bias), along the rows
    only (``[..., 1]``), or have the result's full shape (a residual).
    """
    if len(shape) > len(out):
        return False
    lead = (1,) * (len(out) - len(shape)) + tuple(shape)
    rows, col = lead[:-1], lead[-1] if lead else 1
    if col not in (1, out[-1]):
        return False
    return all(d == 1 for d in rows) or rows == tuple(out[:-1])


class _Planner:
    def __init__(self, graph: Graph, *, elementwise: bool, reductions: bool, epilogues: bool,
                 matmul_operands: bool = True):
        self.graph = graph
        self.opts = (elementwise, reductions, epilogues)
        self.matmul_operands = matmul_operands and epilogues
        self._fixed_values: set[int] | None = None
        self.pos = {n: i for i, n in enumerate(graph.nodes)}
        self.group_of: dict[Node, _Group] = {}
        self.dag = nx.DiGraph()            # groups, an edge where one feeds another

    # -- the greedy walk ------------------------------------------------------------------
    def plan(self) -> list[_Group]:
        elementwise, reductions, epilogues = self.opts
        for node in self.graph.nodes:
            if node.op in FREE_OPS:
                continue
            g = self._singleton(node)
            if node.op in POINTWISE_OPS:
                self._absorb(g, elementwise)
            elif node.op is Op.REDUCE_SUM and self.matmul_operands and self._sum_into_matmul(g):
                pass
            elif node.op in REDUCTION_OPS and reductions:
                self._anchor_reduction(g)
            elif node.op in (Op.MATMUL, Op.CONV) and epilogues \
                    and node.output.dtype in EPILOGUE_DTYPES:
                g.kind = FusionKind.MATMUL_EPILOGUE if node.op is Op.MATMUL else FusionKind.CONV_EPILOGUE
                g.anchor, g.shape = node, node.output.shape
                if node.op is Op.MATMUL and self.matmul_operands:
                    self._take_transposes(g)
        groups = list(dict.fromkeys(self.group_of.values()))
        return self._finish(groups)

    def _singleton(self, node: Node) -> _Group:
        p = self.pos[node]
        g = _Group([node], minpos=p, maxpos=p)
        self.group_of[node] = g
        self.dag.add_node(g)
        for v in node.inputs:
            src = self._group_of_value(v)
            if src is not None:
                self.dag.add_edge(src, g)
        return g

    def _group_of_value(self, v: Value) -> _Group | None:
        """The group producing ``v``, looking through reshapes (an alias carries the dependency)."""
        while v.kind is ValueKind.NODE and v.producer.op is Op.RESHAPE:
            v = v.producer.inputs[0]
        if v.kind is not ValueKind.NODE or v.producer.op is Op.CONSTANT:
            return None
        return self.group_of[v.producer]

    def _absorb(self, g: _Group, elementwise: bool) -> None:
        """An elementwise node joins the producer groups that accept it, as many as legal.

        Without ``elementwise`` it may still become the tail of a matmul, conv or reduction,
        but forms no group of elementwise nodes alone.
        """
        node = g.nodes[0]
        g.shape = node.output.shape
        g.kind = FusionKind.ELEMENTWISE if elementwise else None
        members = [g]
        anchored = None
        cands = []
        for v in node.inputs:
            if v.kind is ValueKind.NODE and v.producer in self.group_of:
                c = self.group_of[v.producer]
                if c not in cands and c is not g:
                    cands.append(c)
        # Anchored groups first: an epilogue or a reduction tail saves the most memory traffic.
        cands.sort(key=lambda c: c.anchor is None)
        for c in cands:
            if c.shape != g.shape or c.kind is None or c.anchor is None and not elementwise:
                continue
            if c.anchor is not None and anchored is not None:
                continue
            trial = members + [c]
            if not self._compatible(trial, c.anchor or anchored) or not self._acyclic_merge(trial):
                continue
            members = trial
            anchored = anchored or c.anchor
        if len(members) > 1:
            merged = self._merge(members)
            merged.kind = merged.kind or FusionKind.ELEMENTWISE

    def _anchor_reduction(self, g: _Group) -> None:
        """A reduction takes its operand's elementwise group as prologue, and accepts a tail."""
        node = g.nodes[0]
        v = node.inputs[0]
        if v.shape == node.output.shape:
            # A reduction that keeps the shape (over unit axes) would leave prologue and tail
            # indistinguishable by shape, which is how the lowering tells them apart.
            return
        g.kind, g.anchor, g.shape = FusionKind.REDUCTION, node, node.output.shape
        if v.kind is not ValueKind.NODE or v.producer not in self.group_of:
            return
        c = self.group_of[v.producer]
        if c.kind is FusionKind.ELEMENTWISE and c.shape == v.shape and self._acyclic_merge([g, c]):
            prologue = set(c.nodes)
            merged = self._merge([g, c])
            merged.kind, merged.anchor, merged.shape = FusionKind.REDUCTION, node, node.output.shape
            merged.prologue = prologue

    def _sole_reader(self, v: Value, node: Node) -> bool:
        """Whether ``node`` is the only reader of ``v`` (which is no graph output or update)."""
        if any(v is o for o in self.graph.outputs) or any(v is u for _, u in self.graph.updates):
            return False
        return all(u is node for u, _ in v.uses)

    def _fixed(self, v: Value) -> bool:
        """Whether ``v`` depends on parameters the graph does not update and constants only: such
        a value is computed once per weight version (``runtime.hoist``), not once per call."""
        if self._fixed_values is None:
            updated = {id(p) for p, _ in self.graph.updates}
            fixed = {id(p) for p in self.graph.params if id(p) not in updated}
            for n in self.graph.nodes:
                if all(id(x) in fixed for x in n.inputs):
                    fixed.update(id(x) for x in n.outputs)
            self._fixed_values = fixed
        return id(v) in self._fixed_values

    def _take_transposes(self, g: _Group) -> None:
        """A matmul reads an operand ``transpose(x)`` (last two axes swapped) as ``x`` with swapped
        strides: the transpose joins the group when the matmul is its only reader, unless
        ``x`` is a fixed weight (an inference graph's: hoisted, the transpose runs once)."""
        node = g.nodes[0]
        for v in dict.fromkeys(node.inputs):
            if v.kind is not ValueKind.NODE or v.producer.op is not Op.TRANSPOSE:
                continue
            t = v.producer
            if not is_last_two_swap(t.attrs.perm) or not self._sole_reader(v, node) or self._fixed(t.inputs[0]):
                continue
            c = self.group_of.get(t)
            if c is None or c.nodes != [t] or not self._acyclic_merge([g, c]):
                continue
            merged = self._merge([g, c])
            merged.prologue.add(t)

    def _sum_into_matmul(self, g: _Group) -> bool:
        """``reduce_sum(matmul(a, b), axes=(0,))`` over rank-3 operands batched alike joins the
        matmul's group (one GEMM over batch x K); True when it did."""
        node = g.nodes[0]
        v = node.inputs[0]
        if node.attrs.axes != (0,) or node.attrs.keepdims or v.kind is not ValueKind.NODE:
            return False
        mm = v.producer
        if mm.op is not Op.MATMUL or mm.output.dtype not in EPILOGUE_DTYPES or not self._sole_reader(v, node):
            return False
        a, b = mm.inputs
        if a.type.rank != 3 or b.type.rank != 3 or a.shape[0] != b.shape[0]:
            return False
        c = self.group_of.get(mm)
        if c is None or c.anchor is not mm or set(c.nodes) != c.prologue | {mm} or c.summed is not None:
            return False
        if not self._acyclic_merge([g, c]):
            return False
        merged = self._merge([g, c])
        merged.summed, merged.shape = node, node.output.shape
        return True

    def _compatible(self, groups: list[_Group], anchor: Node | None) -> bool:
        """Whether the elementwise members of ``groups`` can be the tail of ``anchor``."""
        if anchor is None:
            return True
        inside = {n for grp in groups for n in grp.nodes}
        anchored = next(grp for grp in groups if grp.anchor is anchor)
        tail = [n for n in inside if n is not anchor and n not in anchored.prologue and n is not anchored.summed]
        for n in [*anchored.prologue, anchor]:
            # The prologue runs inside the reduction loop: it cannot read the new tail.
            if any(v.kind is ValueKind.NODE and v.producer in inside and v.producer not in anchored.prologue
                   for v in n.inputs):
                return False
        for n in tail:
            for v in n.inputs:
                if v.kind is ValueKind.NODE and v.producer in inside:
                    # A tail runs at the result's indices: prologue values are not there.
                    if v.producer in anchored.prologue:
                        return False
                elif anchor.op in (Op.MATMUL, Op.CONV) and not _epilogue_operand_ok(v.shape, anchored.shape):
                    return False
        return True

    # -- legality -------------------------------------------------------------------------
    def _acyclic_merge(self, groups: list[_Group]) -> bool:
        """Contracting ``groups`` keeps the DAG acyclic: no outside path leads from one to another.

        Edges only go forward in the node order, so a group whose first node comes after
        the last node of ``groups`` cannot lead back into them: the search stops there.
        """
        inside = set(groups)
        limit = max(grp.maxpos for grp in groups)
        stack = [s for grp in groups for s in self.dag.successors(grp) if s not in inside]
        seen: set[_Group] = set()
        while stack:
            x = stack.pop()
            if x in seen or x.minpos >= limit:
                continue
            seen.add(x)
            for s in self.dag.successors(x):
                if s in inside:
                    return False
                stack.append(s)
        return True

    def _merge(self, groups: list[_Group]) -> _Group:
        keep = next((grp for grp in groups if grp.anchor is not None), groups[0])
        for grp in groups:
            if grp is keep:
                continue
            keep.nodes.extend(grp.nodes)
            keep.prologue |= grp.prologue
            keep.summed = keep.summed or grp.summed
            for n in grp.nodes:
                self.group_of[n] = keep
            for p in self.dag.predecessors(grp):
                if p is not keep:
                    self.dag.add_edge(p, keep)
            for s in self.dag.successors(grp):
                if s is not keep:
                    self.dag.add_edge(keep, s)
            self.dag.remove_node(grp)
        keep.nodes.sort(key=self.pos.__getitem__)
        keep.minpos = self.pos[keep.nodes[0]]
        keep.maxpos = self.pos[keep.nodes[-1]]
        return keep

    # -- final touches --------------------------------------------------------------------
    def _finish(self, groups: list[_Group]) -> list[_Group]:
        out: list[_Group] = []
        for g in groups:
            for part in self._split_for_symbols(g):
                out.extend(self._split_epilogue(part))
        return out

    def _split_epilogue(self, g: _Group) -> list[_Group]:
        """A matmul/conv stores one result of its own dtype; a tail exporting none stands alone."""
        if g.kind not in (FusionKind.MATMUL_EPILOGUE, FusionKind.CONV_EPILOGUE) or len(g.nodes) == 1:
            return [g]
        live_out = {id(v) for v in self.graph.outputs} | {id(v) for _, v in self.graph.updates}
        if any(v.dtype is g.anchor.output.dtype for v in _exports(g, live_out)):
            return [g]
        core = [n for n in g.nodes if n is g.anchor or n is g.summed or n in g.prologue]
        tail = [n for n in g.nodes if n not in core]
        if len(core) == 1:
            return [_Group(core), _Group(tail, FusionKind.ELEMENTWISE, shape=g.shape)]
        kept = _Group(core, g.kind, g.anchor, g.shape, set(g.prologue), g.summed)
        return [kept, _Group(tail, FusionKind.ELEMENTWISE, shape=g.shape)]

    def _split_for_symbols(self, g: _Group) -> list[_Group]:
        """Moves broadcast_to members out when the group's operands would not fix every size.

        A FUSED node's sizes come from its operands (the interpreter binds them there):
        a group whose ``N`` only appears through ``broadcast_to(x) {shape=[N, ...]}``
        would not know N, so those broadcasts stay kernels of their own.
        """
        if len(g.nodes) == 1:
            return [g]
        inside = set(g.nodes)
        have = {d.name for n in g.nodes for v in n.inputs
                if not (v.kind is ValueKind.NODE and v.producer in inside)
                for d in v.shape if isinstance(d, SymDim)}
        need = {d.name for n in g.nodes for v in n.outputs for d in v.shape if isinstance(d, SymDim)}
        if need <= have:
            return [g]
        moved = [n for n in g.nodes if n.op is Op.BROADCAST_TO]
        g.nodes = [n for n in g.nodes if n.op is not Op.BROADCAST_TO]
        g.prologue -= set(moved)
        return [g] + [_Group([n]) for n in moved]


# ---------------------------------------------------------------------------------------------
# building the fused graph

def _build(graph: Graph, groups: list[_Group]) -> Graph:
    group_of = {n: g for g in groups for n in g.nodes}
    free = [n for n in graph.nodes if n.op in FREE_OPS]
    pos = {n: i for i, n in enumerate(graph.nodes)}

    # The DAG of units (groups, and free nodes on their own) decides the new node order.
    units: list[object] = [*groups, *free]
    unit_of: dict[Node, object] = {**group_of, **{n: n for n in free}}
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(units)))
    index = {id(u): i for i, u in enumerate(units)}
    for n in graph.nodes:
        for v in n.inputs:
            if v.kind is ValueKind.NODE:
                a, b = index[id(unit_of[v.producer])], index[id(unit_of[n])]
                if a != b:
                    dag.add_edge(a, b)
    if not nx.is_directed_acyclic_graph(dag):
        raise AssertionError("fusion formed a cycle of groups; the merge check should have refused it")
    first = [min(pos[n] for n in (u.nodes if isinstance(u, _Group) else [u])) for u in units]
    order = nx.lexicographical_topological_sort(dag, key=first.__getitem__)

    new = Graph(graph.name)
    vmap: dict[Value, Value] = {}
    for v in graph.inputs:
        vmap[v] = new.add_input(v.type, v.name)
    for v in graph.params:
        vmap[v] = new.add_param(v.type, v.name, v.binding)
    live_out = {id(v) for v in graph.outputs} | {id(v) for _, v in graph.updates}
    for i in order:
        u = units[i]
        nodes = u.nodes if isinstance(u, _Group) else [u]
        if len(nodes) == 1:
            n = nodes[0]
            m = new.add_node(n.op, [vmap[v] for v in n.inputs], n.attrs, n.name)
            vmap.update(zip(n.outputs, m.outputs))
            continue
        _emit_group(new, u, vmap, live_out)
    new.set_outputs(vmap[v] for v in graph.outputs)
    for p, v in graph.updates:
        new.add_update(vmap[p], vmap[v])
    # Constants now copied into every body that reads them (and reshapes of nothing) go.
    for n in reversed(new.nodes):
        if n.op in FREE_OPS and not any(new.is_live(v) for v in n.outputs):
            new.remove_node(n)
    return new


def _exports(g: _Group, live_out: set[int]) -> list[Value]:
    """Values of ``g`` needed outside it: read by other nodes, graph outputs, update values."""
    inside = set(g.nodes)
    return [v for n in g.nodes for v in n.outputs
            if id(v) in live_out or any(u not in inside for u, _ in v.uses)]


def _emit_group(new: Graph, g: _Group, vmap: dict[Value, Value], live_out: set[int]) -> None:
    exports = _exports(g, live_out)
    for inline_constants in (True, False):
        body, operands = _body(g, exports, inline_constants)
        if operands:
            break
    kind = g.kind if g.anchor is not None else FusionKind.ELEMENTWISE
    name = f"fused/{(g.anchor or g.nodes[-1]).name}"
    m = new.add_node(Op.FUSED, [vmap[v] for v in operands], FusedAttrs(body, kind), name)
    vmap.update(zip(exports, m.outputs))


def _body(g: _Group, exports: list[Value], inline_constants: bool) -> tuple[Graph, list[Value]]:
    """The nested graph of ``g`` and the outer values its inputs stand for."""
    body = Graph(f"{(g.anchor or g.nodes[-1]).name}.body")
    bmap: dict[Value, Value] = {}
    operands: list[Value] = []
    for n in g.nodes:
        for v in n.inputs:
            if v in bmap:
                continue
            if inline_constants and _is_small_constant(v):
                c = v.producer
                bmap[v] = body.add_node(Op.CONSTANT, [], c.attrs, c.name).output
            else:
                bmap[v] = body.add_input(v.type, v.name)
                operands.append(v)
        m = body.add_node(n.op, [bmap[v] for v in n.inputs], n.attrs, n.name)
        bmap.update(zip(n.outputs, m.outputs))
    body.set_outputs(bmap[v] for v in exports)
    return body, operands


def _has_fused(graph: Graph) -> bool:
    return any(n.op is Op.FUSED or any(_has_fused(b) for _, b in regions(n.attrs)) for n in graph.nodes)


def defuse(graph: Graph) -> Graph:
    """A new graph with every FUSED node replaced by its body's nodes (the inverse of fusion).

    For consumers that want core ops only, such as ONNX export: the meaning is unchanged,
    since a FUSED node means its body.
    """
    if not _has_fused(graph):
        return graph
    new = Graph(graph.name)
    vmap: dict[Value, Value] = {}
    for v in graph.inputs:
        vmap[v] = new.add_input(v.type, v.name)
    for v in graph.params:
        vmap[v] = new.add_param(v.type, v.name, v.binding)
    for n in graph.nodes:
        if n.op is not Op.FUSED:
            # A scan's step was fused too: its body goes back to core ops as well.
            bodies = {f: defuse(b) for f, b in regions(n.attrs) if _has_fused(b)}
            attrs = dataclasses.replace(n.attrs, **bodies) if bodies else n.attrs
            m = new.add_node(n.op, [vmap[v] for v in n.inputs], attrs, n.name)
            vmap.update(zip(n.outputs, m.outputs))
            continue
        body: Graph = n.attrs.body
        bmap = dict(zip(body.inputs, (vmap[v] for v in n.inputs)))
        for b in body.nodes:
            m = new.add_node(b.op, [bmap[v] for v in b.inputs], b.attrs, b.name)
            bmap.update(zip(b.outputs, m.outputs))
        vmap.update(zip(n.outputs, (bmap[v] for v in body.outputs)))
    new.set_outputs(vmap[v] for v in graph.outputs)
    for p, v in graph.updates:
        new.add_update(vmap[p], vmap[v])
    return new

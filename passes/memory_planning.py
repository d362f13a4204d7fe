"""Memory planning: liveness over the kernel order, then one arena with reuse.

The CPU compiler (``codegen.cpu.compiler``) records the order it calls kernels
in as :class:`Step` records (which table slots each kernel reads and writes,
then the copies into outputs and parameters at the end). From those, every
intermediate buffer (a TEMP slot) gets a lifetime: the first step that
touches it to the last. Reshapes are aliases (they read their operand's slot,
so they extend its life), graph outputs that kernels write directly live in
the caller's arrays, and the staging buffers of state updates are read by
the last step, so they live to the end.

Sizes are symbolic (the batch ``N``, later a sequence length), so the plan is
symbolic in its input (sizes and lifetimes) and concrete in its output: the
offsets for one binding of the sizes are computed when that binding is first
seen (:meth:`MemoryPlan.at`) and cached by the runtime, as the arena is. The
C library runs the same algorithm in its wrapper (``codegen.capi``) when it
binds a batch. The algorithm is greedy by size with first fit: buffers in
order of decreasing size, each at the lowest offset where it overlaps no
placed buffer it is live together with. (A symbolic plan, offsets as
polynomials valid for every batch, was tried first: it must stack a
``3136*N``-byte buffer and a 401408-byte one rather than put them side by
side, since neither is the larger for every ``N``; it ended 29% above the
bound on the MLP train step against 0.0% for this one.)

In-place updates are decided here too (:func:`inplace_pairs`), at compile
time, from the graph: an elementwise kernel may write its output over an
operand of exactly the same type that dies at that kernel.

``plan.arena_bytes`` is the arena at the reference sizes (every symbol 128)
and ``plan.lower_bound_bytes`` the largest total of bytes live at one step
there: no placement can do better than the bound.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ir.dtypes import DType
from ir.graph import Graph, Value, ValueKind
from ir.opcodes import ELEMENTWISE_OPS, Op
from ir.shapes import Shape, element_count

ALIGN = 64              # bytes: every buffer starts on a cache line
REFERENCE_SIZE = 128    # each symbol's size where plan.arena_bytes and plan.lower_bound_bytes report
PASS_NAME = "memory_planning"   # in HORN_DISABLE_PASSES: every buffer gets its own memory


# -- sizes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ByteSize:
    """``coef * sym_1 * ... * sym_k`` bytes."""

    coef: int
    syms: tuple[str, ...] = ()

    @staticmethod
    def of(dtype: DType, shape: Shape) -> "ByteSize":
        count = element_count(shape)
        return ByteSize(count.coef * dtype.itemsize, count.syms)

    def evaluate(self, sizes: Mapping[str, int]) -> int:
        n = self.coef
        for s in self.syms:
            n *= sizes[s]
        return n

    def __str__(self) -> str:
        return "*".join([str(self.coef), *self.syms])


def aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


# -- liveness -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One thing the entry function does, in order: a kernel call or a copy."""

    name: str
    reads: tuple[int, ...]     # table slots
    writes: tuple[int, ...]


@dataclass(frozen=True)
class Buffer:
    """One intermediate (TEMP slot) to place: its size and the steps it is live across."""

    slot: int
    size: ByteSize
    first: int
    last: int


def lifetimes(steps: Sequence[Step], temps: Mapping[int, tuple[DType, Shape]]) -> list[Buffer]:
    """Each TEMP slot (``slot -> (dtype, shape)``) live from the first step touching it to the last."""
    span: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        for s in (*step.reads, *step.writes):
            if s in temps:
                span.setdefault(s, [i, i])[1] = i
    return [Buffer(s, ByteSize.of(dtype, shape), *span.get(s, (0, 0)))
            for s, (dtype, shape) in sorted(temps.items())]


# -- placement ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """Offsets of every buffer for one binding of the sizes."""

    offsets: tuple[int, ...]               # per buffer, in MemoryPlan.buffers order
    arena_bytes: int
    lower_bound_bytes: int


@dataclass(frozen=True)
class MemoryPlan:
    """The buffers to place in one arena, their sizes and lifetimes; offsets per binding."""

    buffers: tuple[Buffer, ...]            # in table-slot order
    reuse: bool = True
    reference: tuple[tuple[str, int], ...] = ()

    @property
    def slots(self) -> tuple[int, ...]:
        return tuple(b.slot for b in self.buffers)

    def at(self, sizes: Mapping[str, int]) -> Placement:
        """Offsets (multiples of :data:`ALIGN`), arena size and lower bound at ``sizes``."""
        nbytes = [aligned(b.size.evaluate(sizes)) for b in self.buffers]
        if self.reuse:
            offsets = place(nbytes, [b.first for b in self.buffers], [b.last for b in self.buffers])
        else:
            offsets, at = [], 0
            for n in nbytes:
                offsets.append(at)
                at += n
        arena = max((o + n for o, n in zip(offsets, nbytes)), default=0)
        return Placement(tuple(offsets), arena, self.lower_bound(sizes))

    def lower_bound(self, sizes: Mapping[str, int]) -> int:
        """The largest total of (exact) bytes live at one step: no placement needs less."""
        if not self.buffers:
            return 0
        live = [0] * (max(b.last for b in self.buffers) + 2)
        for b in self.buffers:
            n = b.size.evaluate(sizes)
            live[b.first] += n
            live[b.last + 1] -= n
        best = total = 0
        for d in live:
            total += d
            best = max(best, total)
        return best

    def _reference(self) -> dict[str, int]:
        ref = {s: REFERENCE_SIZE for b in self.buffers for s in b.size.syms}
        ref.update(dict(self.reference))
        return ref

    @property
    def arena_bytes(self) -> int:
        """The planned arena at the reference sizes (every symbol 128)."""
        return self.at(self._reference()).arena_bytes

    @property
    def lower_bound_bytes(self) -> int:
        """The largest total of bytes live at one step, at the reference sizes."""
        return self.lower_bound(self._reference())

    def check(self, sizes: Mapping[str, int]) -> None:
        """Raises AssertionError if two buffers live at the same step overlap at ``sizes``."""
        p = self.at(sizes)
        spans = [(b.first, b.last, o, o + b.size.evaluate(sizes), b.slot)
                 for b, o in zip(self.buffers, p.offsets)]
        for i, (f1, l1, a1, e1, s1) in enumerate(spans):
            if a1 % ALIGN:
                raise AssertionError(f"slot {s1} at offset {a1} is not {ALIGN}-byte aligned")
            if e1 > p.arena_bytes:
                raise AssertionError(f"slot {s1} ends at {e1}, past the arena ({p.arena_bytes} bytes)")
            for f2, l2, a2, e2, s2 in spans[i + 1:]:
                if f1 <= l2 and f2 <= l1 and a1 < e2 and a2 < e1:
                    raise AssertionError(f"slots {s1} [{a1}, {e1}) and {s2} [{a2}, {e2}) are live "
                                         f"together (steps {f1}-{l1} and {f2}-{l2}) and overlap")


def plan_memory(buffers: Sequence[Buffer], *, reuse: bool = True,
                reference: Mapping[str, int] | None = None) -> MemoryPlan:
    """The plan of ``buffers``; with ``reuse``, buffers never live together share memory.

    ``reference`` overrides the sizes :attr:`MemoryPlan.arena_bytes` reports at.
    """
    return MemoryPlan(tuple(sorted(buffers, key=lambda b: b.slot)), reuse,
                      tuple(sorted((reference or {}).items())))


def place(nbytes: Sequence[int], first: Sequence[int], last: Sequence[int]) -> list[int]:
    """Greedy by size, first fit: offsets for buffers of ``nbytes`` live over steps [first, last].

    Buffers go in order of decreasing size (then first step, then index);
    each takes the lowest offset where it overlaps none of the placed buffers
    whose lifetimes meet its own. ``codegen.capi`` has the same algorithm in C.
    """
    order = sorted(range(len(nbytes)), key=lambda i: (-nbytes[i], first[i], i))
    offsets = [0] * len(nbytes)
    placed: list[int] = []
    for i in order:
        conflicts = sorted((j for j in placed if first[j] <= last[i] and first[i] <= last[j]),
                           key=lambda j: offsets[j])
        at = 0
        for j in conflicts:
            if at + nbytes[i] <= offsets[j]:
                break
            at = max(at, offsets[j] + nbytes[j])
        offsets[i] = at
        placed.append(i)
    return offsets


# -- in-place ---------------------------------------------------------------------------------------

def inplace_pairs(graph: Graph, alias_ops: frozenset, direct_outputs: set[int]) -> dict[int, int]:
    """``id(node) -> operand index`` for elementwise kernels that may write over that operand.

    The operand must have exactly the output's type (so element ``i`` is read
    and written by the same iteration), appear once among the node's
    operands, live in an intermediate buffer (not an input, parameter,
    constant, or an output a kernel writes directly), and die at this node:
    no later kernel, graph output or state update reads it, or any reshape of it.
    """
    def root(v: Value) -> Value:
        while v.kind is ValueKind.NODE and v.producer.op in alias_ops:
            v = v.producer.inputs[0]
        return v

    kernels = [n for n in graph.nodes if n.op is not Op.CONSTANT and n.op not in alias_ops]
    end = len(kernels)
    last: dict[int, int] = {}
    for pos, n in enumerate(kernels):
        for v in n.inputs:
            last[id(root(v))] = pos
    for v in graph.outputs:
        last[id(root(v))] = end
    for p, v in graph.updates:
        last[id(root(v))] = end
    pairs: dict[int, int] = {}
    for pos, n in enumerate(kernels):
        if n.op not in ELEMENTWISE_OPS or len(n.outputs) != 1 or id(n.output) in direct_outputs:
            continue
        roots = [root(v) for v in n.inputs]
        for j, (v, r) in enumerate(zip(n.inputs, roots)):
            if (v.type == n.output.type and r.kind is ValueKind.NODE and r.producer.op is not Op.CONSTANT
                    and id(r) not in direct_outputs and last.get(id(r)) == pos
                    and sum(x is r for x in roots) == 1):
                pairs[id(n)] = j
                break
    return pairs

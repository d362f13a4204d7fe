"""The op x facet matrix: which ops have which facets, and which holes are known.

DESIGN: every op has a shape rule, a reference, a VJP, a CPU lowering, a GPU
lowering and an ONNX mapping. Each facet is a table keyed by :class:`Op` that
lives in its own package; this module finds each table by *module path* and
imports it lazily, so ``ir`` does not depend on ``codegen`` or ``passes`` at
import time, and a facet whose package does not exist yet simply has a hole
for every op. When an issue adds, say, ``passes/autodiff.py`` with
``VJP_RULES``, the facet becomes real with no change here: only its
``KNOWN_GAPS`` entry has to go (the facet test says so once no hole is left).

A registry module that exists but fails to import, or lacks the named table,
is an error, not a hole: a renamed table must not quietly pass as a gap.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Collection

from ir.opcodes import Op
from ir.registry import op_def, registered_ops

# Facets with no registry yet, and the issue that fills them. Every hole in these
# columns is excused; a hole anywhere else fails tests/test_op_facets.py.
KNOWN_GAPS: dict[str, str] = {
    "gpu": "a later GPU issue",
}

# Single holes, (op, facet) -> why. ONNX export writes inference graphs; these ops occur
# only in training graphs, and the exporter quotes the reason when one turns up.
KNOWN_OP_GAPS: dict[tuple[Op, str], str] = {
    (Op.POOL_GRAD, "onnx"): "the adjoint of pool exists only in gradient (training) graphs; "
                            "ONNX export writes the inference graph",
    (Op.SCATTER_ADD, "onnx"): "the adjoint of gather exists only in gradient (training) graphs; "
                              "ONNX export writes the inference graph",
    (Op.SCAN, "gpu"): "no GPU backend yet; a scan will launch its body's kernels once per step",
    (Op.RANDOM_UNIFORM, "onnx"): "random draws come from the train step's rng_key input (dropout and "
                                 "noise are identities at inference), and opset 17 has no bitwise "
                                 "xor (BitwiseXor is opset 18) to reproduce Horn's counter-based "
                                 "generator bit for bit",
    (Op.FUSED, "onnx"): "fusion groups are a CPU codegen device: ONNX export inlines them back "
                        "(passes.fusion.defuse) and ONNX Runtime fuses the core ops itself",
    (Op.FUSED, "gpu"): "fusion groups are lowered for the CPU only so far",
}


class FacetRegistryError(RuntimeError):
    """A facet's registry module exists but cannot be read as a table keyed by Op."""


@dataclass(frozen=True)
class Facet:
    """Where one facet's table lives.

    ``table`` is ``"package.module:NAME"``, a mapping (or set) keyed by Op,
    or None for the facets the ir registry holds itself. ``loaders`` are
    modules whose import fills the table (emitters register themselves).
    ``extra`` names ops the facet covers without a table entry (the CPU
    compiler handles reshape and constants itself).
    """

    name: str
    table: str | None
    loaders: tuple[str, ...] = ()
    extra: Callable[[], Collection[Op]] | None = None
    description: str = field(default="", compare=False)

    def covered(self) -> frozenset[Op] | None:
        """The ops that have this facet, or None when its registry does not exist yet."""
        if self.table is None:
            return frozenset(self.extra() if self.extra else ())
        module_path, _, attr = self.table.partition(":")
        module = _import_if_present(module_path)
        if module is None:
            return None
        for loader in self.loaders:
            _import_if_present(loader)
        try:
            table = getattr(module, attr)
        except AttributeError:
            raise FacetRegistryError(f"facet {self.name}: module {module_path} exists but has no "
                                     f"{attr}; expected a table keyed by Op (update ir/facets.py "
                                     f"if it was renamed)") from None
        ops = frozenset(op for op in table if isinstance(op, Op))
        return ops | frozenset(self.extra() if self.extra else ())


def _import_if_present(path: str):
    """The module at ``path``, or None when it (or a package above it) does not exist.

    A missing dependency *inside* an existing module is re-raised: that is a
    broken facet, not an absent one.
    """
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and (path == exc.name or path.startswith(exc.name + ".")):
            return None
        raise


def _ir_ops(check: Callable[[Op], bool]) -> Callable[[], frozenset[Op]]:
    return lambda: frozenset(op for op in registered_ops() if check(op))


def _cpu_compiler_ops() -> frozenset[Op]:
    # codegen/cpu/compiler.py lowers these itself: reshape aliases its input's
    # buffer and constants become LLVM globals, so they have no emitter.
    from codegen.cpu.compiler import ALIAS_OPS
    return frozenset(ALIAS_OPS) | {Op.CONSTANT}


FACETS: tuple[Facet, ...] = (
    # The ir facets read OpDef fields, so a registered op missing a function shows as a hole.
    Facet("shape_rule", None, extra=_ir_ops(lambda op: callable(op_def(op).infer)),
          description="ir/ops: OpDef.infer"),
    Facet("reference", None, extra=_ir_ops(lambda op: callable(op_def(op).reference)),
          description="ir/ops: OpDef.reference"),
    Facet("vjp", "passes.autodiff:VJP_RULES", description="passes/autodiff.py"),
    Facet("cpu", "codegen.cpu.kernel:CPU_LOWERINGS", loaders=("codegen.cpu.lowerings",),
          extra=_cpu_compiler_ops, description="codegen/cpu/lowerings + compiler"),
    Facet("gpu", "codegen.gpu.kernel:GPU_LOWERINGS", loaders=("codegen.gpu.lowerings",),
          description="codegen/gpu/lowerings"),
    Facet("onnx", "codegen.onnx:ONNX_MAPPINGS", description="codegen/onnx"),
)


def facet_matrix() -> dict[Op, dict[str, bool]]:
    """For every op in :class:`Op`, facet name -> whether the op has it."""
    covered = {f.name: f.covered() for f in FACETS}
    return {op: {name: ops is not None and op in ops for name, ops in covered.items()}
            for op in Op}


def absent_registries() -> tuple[str, ...]:
    """Facets whose registry module does not exist yet."""
    return tuple(f.name for f in FACETS if f.covered() is None)


def holes(matrix: dict[Op, dict[str, bool]] | None = None) -> list[tuple[Op, str]]:
    """(op, facet) pairs missing and not excused by KNOWN_GAPS or KNOWN_OP_GAPS."""
    matrix = facet_matrix() if matrix is None else matrix
    return [(op, name) for op, row in matrix.items() for name, has in row.items()
            if not has and name not in KNOWN_GAPS and (op, name) not in KNOWN_OP_GAPS]


def stale_gaps(matrix: dict[Op, dict[str, bool]] | None = None) -> list[str]:
    """Known-gap entries that excuse nothing any more (the facet or op got filled)."""
    matrix = facet_matrix() if matrix is None else matrix
    stale = [f"KNOWN_GAPS[{name!r}]" for name in KNOWN_GAPS
             if all(row.get(name, True) for row in matrix.values())]
    stale += [f"KNOWN_OP_GAPS[({op}, {name!r})]" for (op, name) in KNOWN_OP_GAPS
              if matrix.get(op, {}).get(name, True)]
    return stale


def format_facet_matrix(matrix: dict[Op, dict[str, bool]] | None = None) -> str:
    """A text table: ``+`` has it, ``gap`` known gap, ``HOLE`` missing and not excused."""
    matrix = facet_matrix() if matrix is None else matrix
    names = [f.name for f in FACETS]
    width = max(len(str(op)) for op in matrix)
    cols = [max(len(n), 4) for n in names]
    lines = ["op".ljust(width) + "  " + "  ".join(n.ljust(c) for n, c in zip(names, cols))]
    for op, row in matrix.items():
        cells = []
        for n, c in zip(names, cols):
            mark = "+" if row[n] else ("gap" if n in KNOWN_GAPS or (op, n) in KNOWN_OP_GAPS
                                       else "HOLE")
            cells.append(mark.ljust(c))
        lines.append(str(op).ljust(width) + "  " + "  ".join(cells).rstrip())
    counts = {n: sum(row[n] for row in matrix.values()) for n in names}
    lines.append("")
    lines.append("covered: " + ", ".join(f"{n} {counts[n]}/{len(matrix)}" for n in names))
    for n, why in KNOWN_GAPS.items():
        lines.append(f"known gap: {n} -> {why}")
    for (op, n), why in KNOWN_OP_GAPS.items():
        lines.append(f"known gap: {op} {n} -> {why}")
    return "\n".join(lines)

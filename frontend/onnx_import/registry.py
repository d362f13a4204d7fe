"""The importer table: ONNX ``op_type`` -> how to rebuild that node with Horn ops.

One module per op family under ``ops/`` registers its entries with
:func:`importer`. An entry says, besides the function that emits the node:

* ``static_inputs``: operand positions whose *values* Horn needs when it
  compiles (Reshape's shape, Slice's starts...). A graph input feeding one of
  them is reported up front; pass its value with ``load_onnx(static_inputs=)``.
* ``check``: refusals decided from the node alone (attributes, optional
  outputs), so they are listed with the unsupported ops before any tracing.
* ``batch_operands``: operands that may hold the run-time batch size as it
  comes out of Shape (see ``values.BATCH_SIZE``): structural ops only, ``"*"``
  for all of a variadic op's.
* ``state_inputs``: operands that hold running statistics (BatchNorm's mean
  and variance), not weights: initializers there load as non-trainable.
* ``layouts``: for weight operands, the transform from ONNX's layout to the
  one Horn's op wants (Conv's OIHW kernel -> Keras' HWIO). An initializer used
  only there is stored already transformed, so the compiled graph never
  transposes it and fine-tuning updates it in Horn's layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

ImportFn = Callable[[Any], Any]            # NodeContext -> a value, or a tuple with one per output
CheckFn = Callable[[Any], "tuple[str, str] | None"]   # NodeView -> (category, reason) or None
LayoutFn = Callable[[Any, Any], Any]       # (weight, NodeView) -> weight in Horn's layout


@dataclass(frozen=True)
class Importer:
    op_type: str
    fn: ImportFn
    static_inputs: tuple[int, ...] = ()
    check: CheckFn | None = None
    layouts: Mapping[int, LayoutFn] = field(default_factory=dict)
    state_inputs: tuple[int, ...] = ()
    batch_operands: tuple[int, ...] | str = ()


IMPORTERS: dict[str, Importer] = {}


def importer(*op_types: str, static_inputs: tuple[int, ...] = (), check: CheckFn | None = None,
             layouts: Mapping[int, LayoutFn] | None = None,
             state_inputs: tuple[int, ...] = (),
             batch_operands: tuple[int, ...] | str = ()) -> Callable[[ImportFn], ImportFn]:
    """Registers the decorated function as the importer of each of ``op_types``."""
    def register(fn: ImportFn) -> ImportFn:
        for op_type in op_types:
            if op_type in IMPORTERS:
                raise RuntimeError(f"ONNX op {op_type} has two importers")
            IMPORTERS[op_type] = Importer(op_type, fn, tuple(static_inputs), check, dict(layouts or {}),
                                          tuple(state_inputs), batch_operands)
        return fn
    return register


def _load() -> None:
    if not IMPORTERS:
        import frontend.onnx_import.ops  # noqa: F401  (registers every family)


def lookup(op_type: str) -> Importer | None:
    """The importer of ``op_type``, or None when Horn has none."""
    _load()
    return IMPORTERS.get(op_type)


def supported_op_types() -> tuple[str, ...]:
    """Every ONNX op type (default domain) Horn can import, sorted."""
    _load()
    return tuple(sorted(IMPORTERS))

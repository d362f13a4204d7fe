"""The op registry: for every :class:`~ir.opcodes.Op`, its signature,
attribute type, shape/dtype rule and numpy reference, registered side by side
in ``ir/ops/<family>.py``. Later facets (VJP, lowering, ONNX) key on the same
``Op`` in their own tables; ``tests/test_op_facets.py`` checks for holes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ir.opcodes import Op
from ir.shapes import TensorType

InferFn = Callable[[tuple[TensorType, ...], Any], tuple[TensorType, ...]]
ReferenceFn = Callable[[tuple[np.ndarray, ...], Any], tuple[np.ndarray, ...]]


class IRTypeError(ValueError):
    """An op was applied to operands or attributes its shape rule rejects."""


@dataclass(frozen=True)
class OpDef:
    op: Op
    attrs_type: type
    arity: int | None           # None: variadic (at least one operand)
    infer: InferFn
    reference: ReferenceFn


_REGISTRY: dict[Op, OpDef] = {}


def register(op: Op, attrs_type: type, arity: int | None, infer: InferFn,
             reference: ReferenceFn) -> None:
    if op in _REGISTRY:
        raise RuntimeError(f"op {op} registered twice")
    _REGISTRY[op] = OpDef(op, attrs_type, arity, infer, reference)


def _load() -> None:
    if not _REGISTRY:
        import ir.ops  # noqa: F401  (registers every family)


def op_def(op: Op) -> OpDef:
    _load()
    try:
        return _REGISTRY[op]
    except KeyError:
        raise KeyError(f"op {op} has no registered definition") from None


def registered_ops() -> tuple[Op, ...]:
    _load()
    return tuple(_REGISTRY)


def infer_types(op: Op, in_types: tuple[TensorType, ...], attrs: Any) -> tuple[TensorType, ...]:
    """Output types of ``op`` on operands of ``in_types``; raises IRTypeError with the op named."""
    d = op_def(op)
    if not isinstance(attrs, d.attrs_type):
        raise IRTypeError(f"{op}: expected attributes of type {d.attrs_type.__name__}, "
                          f"received {type(attrs).__name__}")
    if d.arity is None and not in_types:
        raise IRTypeError(f"{op}: expected at least one operand, received none")
    if d.arity is not None and len(in_types) != d.arity:
        raise IRTypeError(f"{op}: expected {d.arity} operand(s), received {len(in_types)}")
    try:
        return d.infer(in_types, attrs)
    except IRTypeError:
        raise
    except (ValueError, TypeError) as exc:
        operands = ", ".join(str(t) for t in in_types)
        raise IRTypeError(f"{op}({operands}): {exc}") from None


def evaluate(op: Op, arrays: tuple[np.ndarray, ...], attrs: Any) -> tuple[np.ndarray, ...]:
    """Runs the reference implementation of ``op``: the definition of what it means."""
    return op_def(op).reference(arrays, attrs)

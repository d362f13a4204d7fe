"""Comparisons, boolean logic, ``Where``, and the casts (Cast, CastLike)."""
from __future__ import annotations

from frontend.onnx_import.context import NodeContext, NodeView
from frontend.onnx_import.dtypes import horn_dtype, onnx_type_name
from frontend.onnx_import.errors import DTYPE, DYNAMIC
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import binary, cast, dtype, holds_batch_size, unary, where
from ir.dtypes import DType
from ir.opcodes import Op

_COMPARE = {
    "Equal": Op.EQUAL, "Less": Op.LESS, "LessOrEqual": Op.LESS_EQUAL, "Greater": Op.GREATER,
    "GreaterOrEqual": Op.GREATER_EQUAL,
}
_LOGIC = {"And": Op.LOGICAL_AND, "Or": Op.LOGICAL_OR, "Xor": Op.NOT_EQUAL}   # xor of bools is !=


@importer(*_COMPARE, *_LOGIC)
def _compare(n: NodeContext):
    return binary(_COMPARE.get(n.op_type) or _LOGIC[n.op_type], n.input(0), n.input(1))


@importer("Not")
def _not(n: NodeContext):
    return unary(Op.LOGICAL_NOT, n.input(0))


@importer("Where")
def _where(n: NodeContext):
    return where(n.input(0), n.input(1), n.input(2))


def _check_cast(view: NodeView):
    to = view.attr("to", None)
    if to is not None and horn_dtype(to) is None:
        return DTYPE, f"casts to {onnx_type_name(to)}, which Horn does not have"
    return None


@importer("Cast", check=_check_cast, batch_operands=(0,))
def _cast(n: NodeContext):
    # Float to integer truncates toward zero (ONNX leaves out-of-range values undefined; the
    # IR saturates). 'saturate' only concerns float8 targets, which Horn does not have.
    x, to = n.input(0), horn_dtype(n.attr("to"))
    if holds_batch_size(x) and to is not DType.int64:
        raise n.unsupported("casts a shape holding the run-time batch size to another type", DYNAMIC)
    return cast(x, to)


@importer("CastLike")
def _cast_like(n: NodeContext):
    return cast(n.input(0), dtype(n.input(1)))

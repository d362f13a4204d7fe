"""FUSED: a kernel group formed by ``passes.fusion``, a nested graph run as one op.

Its meaning is its body's: the reference runs the body with the interpreter (which
binds the symbolic sizes from the operands), and the shape rule reads the body's
output types after checking the operands match the body's inputs.
"""
from __future__ import annotations

from ir.attrs import FusedAttrs
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import format_shape


def _fused_infer(ts, a: FusedAttrs):
    body = a.body
    if len(ts) != len(body.inputs):
        raise ValueError(f"the body @{body.name} takes {len(body.inputs)} operand(s), "
                         f"received {len(ts)}")
    for i, (t, v) in enumerate(zip(ts, body.inputs)):
        if t != v.type:
            raise TypeError(f"operand {i}: the body's input %{v.name} expects {v.dtype.name}"
                            f"{format_shape(v.shape)}, received {t.dtype.name}{format_shape(t.shape)}")
    if not body.outputs:
        raise ValueError(f"the body @{body.name} has no outputs")
    return tuple(v.type for v in body.outputs)


def _fused_reference(arrays, a: FusedAttrs):
    from ir.interpreter import interpret   # the interpreter imports the registry
    return tuple(interpret(a.body, list(arrays)))


# Variadic (at least one operand): the fusion pass keeps a constant as an operand
# rather than leave a group that reads nothing.
register(Op.FUSED, FusedAttrs, None, _fused_infer, _fused_reference)

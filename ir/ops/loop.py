"""The loop op: ``scan`` over the time axis of batch-major sequences.

Operands ``[carries..., sequences..., invariants...]``; the body maps
``[carries..., slices..., invariants...]`` to ``[new carries..., step outputs...]``;
results are ``[final carries..., stacked step outputs...]`` (see
:class:`~ir.attrs.ScanAttrs`). The reference runs the body with the reference
interpreter once per step, so a scan means exactly what its body means.
"""
from __future__ import annotations

import numpy as np

from ir.attrs import ScanAttrs
from ir.opcodes import Op
from ir.registry import register
from ir.shapes import Dim, TensorType, bind_symbols, evaluate_shape, format_shape

TIME_AXIS = 1   # sequences are (batch, T, ...): Keras' layout, kept so no transpose enters the IR


def scan_length(seq_types) -> Dim:
    """``T``, the size of axis 1 of the first sequence."""
    return seq_types[0].shape[TIME_AXIS]


def split_operands(items, attrs: ScanAttrs):
    """``(carries, sequences, invariants)`` of a scan's operand list (values or types)."""
    c, s = attrs.num_carry, attrs.num_sequences
    items = tuple(items)
    return items[:c], items[c:c + s], items[c + s:]


def slice_type(t: TensorType) -> TensorType:
    """The per-step slice of a sequence: axis 1 removed."""
    return TensorType(t.dtype, t.shape[:TIME_AXIS] + t.shape[TIME_AXIS + 1:])


def stacked_type(t: TensorType, length: Dim) -> TensorType:
    """A per-step output stacked over time: ``(batch, T, ...)``."""
    return TensorType(t.dtype, t.shape[:TIME_AXIS] + (length,) + t.shape[TIME_AXIS:])


def body_input_types(operand_types, attrs: ScanAttrs) -> list[TensorType]:
    """What the body's inputs must be for these operands: carries, slices, invariants."""
    carries, seqs, invs = split_operands(operand_types, attrs)
    return [*carries, *(slice_type(s) for s in seqs), *invs]


def _scan_infer(ts, attrs: ScanAttrs):
    from ir.graph import Graph  # ir.graph imports the registry's users; keep ir.ops import-light

    body = attrs.body
    if not isinstance(body, Graph):
        raise TypeError(f"scan body must be an ir Graph, received {type(body).__name__}")
    counts = (attrs.num_carry, attrs.num_sequences, attrs.num_invariants)
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in counts):
        raise ValueError(f"scan counts must be non-negative integers, received num_carry="
                         f"{attrs.num_carry}, num_sequences={attrs.num_sequences}, "
                         f"num_invariants={attrs.num_invariants}")
    if attrs.num_sequences < 1:
        raise ValueError("scan needs at least one sequence operand (it fixes the length T)")
    if len(ts) != sum(counts):
        raise ValueError(f"expected {sum(counts)} operands ({attrs.num_carry} carries, "
                         f"{attrs.num_sequences} sequences, {attrs.num_invariants} invariants), "
                         f"received {len(ts)}")
    carries, seqs, invs = split_operands(ts, attrs)
    for i, s in enumerate(seqs):
        if s.rank < 2:
            raise ValueError(f"sequence {i} must be batch-major (batch, T, ...), received {s}")
        if s.shape[:2] != seqs[0].shape[:2]:
            raise ValueError(f"sequences must share (batch, T): sequence 0 is "
                             f"{format_shape(seqs[0].shape)}, sequence {i} is {format_shape(s.shape)}")
    want = body_input_types(ts, attrs)
    got = [v.type for v in body.inputs]
    if got != want:
        raise ValueError(f"body @{body.name} inputs must be [carries, sequence slices, invariants] = "
                         f"({', '.join(map(str, want))}), received ({', '.join(map(str, got))})")
    if body.params or body.updates:
        raise ValueError(f"body @{body.name} must take weights as invariant operands; it has "
                         f"{len(body.params)} parameter(s) and {len(body.updates)} update(s)")
    outs = [v.type for v in body.outputs]
    if len(outs) < attrs.num_carry or outs[:attrs.num_carry] != list(carries):
        raise ValueError(f"body @{body.name} outputs must start with the new carries "
                         f"({', '.join(map(str, carries))}), received ({', '.join(map(str, outs))})")
    length = scan_length(seqs)
    batch = seqs[0].shape[0]
    steps = outs[attrs.num_carry:]
    for i, t in enumerate(steps):
        if t.rank < 1 or t.shape[0] != batch:
            raise ValueError(f"per-step output {i} of body @{body.name} must be batch-first "
                             f"(batch {batch}, ...), received {t}")
    return (*carries, *(stacked_type(t, length) for t in steps))


def _scan_reference(arrays, attrs: ScanAttrs):
    from ir.interpreter import interpret

    carries, seqs, invs = split_operands(arrays, attrs)
    length = seqs[0].shape[TIME_AXIS]
    order = range(length - 1, -1, -1) if attrs.reverse else range(length)
    carries = list(carries)
    steps: list[list[np.ndarray]] = []
    for t in order:
        outs = interpret(attrs.body, [*carries, *(s[:, t] for s in seqs), *invs])
        carries = outs[:attrs.num_carry]
        steps.append(outs[attrs.num_carry:])
    if attrs.reverse:
        steps.reverse()
    stacked = []
    for i, v in enumerate(attrs.body.outputs[attrs.num_carry:]):
        if steps:
            stacked.append(np.stack([s[i] for s in steps], axis=TIME_AXIS))
        else:
            # T = 0: no step ran; the sizes come from binding the body's inputs.
            sizes: dict[str, int] = {}
            shapes = [*(np.shape(c) for c in carries),
                      *(s.shape[:TIME_AXIS] + s.shape[TIME_AXIS + 1:] for s in seqs),
                      *(np.shape(x) for x in invs)]
            for b, shape in zip(attrs.body.inputs, shapes):
                bind_symbols(b.shape, shape, sizes, f"scan body input %{b.name}")
            shape = evaluate_shape(v.shape, sizes)
            stacked.append(np.zeros(shape[:TIME_AXIS] + (0,) + shape[TIME_AXIS:], v.dtype.numpy))
    return (*(np.asarray(c) for c in carries), *stacked)


register(Op.SCAN, ScanAttrs, None, _scan_infer, _scan_reference)

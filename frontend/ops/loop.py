"""``scan``: a loop over the time axis, the one door recurrent layers go through.

On arrays it runs a Python loop (eager Keras semantics). On traced tensors it
traces ``step_fn`` once, with a nested :class:`~frontend.tracing.Tracer`, into
a body graph and emits one ``Op.SCAN``, so compile time and code size do not
grow with the sequence length, which may be symbolic.

Capture: tensors of the enclosing trace that ``step_fn`` closes over (layer
weights read as ``self.kernel``, dropout masks computed before the loop) become
loop invariants of the scan by themselves, so a step function is written with
``frontend.ops`` as naturally as an eager one.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from frontend.ops.core import convert, find_tracer, symbolic
from frontend.tensors import TracedTensor
from frontend.tracing import Tracer, current_layer, tracing
from ir.attrs import ScanAttrs
from ir.opcodes import Op
from ir.ops.loop import slice_type
from ir.registry import IRTypeError

__all__ = ["scan"]

StepFn = Callable[[list, list, list], tuple]


@symbolic
def scan(step_fn: StepFn, initial_carry: Sequence, sequences: Sequence, *, constants: Sequence = (),
         reverse: bool = False) -> tuple[list, list]:
    """Runs ``step_fn`` over the time axis of ``sequences``.

    ``step_fn(carry: list, xs_t: list, constants: list) -> (new_carry: list, ys_t: list)``.
    ``sequences`` are batch-major ``(batch, T, ...)`` (at least one; they share batch
    and ``T``); ``xs_t`` are their ``(batch, ...)`` slices at step ``t``. Returns
    ``(final_carry, ys)`` with each ``ys`` stacked batch-major ``(batch, T, ...)``;
    ``ys[:, t]`` is produced by the step that consumed ``sequences[:, t]``, also when
    ``reverse=True`` (which walks ``t = T-1 ... 0``, carrying state backwards). The
    new carries must keep the carries' shapes and dtypes.
    """
    carry, seqs, consts = list(initial_carry), list(sequences), list(constants)
    if not seqs:
        raise ValueError("scan needs at least one sequence (batch, T, ...) to iterate over; "
                         "received sequences=[]")
    tracer = find_tracer([*carry, *seqs, *consts])
    if tracer is None:
        return _eager(step_fn, carry, seqs, consts, bool(reverse))
    return _traced(tracer, step_fn, carry, seqs, consts, bool(reverse))


def _where() -> str:
    layer = current_layer()
    return f" in layer '{layer.name}' ({type(layer).__name__})" if layer is not None else ""


def _call_step(step_fn: StepFn, carry: list, xs: list, consts: list) -> tuple[list, list]:
    out = step_fn(list(carry), list(xs), list(consts))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"scan step_fn{_where()} must return (new_carry, ys_t), two lists; "
                        f"received {type(out).__name__}")
    new_carry, ys = out
    if not isinstance(new_carry, (list, tuple)) or not isinstance(ys, (list, tuple)):
        raise TypeError(f"scan step_fn{_where()} must return (new_carry, ys_t) as two lists; received "
                        f"({type(new_carry).__name__}, {type(ys).__name__})")
    if len(new_carry) != len(carry):
        raise ValueError(f"scan step_fn{_where()} returned {len(new_carry)} carries, expected "
                         f"{len(carry)} (one per initial carry)")
    return list(new_carry), list(ys)


def _eager(step_fn: StepFn, carry: list, seqs: list, consts: list, reverse: bool):
    carry = [np.asarray(c) for c in carry]
    seqs = [np.asarray(s) for s in seqs]
    for i, s in enumerate(seqs):
        if s.ndim < 2 or s.shape[:2] != seqs[0].shape[:2]:
            raise ValueError(f"scan{_where()}: sequences must be batch-major (batch, T, ...) with one "
                             f"batch and T; sequence {i} has shape {s.shape}, sequence 0 {seqs[0].shape}")
    length = seqs[0].shape[1]
    if length == 0:
        raise ValueError(f"scan{_where()}: the sequences have no time steps (T = 0); at least one is "
                         f"needed (as in Keras)")
    steps: list[list[np.ndarray]] = []
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        new_carry, ys = _call_step(step_fn, carry, [s[:, t] for s in seqs], consts)
        for i, (old, new) in enumerate(zip(carry, new_carry)):
            new = np.asarray(new)
            if new.shape != old.shape:
                raise ValueError(f"scan step_fn{_where()}: carry {i} changed shape from {old.shape} to "
                                 f"{new.shape}; carries must keep their shape")
        carry = [np.asarray(c).astype(o.dtype, copy=False) for c, o in zip(new_carry, carry)]
        steps.append([np.asarray(y) for y in ys])
    if reverse:
        steps.reverse()
    ys = [np.stack([s[i] for s in steps], axis=1) for i in range(len(steps[0]))]
    return carry, ys


def _traced(outer: Tracer, step_fn: StepFn, carry: list, seqs: list, consts: list, reverse: bool):
    carry = [convert(c, outer) for c in carry]
    seqs = [convert(s, outer) for s in seqs]
    consts = [convert(c, outer) for c in consts]
    for i, s in enumerate(seqs):
        if s.value.type.rank < 2 or s.value.shape[:2] != seqs[0].value.shape[:2]:
            raise ValueError(f"scan{_where()}: sequences must be batch-major (batch, T, ...) with one "
                             f"batch and T; sequence {i} is {s.value.type}, sequence 0 "
                             f"{seqs[0].value.type}")

    body = Tracer(f"{outer.graph.name}/scan_body", parent=outer)
    c_in = [body.graph.add_input(c.value.type, f"carry_{i}") for i, c in enumerate(carry)]
    s_in = [body.graph.add_input(slice_type(s.value.type), f"x_{i}") for i, s in enumerate(seqs)]
    k_in = [body.graph.add_input(c.value.type, f"const_{i}") for i, c in enumerate(consts)]
    wrap = lambda vs: [TracedTensor(v, body) for v in vs]  # noqa: E731
    with tracing(body):
        new_carry, ys = _call_step(step_fn, wrap(c_in), wrap(s_in), wrap(k_in))
        # Anything returned (an array, a value of the enclosing trace) becomes a body value.
        new_carry = [convert(c, body) for c in new_carry]
        ys = [convert(y, body) for y in ys]
    if body.losses:
        raise ValueError(f"scan step_fn{_where()} added losses (activity regularization or add_loss); "
                         f"return them as per-step outputs and add them after the loop instead")
    for i, (old, new) in enumerate(zip(carry, new_carry)):
        if new.value.type != old.value.type:
            raise ValueError(f"scan step_fn{_where()}: carry {i} is {old.value.type} but the step "
                             f"returned {new.value.type}; carries must keep their shape and dtype")
    for i, y in enumerate(ys):
        if y.value.type.rank < 1 or y.value.shape[0] != seqs[0].value.shape[0]:
            raise ValueError(f"scan step_fn{_where()}: per-step output {i} is {y.value.type}; it must "
                             f"be batch-first (batch {seqs[0].shape[0]}, ...)")
    body.graph.set_outputs([t.value for t in (*new_carry, *ys)])

    captured = [o for o, _ in body.captures]
    attrs = ScanAttrs(body.graph, len(carry), len(seqs), len(consts) + len(captured), reverse)
    operands = [t.value for t in (*carry, *seqs, *consts, *captured)]
    try:
        node = outer.graph.add_node(Op.SCAN, operands, attrs, outer._name("scan"))
    except IRTypeError as exc:
        raise ValueError(f"Invalid scan{_where()}: {exc}") from None
    outs = [TracedTensor(v, outer) for v in node.outputs]
    return outs[:len(carry)], outs[len(carry):]


"""The graphs a model hands to ahead-of-time compilation (``codegen.library``).

The inference graph is the one ``predict`` runs (``Model._trace_graph``); the
train step is the one ``train_on_batch`` runs (``Trainer._trace_step_graph``)
without metric updates, which C callers could not read. Tracing the step for
a library must not change how the model trains in Python afterwards, so the
loss resolution it triggers on a fresh model is undone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from codegen.library import LibraryGraphs


def library_graphs(model, *, train_step: bool | None = None, targets: Sequence[tuple] | None = None,
                   input_shapes: Sequence[Sequence[int]] | None = None) -> LibraryGraphs:
    """Traces ``model`` for inference and, when it is compiled (or ``train_step``), its train step."""
    from frontend.models.model import Model
    if not isinstance(model, Model):
        raise TypeError(f"Expected a Horn model or an ir.Graph; received {type(model).__name__}")
    specs = _input_specs(model, input_shapes)
    structure, arrays = model._standardize_inputs(_examples(specs))
    model._check_inputs(structure)
    forward, _ = model._trace_graph(structure, model._signature(arrays), False)
    output_names = model._output_names()
    if len(output_names) != len(forward.outputs):
        output_names = [f"output_{i}" for i in range(len(forward.outputs))]
    graphs = LibraryGraphs(name=model.name, forward=forward,
                           input_names=tuple(v.name for v in forward.inputs),
                           output_names=tuple(output_names), weights=tuple(model.weights))
    if train_step is None:
        train_step = bool(getattr(model, "compiled", False))
    if not train_step:
        return graphs
    if not getattr(model, "compiled", False):
        raise ValueError(f"Model '{model.name}' has no train step to compile: call `model.compile(optimizer=..., "
                         f"loss=...)` first, or pass train_step=False")
    out_shapes = [tuple(int(d) for d in v.shape[1:]) for v in forward.outputs]
    target_specs = [((None,) + shape, dtype) for shape, dtype in _target_specs(model, out_shapes, targets)]
    graphs.train_step = _train_graph(model, _examples(specs), _examples(target_specs))
    graphs.target_names = tuple(output_names)
    graphs.iterations = model.optimizer.iterations
    graphs.seed = int(model._seed)
    graphs.learning_rate = float(model.optimizer.learning_rate)
    return graphs


def _input_specs(model, input_shapes) -> list[tuple[tuple, str]]:
    """Per input: its full shape (``None`` for the batch) and dtype."""
    if input_shapes is not None:
        return [((None,) + tuple(int(d) for d in s), "float32") for s in input_shapes]
    declared = getattr(model, "inputs", None)
    if declared:
        specs = [(tuple(t.shape), str(t.dtype), t.name) for t in declared]
    elif getattr(model, "input_specs", None):
        # Models read from files (ONNX) declare typed specs instead of Keras tensors; their
        # batch may be fixed, in which case the library has static shapes.
        specs = [(tuple(s.keras_shape), s.dtype.numpy.name, s.name) for s in model.input_specs]
    else:
        raise ValueError(f"Model '{model.name}' declares no inputs, so their shapes are unknown: pass "
                         f"input_shapes=[...] (per input, its shape without the batch)")
    for shape, _, name in specs:
        if not shape or any(d is None for d in shape[1:]):
            raise ValueError(f"Input {name!r} of model '{model.name}' has shape {shape}: a library needs "
                             f"every dimension but the batch fixed")
    return [(shape, dtype) for shape, dtype, _ in specs]


def _examples(specs):
    """Zero arrays at batch 1: only their shapes and dtypes matter to the tracer."""
    arrays = [np.zeros(tuple(1 if d is None else d for d in shape), dtype) for shape, dtype in specs]
    return arrays if len(arrays) > 1 else arrays[0]


def _target_specs(model, out_shapes, targets) -> list[tuple[tuple[int, ...], str]]:
    if targets is not None:
        if len(targets) != len(out_shapes):
            raise ValueError(f"targets: expected one (shape, dtype) per output ({len(out_shapes)}); "
                             f"received {len(targets)}")
        return [(tuple(int(d) for d in shape), str(np.dtype(dtype))) for shape, dtype in targets]
    from frontend.losses import resolve_loss
    specs = []
    fns = model._loss_fns if model._metrics_built is not None else [
        None if ident is None else resolve_loss(ident, (1,) + s, (1,) + s)
        for ident, s in zip(model._loss_ids, out_shapes)]
    for fn, shape in zip(fns, out_shapes):
        specs.append((shape[:-1], "int32") if _is_sparse(fn) else (shape, "float32"))
    return specs


def _is_sparse(fn) -> bool:
    from frontend.losses import SparseCategoricalCrossentropy, sparse_categorical_crossentropy
    return isinstance(fn, SparseCategoricalCrossentropy) or getattr(fn, "fn", None) is \
        sparse_categorical_crossentropy


def _train_graph(model, x, y):
    fresh = model._metrics_built is None
    saved = (model._loss_fns, model.__dict__.get("_output_shapes"))
    try:
        x, y = model._prepare(x, y)
        graph = model._trace_step_graph(x, y, True, update_metrics=False)
    finally:
        if fresh:
            # Python training resolves losses and builds metrics from its own first batch.
            model._metrics_built = None
            model._loss_fns = saved[0]
            if saved[1] is None:
                model.__dict__.pop("_output_shapes", None)
            else:
                model._output_shapes = saved[1]
    return graph

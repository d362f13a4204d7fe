"""``compile`` / ``fit`` / ``evaluate`` / ``train_on_batch`` / ``test_on_batch``.

One training step is one graph, compiled to one native function:
forward(training=True) -> per-output losses (+ weight and activity
regularization) -> gradients (``passes.autodiff``) -> optimizer update ->
metric updates. Weights, optimizer slots, BatchNorm statistics and metric
accumulators change through graph updates written in place by native code.
The learning rate and the random key ``[seed, step]`` are run-time inputs, so
schedules and callbacks never recompile, and the last partial batch reuses
the same code (the batch is symbolic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from frontend.layer import Layer, flatten, map_structure
from frontend.tracing import Tracer, tracing
from ir.shapes import SymDim


@dataclass
class _Step:
    """A compiled step and how to feed it."""

    executable: Any
    input_names: list[str]
    output_names: list[str] = field(default_factory=list)


def _target_shape(target, pred) -> tuple:
    """A target input's shape: the batch, the prediction's symbolic dims, the target's sizes."""
    dims = getattr(getattr(pred, "value", None), "shape", None)
    if dims is None or len(dims) != target.ndim:
        return (None,) + tuple(target.shape[1:])
    return (None,) + tuple(d if isinstance(d, SymDim) else s for d, s in zip(dims[1:], target.shape[1:]))


def _check_loss(identifier):
    from frontend import losses
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        return identifier
    losses.get(identifier)
    return identifier


class Trainer:
    """Mixed into Model."""

    compiled = False
    optimizer = None
    stop_training = False

    # -- compile ------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True):
        """Configures training. Strings and objects are accepted as in Keras."""
        from frontend import losses as losses_mod
        from frontend import optimizers
        if run_eagerly:
            raise ValueError("run_eagerly=True is not supported: Horn always runs the compiled step.")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        # Resolved at the first step, when label and output shapes are known ("crossentropy"
        # depends on them); unknown names fail here already.
        self._loss_ids = self._per_output(loss, "loss", _check_loss)
        self._loss_fns = list(self._loss_ids)
        weights = self._per_output(loss_weights, "loss_weights", float) if loss_weights is not None else None
        self._loss_weights = weights or [1.0] * len(self._loss_fns)
        self._metric_ids = (metrics, weighted_metrics)
        self._metrics_built: list[list] | None = None
        self._compile_config = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                                "metrics": metrics, "weighted_metrics": weighted_metrics}
        self._train_steps: dict = {}
        self._test_steps: dict = {}
        self._loss_sum = 0.0
        self._loss_count = 0
        self._seed = int(np.random.default_rng().integers(0, 2 ** 31))
        self.compiled = True

    def _output_names(self) -> list[str]:
        outs = getattr(self, "outputs", None)
        if outs:
            return [t._keras_history[0].name for t in outs]
        return ["output"]

    def _per_output(self, spec, what: str, convert) -> list:
        names = self._output_names()
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(names))
            if unknown:
                raise ValueError(f"In the dict argument `{what}`, key(s) {unknown} do not correspond to "
                                 f"any model output. Received: {what}={spec}; outputs are {names}")
            return [None if spec.get(n) is None else convert(spec[n]) for n in names]
        if isinstance(spec, (list, tuple)) and len(names) > 1:
            if len(spec) != len(names):
                raise ValueError(f"`{what}` has {len(spec)} entries, but the model has {len(names)} "
                                 f"outputs {names}")
            return [None if s is None else convert(s) for s in spec]
        if spec is None:
            return [None] * len(names)
        return [convert(spec)] * len(names)

    def _assert_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model for {what}.")

    # -- metrics ------------------------------------------------------------
    def _build_metrics(self, y, y_pred_shapes) -> None:
        from frontend.losses import resolve_loss
        from frontend.metrics import resolve_metric
        names = self._output_names()
        flat_y = flatten(y) if y is not None else [None] * len(names)
        self._loss_fns = [None if ident is None else resolve_loss(ident, np.shape(t), p)
                          for ident, t, p in zip(self._loss_ids, flat_y, y_pred_shapes)]
        self._output_shapes = list(y_pred_shapes)
        built = []
        multi = len(names) > 1
        for i, name in enumerate(names):
            per = []
            for weighted, spec in ((False, self._metric_ids[0]), (True, self._metric_ids[1])):
                ids = spec.get(name, []) if isinstance(spec, dict) else (
                    spec[i] if multi and isinstance(spec, (list, tuple)) and spec and
                    isinstance(spec[0], (list, tuple)) else spec) or []
                for ident in (ids if isinstance(ids, (list, tuple)) else [ids]):
                    m = resolve_metric(ident, None if flat_y[i] is None else np.shape(flat_y[i]),
                                       y_pred_shapes[i], self._loss_fns[i])
                    log_name = f"{name}_{m.name}" if multi else m.name
                    if weighted and not multi and any(n == log_name for _, n, _ in per):
                        log_name = f"weighted_{log_name}"
                    per.append((m, log_name, weighted))
            built.append(per)
        self._metrics_built = built

    @property
    def metrics(self) -> list:
        return [m for per in (self._metrics_built or []) for m, _, _ in per]

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [n for per in (self._metrics_built or []) for _, n, _ in per]

    def reset_metrics(self) -> None:
        self._loss_sum, self._loss_count = 0.0, 0
        for m in self.metrics:
            m.reset_state()

    def _logs(self) -> dict[str, float]:
        logs = {"loss": self._loss_sum / self._loss_count if self._loss_count else float("nan")}
        for per in self._metrics_built or []:
            for m, name, _ in per:
                logs[name] = float(np.asarray(m.result()))
        return logs

    @property
    def losses(self) -> list:
        """Weight-regularization penalties at the current weights (eager values)."""
        return [np.asarray(l) for layer in self._all_layers() for l in layer.regularization_losses_of_weights]

    def _all_layers(self) -> list:
        seen, out, stack = set(), [], [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers))
        return out

    # -- step construction ----------------------------------------------------
    def _trace_step(self, x, y, training: bool, sw_shape: tuple = ()) -> _Step:
        from runtime.compile import compile_graph_for_host

        graph = self._trace_step_graph(x, y, training, sw_shape=sw_shape)
        return _Step(compile_graph_for_host(graph, training=training, run_passes=False),
                     [v.name for v in graph.inputs])

    def _trace_step_graph(self, x, y, training: bool, *, update_metrics: bool = True, sw_shape: tuple = ()):
        """The optimized graph of one train (or test) step on arrays shaped like ``x`` and ``y``.

        Inputs: the model inputs, ``<output>_target`` per output, ``sample_weight``,
        ``learning_rate`` (training) and ``rng_key`` (when something random is traced).
        Outputs: the total loss, then per-output losses when there are several.
        ``update_metrics=False`` leaves the metric updates out (``codegen.library``
        compiles the step for C callers, who have no metric objects to read).
        ``sw_shape``: the sample weights' dims after the batch; () is one weight per
        sample, (T,) one per timestep of a sequence output (its length symbolic where
        the prediction's is).
        """
        from runtime.compile import optimize_graph

        tracer = Tracer(f"{self.name}_{'train' if training else 'test'}_step")
        in_names = iter(self._input_names(len(flatten(x))))
        x_shapes = iter(self._run_shapes(x, "inputs"))
        xs = map_structure(lambda a: tracer.input(next(x_shapes), a.dtype.name, next(in_names)), x)
        out_names = self._output_names()
        sw = None if sw_shape else tracer.input((None,), "float32", "sample_weight")
        lr = tracer.input((), "float32", "learning_rate") if training else None
        trainable = self.trainable_weights
        if training and not getattr(self.optimizer, "built", False):
            self.optimizer.build(trainable)
        with tracing(tracer):
            y_pred = Layer.__call__(self, xs, training=training)
            flat_pred = flatten(y_pred)
            # Targets after the call: a target dim whose prediction has a symbolic length
            # (a return_sequences model on Input((None, ...))) takes the same symbol.
            names_iter, preds_iter = iter(out_names), iter(flat_pred)
            ys = map_structure(lambda a: tracer.input(_target_shape(a, next(preds_iter)), a.dtype.name,
                                                      f"{next(names_iter)}_target"), y)
            if sw_shape:       # per-timestep weights: their length follows the prediction's
                sw_like = np.empty((1,) + tuple(sw_shape), np.float32)
                sw = tracer.input(_target_shape(sw_like, flat_pred[0]), "float32", "sample_weight_steps")
            if self._metrics_built is None:
                self._build_metrics(y, [tuple(p.shape) for p in flat_pred])
            total, per_output = self._objective(flatten(ys), flat_pred, sw, tracer)
            if training:
                if not trainable:
                    raise ValueError(f"Model '{self.name}' has no trainable weights to fit.")
                grads = tracer.grad(total, trainable)
                self.optimizer.apply(grads, trainable, learning_rate=lr)
            for per, t, p in zip(self._metrics_built if update_metrics else [], flatten(ys), flat_pred):
                for metric, _, weighted in per:
                    metric.update_state(t, p, sample_weight=sw if weighted else None)
        tracer.graph.set_outputs([total.value] + [l.value for l in per_output])
        return optimize_graph(tracer.graph, training=training)

    def _run_shapes(self, structure, which: str) -> list[tuple]:
        """Traced shapes of the flat arrays: batch and declared-None dims symbolic."""
        from frontend.models.model import run_shape
        arrays = flatten(structure)
        declared = self._declared_shapes(which, len(arrays)) if hasattr(self, "_declared_shapes") else None
        return [run_shape(a, declared[i] if declared else None) for i, a in enumerate(arrays)]

    def _step_signature(self, x, y) -> tuple:
        """What a train/test step is specialized on: one step serves every batch size and every
        length of the dims the model declares None."""
        return tuple((a.dtype.name, shape[1:])
                     for s, which in ((x, "inputs"), (y, "outputs")) if s is not None
                     for a, shape in zip(flatten(s), self._run_shapes(s, which)))

    def _objective(self, targets, preds, sw, tracer):
        from frontend import ops
        if len(targets) != len(preds):
            raise ValueError(f"The model has {len(preds)} output(s) but {len(targets)} target(s) were given")
        per_output, total = [], None
        for fn, w, t, p in zip(self._loss_fns, self._loss_weights, targets, preds):
            if fn is None:
                continue
            value = fn(t, p, sample_weight=sw)
            per_output.append(value)
            term = value if w == 1.0 else ops.multiply(value, w)
            total = term if total is None else ops.add(total, term)
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        for layer in self._all_layers():
            for penalty in layer.regularization_losses_of_weights:
                total = ops.add(total, ops.cast(penalty, total.dtype))
        for extra in tracer.losses:
            total = ops.add(total, ops.cast(extra, total.dtype))
        return total, (per_output if len(per_output) > 1 else [])

    def _feed(self, step: _Step, x, y, sw, lr=None) -> list[np.ndarray]:
        n = int(np.shape(flatten(x)[0])[0])
        arrays = {}
        for name, a in zip(self._input_names(len(flatten(x))), flatten(x)):
            arrays[name] = a
        for name, a in zip(self._output_names(), flatten(y)):
            arrays[f"{name}_target"] = a
        sw = np.ones(n, np.float32) if sw is None else np.asarray(sw, np.float32)
        arrays["sample_weight" if sw.ndim == 1 else "sample_weight_steps"] = sw
        if lr is not None:
            arrays["learning_rate"] = np.asarray(lr, np.float32)
        if "rng_key" in step.input_names:
            arrays["rng_key"] = np.array([self._seed, int(self.optimizer.iterations.numpy())], np.int64)
        return step.executable(*(arrays[name] for name in step.input_names))

    def _prepare(self, x, y):
        structure, flat_x = self._standardize_inputs(x)
        self._check_inputs(structure)
        if y is None:
            raise ValueError("Targets `y` are required to compute the loss; received y=None.")
        y = map_structure(lambda a: np.asarray(a).astype("float32") if np.asarray(a).dtype == np.float64
                          else np.asarray(a), y)
        flat_y = flatten(y)
        if len(self._output_names()) == 1 and len(flat_y) > 1:
            raise ValueError(f"The model has one output but received {len(flat_y)} targets")
        n = flat_x[0].shape[0]
        for a in flat_x + flat_y:
            if a.shape[0] != n:
                raise ValueError("Data cardinality is ambiguous. Make sure all arrays contain the same "
                                 f"number of samples. Received: x sizes {[b.shape[0] for b in flat_x]}, "
                                 f"y sizes {[b.shape[0] for b in flat_y]}")
        if not self.built:
            self.build((None,) + flat_x[0].shape[1:])
        return structure, y

    def _check_labels(self, y) -> None:
        """Out-of-range sparse labels raise here: compiled code cannot raise."""
        from frontend.losses import SparseCategoricalCrossentropy, sparse_categorical_crossentropy
        from frontend.ops.nn import check_sparse_labels
        for fn, target, shape in zip(self._loss_fns, flatten(y), self._output_shapes):
            sparse = isinstance(fn, SparseCategoricalCrossentropy) or getattr(fn, "fn", None) is \
                sparse_categorical_crossentropy
            if sparse and shape[-1] is not None:
                ignore = getattr(fn, "_fn_kwargs", {}).get("ignore_class", getattr(fn, "ignore_class", None))
                labels = np.asarray(target)
                check_sparse_labels(labels if ignore is None else labels[labels != ignore], shape[-1])

    def _run_batch(self, x, y, sw, training: bool) -> float:
        x, y = self._prepare(x, y)
        cache = self._train_steps if training else self._test_steps
        from runtime.compile import configured_level
        sw_shape = () if sw is None else tuple(np.shape(sw)[1:])    # (T,): per-timestep weights
        key = (self._step_signature(x, y), tuple(id(v) for v in self.trainable_weights),
               configured_level(), sw_shape)       # set_optimization_level compiles anew
        step = cache.get(key)
        if step is None:
            step = cache[key] = self._trace_step(x, y, training, sw_shape)
        self._check_labels(y)
        outputs = self._feed(step, x, y, sw, self.optimizer.learning_rate if training else None)
        loss = float(outputs[0])
        n = int(flatten(x)[0].shape[0])
        self._loss_sum += loss * n
        self._loss_count += n
        return loss

    # -- public API -----------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One compiled training step on one batch; returns the loss (and metrics)."""
        from runtime.data_adapters import class_weights_for
        self._assert_compiled("training")
        if class_weight is not None:
            cw = class_weights_for(y, class_weight)
            sample_weight = cw if sample_weight is None else np.asarray(sample_weight, np.float32) * cw
        self._loss_sum, self._loss_count = 0.0, 0
        self._run_batch(x, y, sample_weight, training=True)
        return self._result(self._logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("evaluation")
        self._loss_sum, self._loss_count = 0.0, 0
        self._run_batch(x, y, sample_weight, training=False)
        return self._result(self._logs(), return_dict)

    def _result(self, logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names if n in logs]
        return values[0] if len(values) == 1 else values

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains with one compiled native step per batch; returns the History."""
        from frontend.callbacks import CallbackList
        from runtime.data_adapters import ArrayAdapter, get_adapter, is_generator, is_pydataset
        self._assert_compiled("training")
        if validation_split and validation_data is None and (is_generator(x) or is_pydataset(x)):
            raise ValueError("`validation_split` is only supported for Tensors or NumPy arrays, "
                             f"found following types in the input: {[type(x).__name__]}")
        adapter = get_adapter(x, y, sample_weight, batch_size, shuffle, class_weight, steps_per_epoch)
        if validation_split and validation_data is None:
            adapter, validation_data = adapter.split(validation_split)
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=adapter.num_batches)
        self.stop_training = False
        cbs.on_train_begin()
        start = getattr(cbs, "initial_epoch_override", None)
        start = initial_epoch if start is None else start
        logs: dict = {}
        for epoch in range(start, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            ran = False
            for step, (xb, yb, swb) in enumerate(adapter.epoch(epoch)):
                cbs.on_train_batch_begin(step)
                self._run_batch(xb, yb, swb, training=True)
                logs = self._logs()
                ran = True
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            if not ran:
                break                    # a generator ran dry: nothing more to train on
            epoch_logs = dict(logs)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                val = self._evaluate_data(validation_data, validation_batch_size or batch_size,
                                          validation_steps, cbs)
                epoch_logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            adapter.on_epoch_end()
            logs = epoch_logs
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    def _evaluate_data(self, data, batch_size, steps, cbs) -> dict:
        from runtime.data_adapters import get_adapter, is_generator, is_pydataset
        if isinstance(data, tuple) and not (is_generator(data) or is_pydataset(data)):
            if len(data) not in (2, 3):
                raise ValueError("`validation_data` should be a tuple (x, y) or (x, y, sample_weight). "
                                 f"Received a tuple of length {len(data)}")
            adapter = get_adapter(data[0], data[1], data[2] if len(data) == 3 else None, batch_size,
                                  False, None, steps)
        else:
            adapter = get_adapter(data, batch_size=batch_size, steps=steps)
        # As Keras: validation inside fit fires the test hooks (TensorBoard logs from them).
        return self._test_loop(adapter, cbs)

    def _test_loop(self, adapter, cbs) -> dict:
        """One pass of the compiled test step over ``adapter``, with the test hooks; the logs."""
        self.reset_metrics()
        cbs.on_test_begin()
        logs: dict = {}
        for step, (xb, yb, swb) in enumerate(adapter.epoch(0)):
            cbs.on_test_batch_begin(step)
            self._run_batch(xb, yb, swb, training=False)
            logs = self._logs()
            cbs.on_test_batch_end(step, logs)
        cbs.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics over the data, with the compiled test step."""
        from frontend.callbacks import CallbackList
        from runtime.data_adapters import get_adapter
        self._assert_compiled("evaluation")
        adapter = get_adapter(x, y, sample_weight, batch_size, False, None, steps)
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = CallbackList(callbacks, add_history=False, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=1, steps=adapter.num_batches)
        return self._result(self._test_loop(adapter, cbs), return_dict)

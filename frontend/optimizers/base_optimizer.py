"""The optimizer base class, as ``keras.optimizers.Optimizer``.

One code path serves eager and compiled training. ``apply`` is written with
``horn.ops`` and ``Variable.assign``: given numpy gradients it updates the
Variables in place; given TracedTensors (inside ``tracing(tracer)``) the same
calls record graph updates that the compiled step applies in place. Reads of
a Variable after its assignment see the new value in both modes, so the
update rules keep Keras' order of reads and writes.

What must not be baked into a compiled step is read from the graph: the
learning rate is the ``learning_rate`` argument (the trainer passes a scalar
graph input) or else the optimizer's own ``learning_rate`` Variable or its
schedule evaluated on ``iterations``; step-dependent terms (bias corrections)
read the ``iterations`` Variable, which ``apply`` increments.

State is Keras' too, for checkpoint compatibility: ``variables`` is
``[iteration, learning_rate (when a float), slots...]`` in creation order,
with slot names ``<variable path with '/' -> '_'>_<slot>``.
"""
from __future__ import annotations

import numbers
import re
import warnings
from contextlib import nullcontext
from typing import Any, Callable, Sequence

import numpy as np

from frontend import backend, initializers, ops
from frontend.ops.core import Tensor
from frontend.optimizers import schedules
from frontend.tensors import TracedTensor
from frontend.tracing import active_tracer, tracing
from frontend.variables import Variable


class Optimizer:
    """Base class: clipping, weight decay, EMA, the learning rate and the step counter.

    Subclasses create their slots in ``build`` (after ``super().build``) and
    write the rule for one variable in ``update_step(gradient, variable,
    learning_rate)``, exactly as for Keras. Their constructors take their own
    hyperparameters and pass the common ones (``weight_decay``, ``clipnorm``,
    ``clipvalue``, ``global_clipnorm``, ``use_ema``, ``ema_momentum``,
    ``ema_overwrite_frequency``, ``loss_scale_factor``, ``name``) through to this one.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None, loss_scale_factor=None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if gradient_accumulation_steps:
            # Keras makes every update conditional on the step; Horn's compiled step has no
            # conditional updates yet, so refuse rather than silently update every step.
            raise ValueError("`gradient_accumulation_steps` is not supported by Horn yet. Received: "
                             f"gradient_accumulation_steps={gradient_accumulation_steps}. Use a larger "
                             "batch size instead.")
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: "
                                 f"ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                                 f"ema_overwrite_frequency={ema_overwrite_frequency}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.built = False
        self._variables: list[Variable] = []
        self._trainable_variables: list[Variable] = []
        self._trainable_variables_indices: dict[int, int] = {}
        self._exclude_ids: set[int] = set()
        self._exclude_pattern: re.Pattern | None = None
        # int64 as in Keras' TensorFlow backend (its numpy and JAX backends use int32); checkpoints
        # load either way, since assign casts into the existing array.
        self._iterations = self._new_variable(np.zeros((), np.int64), "iteration")
        self._learning_rate: Variable | schedules.LearningRateSchedule | Callable
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        elif isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            self._learning_rate = self._new_variable(np.asarray(learning_rate, backend.floatx()),
                                                     "learning_rate")
        else:
            raise ValueError("Argument `learning_rate` should be float, or an instance of "
                             "LearningRateSchedule, or a callable (that takes in the current iteration "
                             "value and returns the corresponding learning rate value). Received "
                             f"instead: learning_rate={learning_rate}")

    # -- state --------------------------------------------------------------
    def _new_variable(self, value: np.ndarray, name: str) -> Variable:
        var = Variable(value, name=name, trainable=False, path=f"{self.name}/{name}")
        self._variables.append(var)
        return var

    @property
    def iterations(self) -> Variable:
        """The number of steps applied so far (an int64 Variable; compiled steps read it in-graph)."""
        return self._iterations

    @property
    def variables(self) -> list[Variable]:
        """Iteration, learning rate (if a float) and the slots, in Keras' saving order."""
        return self._variables[:]

    def build(self, variables: Sequence[Variable]) -> None:
        """Records the variables this optimizer updates; subclasses then add their slots."""
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(variables, "average")
        for i, variable in enumerate(variables):
            self._trainable_variables_indices[id(variable)] = i
        self._trainable_variables = list(variables)
        self.built = True

    def add_variable(self, shape, initializer="zeros", dtype=None, name: str | None = None) -> Variable:
        """A non-trainable optimizer Variable named ``<optimizer>/<name>``."""
        init = initializers.get(initializer)
        value = init(tuple(shape), dtype=backend.standardize_dtype(dtype))
        return self._new_variable(np.asarray(value), name or f"variable_{len(self._variables)}")

    def add_variable_from_reference(self, reference_variable: Variable, name: str | None = None,
                                    initializer="zeros") -> Variable:
        """A slot shaped like ``reference_variable``, named after its path as Keras names it."""
        slot = f"{reference_variable.path.replace('/', '_')}_{name or 'var'}"
        return self.add_variable(reference_variable.shape, initializer, reference_variable.dtype, slot)

    def add_optimizer_variables(self, trainable_variables: Sequence[Variable], name: str | Sequence[str],
                                initializer="zeros"):
        """One slot per variable for each name, interleaved per variable (Keras' order)."""
        names = [name] if isinstance(name, str) else list(name)
        inits = initializer if isinstance(initializer, (list, tuple)) else [initializer] * len(names)
        if len(inits) != len(names):
            raise ValueError("The number of provided names must match the number of provided "
                             f"initializers. Received name='{name}', initializer='{initializer}'")
        slots: tuple[list[Variable], ...] = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, (n, init) in enumerate(zip(names, inits)):
                slots[i].append(self.add_variable_from_reference(variable, n, init))
        return slots[0] if isinstance(name, str) else slots

    def _get_variable_index(self, variable: Variable) -> int:
        return self._trainable_variables_indices[id(variable)]

    # -- learning rate ------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The current learning rate as a float (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            # A copy of the counter, so this stays eager even while a model is being traced.
            return float(np.asarray(lr(np.array(self._iterations.numpy()))))
        if isinstance(lr, Variable):
            return float(lr.numpy())
        return float(np.asarray(lr()))

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            if isinstance(self._learning_rate, Variable):
                self._variables.remove(self._learning_rate)
            self._learning_rate = value
            return
        if not isinstance(self._learning_rate, Variable):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                            "`learning_rate` constructor argument, hence its learning rate is not "
                            "settable. If you need the learning rate to be settable, you should "
                            "instantiate the optimizer with a float `learning_rate` argument.")
        self._learning_rate.assign(np.asarray(value, self._learning_rate.dtype))

    def _step_learning_rate(self) -> Tensor:
        """The learning rate for ``apply`` without one given: the Variable itself, or the schedule
        on the counter, so that under tracing both are read in-graph rather than frozen."""
        lr = self._learning_rate
        if isinstance(lr, (Variable, schedules.LearningRateSchedule)):
            return lr if isinstance(lr, Variable) else lr(self._iterations)
        return lr()

    # -- applying gradients -----------------------------------------------
    def apply_gradients(self, grads_and_vars) -> Variable:
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads: Sequence[Tensor | None], trainable_variables: Sequence[Variable] | None = None,
              learning_rate: Tensor | float | None = None) -> None:
        """Updates ``trainable_variables`` from ``grads`` and counts one step.

        ``learning_rate`` overrides the optimizer's own for this step (the trainer
        passes a graph input). Clipping, then weight decay, then the rule, then
        constraints and EMA, then ``iterations += 1``: Keras' order.
        """
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be "
                                 "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                                 "first.")
            if len(grads) != len(self._trainable_variables):
                raise ValueError("When passing `grads` as a list of gradient tensors, the gradients must "
                                 f"match `optimizer.variables` one-to-one. Received a list of {len(grads)} "
                                 f"gradients, but the optimizer is tracking {len(self._trainable_variables)} "
                                 "trainable variables.")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if len(grads) != len(trainable_variables):
                raise ValueError(f"Received {len(grads)} gradients for {len(trainable_variables)} variables.")
            if not self.built:
                self.build(trainable_variables)
            for v in trainable_variables:
                if id(v) not in self._trainable_variables_indices:
                    raise ValueError(f"Unknown variable: {v}. This optimizer can only be called for the "
                                     "variables it was originally built with. When working with a new set "
                                     "of variables, you should recreate a new optimizer instance.")
        grads, variables = self._filter_empty_gradients(grads, trainable_variables)
        # Traced gradients must bind every Variable read here (the counter included) into
        # their graph; without an active tracer those reads would be frozen numpy values.
        tracer = next((t.tracer for t in [*grads, learning_rate] if isinstance(t, TracedTensor)), None)
        with tracing(tracer) if tracer is not None and active_tracer() is not tracer else nullcontext():
            self._apply_update(grads, variables, learning_rate)

    def _apply_update(self, grads: list[Tensor], variables: list[Variable],
                      learning_rate: Tensor | float | None) -> None:
        if self.loss_scale_factor is not None:
            grads = [ops.divide(g, self.loss_scale_factor) for g in grads]
        lr = self._step_learning_rate() if learning_rate is None else learning_rate
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(variables, lr)
        self._backend_update_step(grads, variables, lr)
        for variable in variables:
            self._apply_constraint(variable)
        if self.use_ema:
            self._update_model_variables_moving_average(self._trainable_variables)
            if self.ema_overwrite_frequency:
                self._overwrite_with_average_every_n_steps()
        self._iterations.assign_add(1)

    def _backend_update_step(self, grads: list[Tensor], variables: list[Variable], learning_rate: Tensor) -> None:
        for grad, variable in zip(grads, variables):
            self.update_step(grad, variable, learning_rate)

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement `update_step`.")

    # Keras' hooks for assigning (subclasses call these, as Keras optimizers do).
    def assign(self, variable: Variable, value: Tensor) -> None:
        variable.assign(value)

    def assign_add(self, variable: Variable, value: Tensor) -> None:
        variable.assign_add(value)

    def assign_sub(self, variable: Variable, value: Tensor) -> None:
        variable.assign_sub(value)

    def scale_loss(self, loss: Tensor) -> Tensor:
        """``loss * loss_scale_factor`` when one is set (gradients are unscaled in ``apply``)."""
        return loss if self.loss_scale_factor is None else ops.multiply(loss, self.loss_scale_factor)

    @staticmethod
    def _filter_empty_gradients(grads, variables) -> tuple[list[Tensor], list[Variable]]:
        kept = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not kept:
            raise ValueError("No gradients provided for any variable.")
        missing = [v.path for g, v in zip(grads, variables) if g is None]
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. If "
                          "using `model.compile()`, did you forget to provide a `loss` argument?")
        return [g for g, _ in kept], [v for _, v in kept]

    # -- clipping -------------------------------------------------------------
    def _clip_gradients(self, grads: list[Tensor]) -> list[Tensor]:
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _clip_by_norm(self, values: Tensor) -> Tensor:
        """``values * clipnorm / max(||values||, clipnorm)``; a zero gradient stays zero (no 0/0)."""
        l2sum = ops.sum(ops.square(values), None, keepdims=True)
        pred = ops.greater(l2sum, 0)
        l2sum_safe = ops.where(pred, l2sum, ops.ones_like(l2sum))
        l2norm = ops.where(pred, ops.sqrt(l2sum_safe), l2sum)
        return ops.divide(ops.multiply(values, self.clipnorm), ops.maximum(l2norm, self.clipnorm))

    # -- weight decay -----------------------------------------------------------
    def exclude_from_weight_decay(self, var_list: Sequence[Variable] | None = None,
                                  var_names: Sequence[str] | None = None) -> None:
        """Leaves these variables (or those whose name contains one of ``var_names``) undecayed.

        Call it before the training step is compiled: a compiled step has its
        decay terms built in.
        """
        self._exclude_ids = {id(v) for v in var_list} if var_list else set()
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable: Variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        return not (self._exclude_pattern is not None and self._exclude_pattern.search(variable.name))

    def _apply_weight_decay(self, variables: list[Variable], learning_rate: Tensor) -> None:
        """Decoupled decay before the update: ``var -= var * weight_decay * lr``."""
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                lr = ops.cast(learning_rate, variable.dtype)
                wd = ops.cast(self.weight_decay, variable.dtype)
                variable.assign(ops.subtract(variable, ops.multiply(ops.multiply(variable, wd), lr)))

    @staticmethod
    def _apply_constraint(variable: Variable) -> None:
        constraint = getattr(variable, "constraint", None)
        if constraint is None:
            return
        if not callable(constraint):
            raise ValueError(f"The constraint of variable {variable.path} must be a callable that maps the "
                             f"variable to its constrained value. Received: constraint={constraint!r}")
        variable.assign(constraint(variable))

    # -- exponential moving average -----------------------------------------------
    def _update_model_variables_moving_average(self, variables: list[Variable]) -> None:
        """``average = m * average + (1 - m) * var``, with ``m = 0`` on the first step (average = var)."""
        for variable, average in zip(variables, self._model_variables_moving_average):
            not_first_step = ops.not_equal(self._iterations, 0)
            momentum = ops.multiply(ops.cast(not_first_step, variable.dtype), self.ema_momentum)
            average.assign(ops.add(ops.multiply(momentum, average),
                                   ops.multiply(ops.subtract(1, momentum), variable)))

    def _overwrite_with_average_every_n_steps(self) -> None:
        # Keras' ops.cond on the step, as a select: the compiled step has no branches.
        due = ops.equal(ops.mod(ops.add(self._iterations, 1), self.ema_overwrite_frequency), 0)
        for variable, average in zip(self._trainable_variables, self._model_variables_moving_average):
            variable.assign(ops.where(due, average, variable))

    def finalize_variable_values(self, var_list: Sequence[Variable]) -> None:
        """With EMA, writes the moving averages into the model's variables (``fit`` does this at the end)."""
        if not self.use_ema:
            return
        if len(var_list) != len(self._model_variables_moving_average):
            raise ValueError(f"The length of model variables ({len(var_list)}) to override does not match "
                             "the length of model variables stored in the optimizer "
                             f"({len(self._model_variables_moving_average)}). Please check if the "
                             "optimizer was called on your model.")
        for variable, average in zip(var_list, self._model_variables_moving_average):
            variable.assign(np.array(average.numpy()))

    # -- weights and config ---------------------------------------------------------
    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. "
                             "Please call `optimizer.build(trainable_variables)` to create the optimizer "
                             "weights before calling `set_weights()`.")
        for variable, weight in zip(self._variables, weights):
            if tuple(variable.shape) != tuple(np.shape(weight)):
                raise ValueError(f"Optimizer variable {variable.path} has shape {variable.shape} not "
                                 f"compatible with provided weight shape {np.shape(weight)}.")
            variable.assign(np.asarray(weight, variable.dtype))

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(v.numpy()) for v in self._variables]

    def save_own_variables(self, store) -> None:
        """Keras' saving hook: variables under keys "0", "1", ... in ``variables`` order."""
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store) -> None:
        if len(store.keys()) != len(self._variables):
            msg = (f"Skipping variable loading for optimizer '{self.name}', because it has "
                   f"{len(self._variables)} variables whereas the saved optimizer has {len(store.keys())} "
                   "variables. ")
            if not self.built:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        for i, variable in enumerate(self._variables):
            variable.assign(np.asarray(store[str(i)], variable.dtype))

    def get_config(self) -> dict[str, Any]:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr_config: Any = schedules.serialize(lr)
        elif isinstance(lr, Variable):
            lr_config = float(lr.numpy())
        else:
            lr_config = _serialize_function(lr)
        return {"name": self.name, "learning_rate": lr_config, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> "Optimizer":
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = (_deserialize_function(lr, custom_objects)
                                       if lr.get("class_name") == "function"
                                       else schedules.deserialize(lr, custom_objects))
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def global_norm(values: Sequence[Tensor]) -> Tensor:
    """``sqrt(sum of squares)`` over every tensor."""
    return ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(v)) for v in values])))


def clip_by_global_norm(values: Sequence[Tensor], clip_norm: float) -> list[Tensor]:
    """Scales all tensors by ``clip_norm / max(global_norm, clip_norm)``; a non-finite norm gives NaN."""
    use_norm = global_norm(values)
    scale = ops.multiply(clip_norm, ops.minimum(ops.divide(1.0, use_norm), 1.0 / clip_norm))
    # use_norm - use_norm is 0 for a finite norm and NaN otherwise: poisons the step, as in Keras.
    scale = ops.add(scale, ops.subtract(use_norm, use_norm))
    return [ops.multiply(v, scale) for v in values]


def _serialize_function(fn: Callable) -> dict[str, Any]:
    """A named function as Keras writes one; anything else has no portable form."""
    name = getattr(fn, "__name__", None)
    if name is None or name == "<lambda>":
        raise ValueError(f"Cannot serialize the learning rate {fn!r}: use a float or a "
                         "LearningRateSchedule, or a named module-level function.")
    return {"module": fn.__module__, "class_name": "function", "config": name, "registered_name": name}


def _deserialize_function(config: dict[str, Any], custom_objects: dict[str, Any] | None) -> Callable:
    import importlib
    name = config["config"]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    try:
        return getattr(importlib.import_module(config["module"]), name)
    except (ImportError, AttributeError):
        raise ValueError(f"Could not find the learning rate function {name!r} in module "
                         f"{config['module']!r}; pass it through `custom_objects`.") from None

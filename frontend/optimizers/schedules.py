"""Learning-rate schedules, as ``keras.optimizers.schedules``.

Each schedule is a function of the optimizer's step, written with ``horn.ops``
in the order Keras writes its formula, so one ``__call__`` evaluates eagerly on
numpy (what ``optimizer.learning_rate`` reports and what the trainer feeds the
compiled step) and also traces into a graph when given the iterations Variable
under a tracer. Keras' ``ops.cond`` branches become static Python choices
where the condition is a config value and ``ops.where`` where it is the step.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from frontend import ops
from frontend.ops.core import Tensor

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize"]


def _positive_steps(name: str, value) -> None:
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class LearningRateSchedule:
    """Base class: a serializable function of the (integer) training step."""

    def __call__(self, step: Tensor) -> Tensor:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`__call__(self, step)`.")

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)


class _RatioDecay(LearningRateSchedule):
    """What exponential and inverse-time decay share: their arguments, their config, and the
    decay ratio ``step / decay_steps`` (floored when ``staircase``) in the rate's dtype."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = "RatioDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _positive_steps("decay_steps", decay_steps)

    def _ratio(self, step: Tensor) -> tuple[Tensor, Tensor, str]:
        """(initial rate, ratio, dtype)."""
        initial = ops.convert_to_tensor(self.initial_learning_rate)
        dtype = ops.dtype(initial)
        p = ops.divide(ops.cast(step, dtype), ops.cast(self.decay_steps, dtype))
        if self.staircase:
            p = ops.floor(p)
        return initial, p, dtype

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RatioDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored exponent if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = "ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: Tensor) -> Tensor:
        initial, p, dtype = self._ratio(step)
        return ops.multiply(initial, ops.power(ops.cast(self.decay_rate, dtype), p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``; ``values[-1]`` past the last."""

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError("The length of boundaries should be 1 less than the length of values. "
                             f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                             f"values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step: Tensor) -> Tensor:
        step = ops.convert_to_tensor(step)
        step_dtype = ops.dtype(step)
        bounds = [ops.cast(ops.convert_to_tensor(b), step_dtype) for b in self.boundaries]
        values = [ops.convert_to_tensor(v) for v in self.values]
        out_dtype = ops.dtype(values[0])
        # A sum of indicator * value over the disjoint ranges, as Keras does.
        result = ops.add(np.zeros((), out_dtype),
                         ops.multiply(ops.cast(ops.less_equal(step, bounds[0]), out_dtype), values[0]))
        result = ops.add(result, ops.multiply(ops.cast(ops.greater(step, bounds[-1]), out_dtype), values[-1]))
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1]):
            in_range = ops.logical_and(ops.greater(step, low), ops.less_equal(step, high))
            result = ops.add(result, ops.multiply(ops.cast(in_range, out_dtype), value))
        return result

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, held (or cycled) past decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle: bool = False, name: str = "PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _positive_steps("decay_steps", decay_steps)

    def __call__(self, step: Tensor) -> Tensor:
        initial = ops.convert_to_tensor(self.initial_learning_rate)
        dtype = ops.dtype(initial)
        end = ops.cast(self.end_learning_rate, dtype)
        power = ops.cast(self.power, dtype)
        global_step = ops.cast(step, dtype)
        decay_steps = ops.cast(self.decay_steps, dtype)
        if self.cycle:
            # The first multiple of decay_steps at or past the step (1 at step 0).
            multiplier = ops.where(ops.equal(global_step, 0), 1.0,
                                   ops.ceil(ops.divide(global_step, self.decay_steps)))
            decay_steps = ops.multiply(decay_steps, multiplier)
        else:
            global_step = ops.minimum(global_step, decay_steps)
        p = ops.divide(global_step, decay_steps)
        return ops.add(ops.multiply(ops.subtract(initial, end), ops.power(ops.subtract(1, p), power)), end)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_RatioDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored ratio if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = "InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: Tensor) -> Tensor:
        initial, p, dtype = self._ratio(step)
        denom = ops.add(ops.cast(1, dtype), ops.multiply(ops.cast(self.decay_rate, dtype), p))
        return ops.divide(initial, denom)


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` (or, after a linear warmup to ``warmup_target``
    over ``warmup_steps``, from ``warmup_target``) down to ``alpha`` times it over ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name: str = "CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _positive_steps("decay_steps", decay_steps)

    def _decay(self, step: Tensor, decay_steps: Tensor, decay_from: Tensor, dtype: str) -> Tensor:
        fraction = ops.divide(step, decay_steps)
        pi = np.asarray(math.pi, dtype)
        cosine = ops.multiply(0.5, ops.add(1.0, ops.cos(ops.multiply(pi, fraction))))
        decayed = ops.add(ops.multiply(1 - self.alpha, cosine), self.alpha)
        return ops.multiply(decay_from, decayed)

    def __call__(self, step: Tensor) -> Tensor:
        initial = ops.convert_to_tensor(self.initial_learning_rate)
        dtype = ops.dtype(initial)
        decay_steps = ops.cast(self.decay_steps, dtype)
        global_step = ops.cast(step, dtype)
        if self.warmup_target is None:
            return self._decay(ops.minimum(global_step, decay_steps), decay_steps, initial, dtype)
        target = ops.cast(self.warmup_target, dtype)
        warmup_steps = ops.cast(self.warmup_steps, dtype)
        global_step = ops.minimum(global_step, ops.add(decay_steps, warmup_steps))
        decayed = self._decay(ops.subtract(global_step, warmup_steps), decay_steps, target, dtype)
        if self.warmup_steps == 0:
            # No warmup range: Keras' cond always takes the decay branch (and the
            # warmup branch would divide by zero).
            return decayed
        warm = ops.add(ops.multiply(ops.subtract(target, initial), ops.divide(global_step, warmup_steps)),
                       initial)
        return ops.where(ops.less(global_step, warmup_steps), warm, decayed)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: cosine decay restarted every period; periods grow by ``t_mul``, peaks shrink by ``m_mul``."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name: str = "SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _positive_steps("first_decay_steps", first_decay_steps)

    def __call__(self, step: Tensor) -> Tensor:
        initial = ops.convert_to_tensor(self.initial_learning_rate)
        dtype = ops.dtype(initial)
        alpha = ops.cast(self.alpha, dtype)
        t_mul = ops.cast(self._t_mul, dtype)
        m_mul = ops.cast(self._m_mul, dtype)
        fraction = ops.divide(ops.cast(step, dtype), ops.cast(self.first_decay_steps, dtype))
        if float(self._t_mul) == 1.0:
            i_restart = ops.floor(fraction)
            fraction = ops.subtract(fraction, i_restart)
        else:
            # Periods grow geometrically: restart i begins at sum_{k<i} t_mul**k = (1 - t**i) / (1 - t).
            i_restart = ops.floor(ops.divide(
                ops.log(ops.subtract(1.0, ops.multiply(fraction, ops.subtract(1.0, t_mul)))), ops.log(t_mul)))
            sum_r = ops.divide(ops.subtract(1.0, ops.power(t_mul, i_restart)), ops.subtract(1.0, t_mul))
            fraction = ops.divide(ops.subtract(fraction, sum_r), ops.power(t_mul, i_restart))
        m_fac = ops.power(m_mul, i_restart)
        pi = np.asarray(math.pi, dtype)
        cosine = ops.multiply(ops.multiply(0.5, m_fac), ops.add(1.0, ops.cos(ops.multiply(pi, fraction))))
        decayed = ops.add(ops.multiply(ops.subtract(1, alpha), cosine), alpha)
        return ops.multiply(initial, decayed)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul, "m_mul": self._m_mul,
                "alpha": self.alpha, "name": self.name}


_BUILTIN: dict[str, type[LearningRateSchedule]] = {
    c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay,
                            CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """Keras' config form, so a file Horn writes names the schedule the way Keras reads it."""
    builtin = _BUILTIN.get(type(schedule).__name__) is type(schedule)
    return {"module": "keras.optimizers.schedules" if builtin else type(schedule).__module__,
            "class_name": type(schedule).__name__, "config": schedule.get_config(),
            "registered_name": None if builtin else type(schedule).__name__}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> LearningRateSchedule:
    """A schedule from ``serialize``'s form (``custom_objects`` first, then the built-ins)."""
    custom = custom_objects or {}
    names = [config.get("registered_name"), config.get("class_name")]
    cls = next((custom[n] for n in names if n in custom), None) or _BUILTIN.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule: {config.get('class_name')!r}. Pass custom "
                         "schedules through `custom_objects`.")
    return cls.from_config(dict(config.get("config") or {}))

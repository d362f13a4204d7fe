"""Learning-rate schedules: closed forms, real Keras 3 at many steps, traced == eager, configs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from frontend.optimizers import schedules
from frontend.tracing import Tracer
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip

STEPS = list(range(0, 60)) + [97, 100, 101, 250, 1000, 12345]

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 25, 40], values=[1.0, 0.5, 0.1, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[0.3, 0.2])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=50)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.01, power=2.0)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=20, end_learning_rate=0.01, power=0.5,
                             cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40, alpha=0.2)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=30, warmup_target=0.1, warmup_steps=10)),
    ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=30, alpha=0.1, warmup_target=0.2,
                         warmup_steps=7)),
    ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=30, warmup_target=0.2)),   # no warmup steps
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=8, t_mul=1.0, m_mul=0.5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=1.5, m_mul=0.9,
                                 alpha=0.05)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def closed_form(name: str, c: dict, step: int) -> float:
    """The schedules' textbook definitions, in float64."""
    if name == "ExponentialDecay":
        p = step / c["decay_steps"]
        return c["initial_learning_rate"] * c["decay_rate"] ** (math.floor(p) if c.get("staircase") else p)
    if name == "PiecewiseConstantDecay":
        for b, v in zip(c["boundaries"], c["values"]):
            if step <= b:
                return v
        return c["values"][-1]
    if name == "PolynomialDecay":
        end, power, steps = c.get("end_learning_rate", 1e-4), c.get("power", 1.0), c["decay_steps"]
        if c.get("cycle"):
            steps = steps * max(1, math.ceil(step / steps))
        else:
            step = min(step, steps)
        return (c["initial_learning_rate"] - end) * (1 - step / steps) ** power + end
    if name == "InverseTimeDecay":
        p = step / c["decay_steps"]
        return c["initial_learning_rate"] / (1 + c["decay_rate"] * (math.floor(p) if c.get("staircase") else p))
    if name == "CosineDecay":
        alpha, warm = c.get("alpha", 0.0), c.get("warmup_steps", 0)
        start = c["initial_learning_rate"] if c.get("warmup_target") is None else c["warmup_target"]
        if step < warm:
            return c["initial_learning_rate"] + (c["warmup_target"] - c["initial_learning_rate"]) * step / warm
        frac = min(step - warm, c["decay_steps"]) / c["decay_steps"]
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * frac)) + alpha)
    if name == "CosineDecayRestarts":
        t_mul, m_mul, alpha = c.get("t_mul", 2.0), c.get("m_mul", 1.0), c.get("alpha", 0.0)
        period, start, i = c["first_decay_steps"], 0.0, 0
        while step >= start + period:       # walk the restarts one by one
            start, period, i = start + period, period * t_mul, i + 1
        frac = (step - start) / period
        return c["initial_learning_rate"] * ((1 - alpha) * 0.5 * m_mul ** i * (1 + math.cos(math.pi * frac))
                                             + alpha)
    raise AssertionError(name)


@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_matches_closed_form(name, config):
    schedule = getattr(schedules, name)(**config)
    got = [float(schedule(s)) for s in STEPS]
    want = [closed_form(name, config, s) for s in STEPS]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)


@pytest.mark.keras
@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_matches_keras_at_many_steps(name, config):
    keras = keras_or_skip()
    ours, theirs = getattr(schedules, name)(**config), getattr(keras.optimizers.schedules, name)(**config)
    for step in STEPS:
        # Integer steps as Python ints and as the int64 counter the optimizer keeps.
        want = float(theirs(step))
        assert float(ours(step)) == pytest.approx(want, rel=1e-6, abs=1e-9), step
        assert float(ours(np.int64(step))) == pytest.approx(want, rel=1e-6, abs=1e-9), step
    assert ours.get_config() == theirs.get_config()
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)
    back = keras.optimizers.schedules.deserialize(schedules.serialize(ours))
    assert float(back(17)) == pytest.approx(float(ours(17)), rel=1e-6)


@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_traced_schedule_matches_eager(name, config):
    """A schedule evaluated inside a compiled step (on the counter) gives the eager values."""
    schedule = getattr(schedules, name)(**config)
    tracer = Tracer("schedule")
    step = tracer.input((), "int64", "step")
    tracer.graph.set_outputs([schedule(step).value])
    exe = Executable(verify(tracer.graph))
    got = [float(exe(np.asarray(s, np.int64))[0]) for s in STEPS]
    want = [float(schedule(np.int64(s))) for s in STEPS]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_config_round_trip(name, config):
    schedule = getattr(schedules, name)(**config)
    clone = schedules.deserialize(schedules.serialize(schedule))
    assert type(clone) is type(schedule) and clone.get_config() == schedule.get_config()
    assert float(clone(13)) == float(schedule(13))


def test_custom_schedule_through_custom_objects():
    class Halving(schedules.LearningRateSchedule):
        def __init__(self, start):
            self.start = start

        def __call__(self, step):
            from frontend import ops
            return ops.multiply(self.start, ops.power(0.5, ops.cast(step, "float32")))

        def get_config(self):
            return {"start": self.start}

    config = schedules.serialize(Halving(0.8))
    assert config["registered_name"] == "Halving"
    with pytest.raises(ValueError, match="Unknown learning rate schedule: 'Halving'"):
        schedules.deserialize(config)
    clone = schedules.deserialize(config, custom_objects={"Halving": Halving})
    assert float(clone(3)) == pytest.approx(0.1)


@pytest.mark.parametrize("make,match", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "Argument `decay_steps` must be > 0"),
    (lambda: schedules.PolynomialDecay(0.1, -1), "Argument `decay_steps` must be > 0"),
    (lambda: schedules.CosineDecay(0.1, 0), "Argument `decay_steps` must be > 0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), "Argument `first_decay_steps` must be > 0"),
    (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2]),
     "The length of boundaries should be 1 less than the length of values"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_base_class_requires_call_and_config():
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(0)
    with pytest.raises(NotImplementedError, match="must override `get_config"):
        schedules.LearningRateSchedule().get_config()

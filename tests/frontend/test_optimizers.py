"""Optimizers: closed-form numpy, real Keras 3, and the compiled step all agree.

Each case runs several steps with changing gradients and learning rates:
  * eager Horn (numpy) against a float64 closed-form implementation written here;
  * eager Horn against ``keras.optimizers`` on the numpy backend, comparing the
    model variables and every optimizer variable by index (Keras' saving order);
  * a compiled step (gradients and the learning rate as graph inputs) against
    eager Horn, one executable for all steps and learning rates.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from frontend import optimizers
from frontend.optimizers import schedules
from frontend.tracing import Tracer, tracing
from frontend.variables import Variable
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip

STEPS = 5
LR_FACTORS = [1.0, 0.5, 2.0, 1.0, 0.25]   # the fed learning rate changes between steps

CASES = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8, "beta_2": 0.99}),
    ("AdamW", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "rho": 0.8}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-3}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-4}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Adamax", {"learning_rate": 0.01, "beta_1": 0.7, "beta_2": 0.9}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "clipnorm": 0.5}),
    ("Adam", {"learning_rate": 0.01, "clipvalue": 0.3}),
    ("RMSprop", {"learning_rate": 0.01, "global_clipnorm": 0.7}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05, "clipnorm": 1.0}),
    ("Nadam", {"learning_rate": 0.01, "global_clipnorm": 0.5}),
    ("Lion", {"learning_rate": 0.01, "weight_decay": 0.1, "clipvalue": 0.5}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items() if k != "learning_rate") for name, kw in CASES]


# -- fixtures of the runs ---------------------------------------------------------
def initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.uniform(-1, 1, (4, 3)).astype("float32"), rng.uniform(-1, 1, (3,)).astype("float32")]


def gradient_steps(seed: int = 2) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal(3).astype("float32")]
            for _ in range(STEPS)]


def learning_rates(base: float) -> list[float]:
    # float32-representable, as the optimizer stores and the trainer feeds them
    return [float(np.float32(base * f)) for f in LR_FACTORS]


def horn_variables() -> list[Variable]:
    k, b = initial_weights()
    return [Variable(k, name="kernel", path="dense/kernel"), Variable(b, name="bias", path="dense/bias")]


def run_eager(name: str, kw: dict) -> tuple[optimizers.Optimizer, list[Variable]]:
    opt = getattr(optimizers, name)(**kw)
    variables = horn_variables()
    for grads, lr in zip(gradient_steps(), learning_rates(kw["learning_rate"])):
        opt.learning_rate = lr
        opt.apply(grads, variables)
    return opt, variables


def compile_step(opt: optimizers.Optimizer, variables: list[Variable], feed_lr: bool = True,
                 in_tracing_context: bool = True) -> Executable:
    """The trainer's pattern: gradients and (optionally) the learning rate are graph inputs."""
    tracer = Tracer("train_step")
    grads = [tracer.input(v.shape, v.dtype, f"grad{i}") for i, v in enumerate(variables)]
    lr = tracer.input((), "float32", "learning_rate") if feed_lr else None
    if in_tracing_context:
        with tracing(tracer):
            opt.apply(grads, variables, learning_rate=lr)
    else:
        opt.apply(grads, variables, learning_rate=lr)
    tracer.graph.set_outputs([])
    return Executable(verify(tracer.graph))


# -- closed-form float64 references -----------------------------------------------
def numpy_reference(name: str, kw: dict, weights, grad_steps, lrs) -> list[np.ndarray]:
    """Textbook formulas, written independently of the implementation, in float64."""
    w = [x.astype(np.float64) for x in weights]
    zeros = lambda: [np.zeros_like(x) for x in w]  # noqa: E731
    b1, b2 = kw.get("beta_1", 0.9), kw.get("beta_2", 0.99 if name == "Lion" else 0.999)
    eps = kw.get("epsilon", 1e-7)
    s1, s2, s3 = zeros(), zeros(), zeros()
    if name == "Adagrad":
        s1 = [np.full_like(x, kw.get("initial_accumulator_value", 0.1)) for x in w]
    u_product = 1.0
    wd = kw.get("weight_decay", 0.004 if name == "AdamW" else None)
    for t, (grads, lr) in enumerate(zip(grad_steps, lrs), start=1):
        g = [x.astype(np.float64) for x in grads]
        if kw.get("clipnorm"):
            c = kw["clipnorm"]
            g = [x * c / max(np.linalg.norm(x), c) for x in g]
        if kw.get("global_clipnorm"):
            c = kw["global_clipnorm"]
            norm = np.sqrt(sum(np.sum(x * x) for x in g))
            g = [x * c / max(norm, c) for x in g]
        if kw.get("clipvalue"):
            g = [np.clip(x, -kw["clipvalue"], kw["clipvalue"]) for x in g]
        if wd:
            w = [x - x * wd * lr for x in w]
        if name == "Nadam":
            u_t = b1 * (1 - 0.5 * 0.96 ** t)
            u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
            u_product *= u_t
        for i, gi in enumerate(g):
            if name == "SGD":
                mom = kw.get("momentum", 0.0)
                if mom:
                    s1[i] = mom * s1[i] - lr * gi
                    w[i] = w[i] + (mom * s1[i] - lr * gi if kw.get("nesterov") else s1[i])
                else:
                    w[i] = w[i] - lr * gi
            elif name in ("Adam", "AdamW"):
                s1[i] = b1 * s1[i] + (1 - b1) * gi
                s2[i] = b2 * s2[i] + (1 - b2) * gi ** 2
                v = s2[i]
                if kw.get("amsgrad"):
                    s3[i] = np.maximum(s3[i], s2[i])
                    v = s3[i]
                m_hat_scale = np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                w[i] = w[i] - lr * m_hat_scale * s1[i] / (np.sqrt(v) + eps)
            elif name == "RMSprop":
                rho, mom = kw.get("rho", 0.9), kw.get("momentum", 0.0)
                s1[i] = rho * s1[i] + (1 - rho) * gi ** 2
                denom = s1[i] + eps
                if kw.get("centered"):
                    s2[i] = rho * s2[i] + (1 - rho) * gi
                    denom = s1[i] - s2[i] ** 2 + eps
                inc = lr * gi / np.sqrt(denom)
                if mom:
                    s3[i] = mom * s3[i] + inc
                    inc = s3[i]
                w[i] = w[i] - inc
            elif name == "Adagrad":
                s1[i] = s1[i] + gi ** 2
                w[i] = w[i] - lr * gi / np.sqrt(s1[i] + eps)
            elif name == "Adadelta":
                rho = kw.get("rho", 0.95)
                s1[i] = rho * s1[i] + (1 - rho) * gi ** 2
                delta = -np.sqrt(s2[i] + eps) / np.sqrt(s1[i] + eps) * gi
                s2[i] = rho * s2[i] + (1 - rho) * delta ** 2
                w[i] = w[i] + lr * delta
            elif name == "Adamax":
                s1[i] = b1 * s1[i] + (1 - b1) * gi
                s2[i] = np.maximum(b2 * s2[i], np.abs(gi))
                w[i] = w[i] - lr * s1[i] / ((1 - b1 ** t) * (s2[i] + eps))
            elif name == "Nadam":
                s1[i] = b1 * s1[i] + (1 - b1) * gi
                s2[i] = b2 * s2[i] + (1 - b2) * gi ** 2
                m_hat = u_t1 * s1[i] / (1 - u_product * u_t1) + (1 - u_t) * gi / (1 - u_product)
                v_hat = s2[i] / (1 - b2 ** t)
                w[i] = w[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
            elif name == "Lion":
                w[i] = w[i] - lr * np.sign(b1 * s1[i] + (1 - b1) * gi)
                s1[i] = b2 * s1[i] + (1 - b2) * gi
            else:
                raise AssertionError(name)
    return w


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_eager_matches_closed_form(name, kw):
    opt, variables = run_eager(name, kw)
    want = numpy_reference(name, kw, initial_weights(), gradient_steps(), learning_rates(kw["learning_rate"]))
    for v, w in zip(variables, want):
        np.testing.assert_allclose(v.numpy(), w, rtol=2e-5, atol=2e-6, err_msg=f"{v.path}")
    assert int(opt.iterations.numpy()) == STEPS
    # The run actually moved the weights (a no-op update would pass a loose comparison).
    assert not np.allclose(variables[0].numpy(), initial_weights()[0], atol=1e-4)


@pytest.mark.keras
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_eager_matches_keras(name, kw):
    keras = keras_or_skip()
    opt, variables = run_eager(name, kw)
    k_opt = getattr(keras.optimizers, name)(**kw)
    with keras.name_scope("dense"):
        k_vars = [keras.Variable(w, name=n) for w, n in zip(initial_weights(), ["kernel", "bias"])]
    for grads, lr in zip(gradient_steps(), learning_rates(kw["learning_rate"])):
        k_opt.learning_rate = lr
        k_opt.apply(grads, k_vars)
    for ours, theirs in zip(variables, k_vars):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7, err_msg=ours.path)
    # The same optimizer state in the same order and names: checkpoints are interchangeable.
    # (Keras leaves Nadam's momentum product auto-named, "variable[_n]"; Horn calls it "u_product".)
    keras_names = [re.sub(r"^variable(_\d+)?$", "u_product", v.name) for v in k_opt.variables]
    assert [v.name for v in opt.variables] == keras_names
    for ours, theirs in zip(opt.variables, k_opt.variables):
        np.testing.assert_allclose(ours.numpy(), np.asarray(theirs.numpy(), ours.dtype), rtol=1e-6,
                                   atol=1e-7, err_msg=ours.path)
    ours_cfg, keras_cfg = opt.get_config(), k_opt.get_config()
    ours_cfg.pop("name"), keras_cfg.pop("name")
    assert ours_cfg == keras_cfg


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_compiled_step_matches_eager(name, kw):
    want_opt, want_vars = run_eager(name, kw)
    opt = getattr(optimizers, name)(**kw)
    variables = horn_variables()
    exe = compile_step(opt, variables)
    # One executable for every step: the learning rate is fed, the counter read in-graph.
    for grads, lr in zip(gradient_steps(), learning_rates(kw["learning_rate"])):
        exe(*grads, np.asarray(lr, "float32"))
    for ours, theirs in zip(variables + opt.variables, want_vars + want_opt.variables):
        if ours.name == "learning_rate":   # the compiled runs fed it; the eager ones set it
            continue
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7, err_msg=ours.path)
    assert int(opt.iterations.numpy()) == STEPS


def test_traced_gradients_alone_put_every_read_in_their_graph():
    """Without ``tracing()`` around ``apply``, the counter must still be read in-graph, not frozen."""
    want_opt, want_vars = run_eager("Adam", {"learning_rate": 0.01})
    opt, variables = optimizers.Adam(learning_rate=0.01), horn_variables()
    exe = compile_step(opt, variables, in_tracing_context=False)
    assert int(opt.iterations.numpy()) == 0            # tracing recorded the increment, did not do it
    for grads, lr in zip(gradient_steps(), learning_rates(0.01)):
        exe(*grads, np.asarray(lr, "float32"))
    for ours, theirs in zip(variables, want_vars):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


# -- the learning rate in compiled steps -----------------------------------------------------
def test_fed_learning_rate_changes_the_step_without_recompiling():
    opt = optimizers.SGD(learning_rate=0.1)
    variables = horn_variables()
    exe = compile_step(opt, variables)
    w0 = variables[0].numpy().copy()
    g = [np.ones((4, 3), "float32"), np.ones(3, "float32")]
    exe(*g, np.asarray(0.0, "float32"))
    np.testing.assert_array_equal(variables[0].numpy(), w0)
    exe(*g, np.asarray(0.25, "float32"))
    np.testing.assert_allclose(variables[0].numpy(), w0 - 0.25, rtol=1e-6)
    exe(*g, np.asarray(0.5, "float32"))
    np.testing.assert_allclose(variables[0].numpy(), w0 - 0.75, rtol=1e-6)
    assert int(opt.iterations.numpy()) == 3


def test_compiled_step_without_fed_rate_reads_the_learning_rate_variable():
    opt = optimizers.SGD(learning_rate=0.5)
    variables = horn_variables()
    exe = compile_step(opt, variables, feed_lr=False)
    w0 = variables[1].numpy().copy()
    g = [np.zeros((4, 3), "float32"), np.ones(3, "float32")]
    exe(*g)
    np.testing.assert_allclose(variables[1].numpy(), w0 - 0.5, rtol=1e-6)
    opt.learning_rate = 0.125           # what ReduceLROnPlateau does: the same executable follows
    exe(*g)
    np.testing.assert_allclose(variables[1].numpy(), w0 - 0.625, rtol=1e-6)


def test_compiled_step_evaluates_a_schedule_on_the_counter():
    def make():
        return optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5))
    eager, eager_vars = make(), horn_variables()
    opt, variables = make(), horn_variables()
    exe = compile_step(opt, variables, feed_lr=False)
    for grads in gradient_steps():
        eager.apply(grads, eager_vars)
        exe(*grads)
    for ours, theirs in zip(variables + opt.variables, eager_vars + eager.variables):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7, err_msg=ours.path)
    assert opt.learning_rate == pytest.approx(0.1 * 0.5 ** (STEPS / 2), rel=1e-6)


@pytest.mark.keras
def test_schedule_learning_rate_matches_keras_over_steps():
    keras = keras_or_skip()
    sched = dict(initial_learning_rate=0.1, decay_steps=3, alpha=0.1, warmup_target=0.2, warmup_steps=2)
    opt = optimizers.SGD(learning_rate=schedules.CosineDecay(**sched), momentum=0.9)
    k_opt = keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.CosineDecay(**sched), momentum=0.9)
    variables = horn_variables()
    with keras.name_scope("dense"):
        k_vars = [keras.Variable(w, name=n) for w, n in zip(initial_weights(), ["kernel", "bias"])]
    for grads in gradient_steps():
        assert opt.learning_rate == pytest.approx(float(k_opt.learning_rate), rel=1e-6)
        opt.apply(grads, variables)
        k_opt.apply(grads, k_vars)
    for ours, theirs in zip(variables, k_vars):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_learning_rate_property_and_setter():
    opt = optimizers.Adam(learning_rate=0.01)
    assert isinstance(opt.learning_rate, float)
    assert opt.learning_rate == pytest.approx(0.01)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    scheduled = optimizers.Adam(learning_rate=schedules.PiecewiseConstantDecay([2], [0.1, 0.01]))
    assert [v.name for v in scheduled.variables] == ["iteration"]   # no learning-rate Variable, as Keras
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate = 0.3
    scheduled.iterations.assign(np.int64(3))
    assert scheduled.learning_rate == pytest.approx(0.01)
    opt.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)    # a schedule replaces the Variable
    assert [v.name for v in opt.variables] == ["iteration"]
    assert opt.learning_rate == pytest.approx(1.0)


# -- clipping, weight decay, EMA, constraints --------------------------------------------------
@pytest.mark.parametrize("compiled", [False, True])
def test_clipnorm_keeps_a_zero_gradient_finite(compiled):
    opt = optimizers.SGD(learning_rate=0.1, clipnorm=1.0)
    variables = horn_variables()
    before = [v.numpy().copy() for v in variables]
    grads = [np.zeros((4, 3), "float32"), np.full(3, 10.0, "float32")]
    if compiled:
        compile_step(opt, variables)(*grads, np.asarray(0.1, "float32"))
    else:
        opt.apply(grads, variables)
    np.testing.assert_array_equal(variables[0].numpy(), before[0])
    # ||[10, 10, 10]|| = 17.3 > 1: clipped to unit norm.
    np.testing.assert_allclose(variables[1].numpy(), before[1] - 0.1 / np.sqrt(3), rtol=1e-6)


def test_global_clipnorm_with_a_non_finite_norm_poisons_the_step():
    opt = optimizers.SGD(learning_rate=0.1, global_clipnorm=1.0)
    variables = horn_variables()
    with np.errstate(all="ignore"):
        opt.apply([np.full((4, 3), np.inf, "float32"), np.ones(3, "float32")], variables)
    assert np.isnan(variables[1].numpy()).all()


@pytest.mark.keras
@pytest.mark.parametrize("compiled", [False, True])
def test_exclude_from_weight_decay_matches_keras(compiled):
    keras = keras_or_skip()
    opt = optimizers.AdamW(learning_rate=0.01, weight_decay=0.5)
    variables = horn_variables()
    opt.exclude_from_weight_decay(var_names=["bias"])
    k_opt = keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.5)
    with keras.name_scope("dense"):
        k_vars = [keras.Variable(w, name=n) for w, n in zip(initial_weights(), ["kernel", "bias"])]
    k_opt.exclude_from_weight_decay(var_names=["bias"])
    exe = compile_step(opt, variables) if compiled else None
    for grads in gradient_steps():
        if exe is not None:
            exe(*grads, np.asarray(0.01, "float32"))
        else:
            opt.apply(grads, variables)
        k_opt.apply(grads, k_vars)
    for ours, theirs in zip(variables, k_vars):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    # and the exclusion mattered: without it the bias decays
    plain = optimizers.AdamW(learning_rate=0.01, weight_decay=0.5)
    plain_vars = horn_variables()
    for grads in gradient_steps():
        plain.apply(grads, plain_vars)
    assert not np.allclose(plain_vars[1].numpy(), variables[1].numpy(), rtol=1e-4)


def test_exclude_variables_by_identity():
    opt = optimizers.SGD(learning_rate=1.0, weight_decay=0.5)
    variables = horn_variables()
    opt.exclude_from_weight_decay(var_list=[variables[0]])
    before = [v.numpy().copy() for v in variables]
    opt.apply([np.zeros((4, 3), "float32"), np.zeros(3, "float32")], variables)
    np.testing.assert_array_equal(variables[0].numpy(), before[0])
    np.testing.assert_allclose(variables[1].numpy(), before[1] * 0.5, rtol=1e-6)


@pytest.mark.keras
def test_ema_matches_keras_eager_and_compiled():
    keras = keras_or_skip()
    kw = dict(learning_rate=0.05, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    eager, eager_vars = optimizers.Adam(**kw), horn_variables()
    opt, variables = optimizers.Adam(**kw), horn_variables()
    exe = compile_step(opt, variables)
    k_opt = keras.optimizers.Adam(**kw)
    with keras.name_scope("dense"):
        k_vars = [keras.Variable(w, name=n) for w, n in zip(initial_weights(), ["kernel", "bias"])]
    for grads in gradient_steps():
        eager.apply(grads, eager_vars)
        exe(*grads, np.asarray(0.05, "float32"))
        k_opt.apply(grads, k_vars)
    assert [v.name for v in eager.variables] == [v.name for v in k_opt.variables]
    for a, b, c in zip(eager_vars + eager.variables, variables + opt.variables, k_vars + k_opt.variables):
        np.testing.assert_allclose(a.numpy(), np.asarray(c.numpy(), a.dtype), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)
    eager.finalize_variable_values(eager_vars)
    k_opt.finalize_variable_values(k_vars)
    for ours, theirs in zip(eager_vars, k_vars):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("compiled", [False, True])
def test_constraints_apply_after_the_update(compiled):
    from frontend import ops
    opt = optimizers.SGD(learning_rate=1.0)
    variables = horn_variables()
    variables[0].constraint = lambda w: ops.maximum(w, 0.0)      # non-negative kernel
    grads = [np.ones((4, 3), "float32"), np.ones(3, "float32")]
    want = np.maximum(variables[0].numpy() - 1.0, 0.0)
    if compiled:
        compile_step(opt, variables)(*grads, np.asarray(1.0, "float32"))
    else:
        opt.apply(grads, variables)
    np.testing.assert_allclose(variables[0].numpy(), want, rtol=1e-6)


def test_loss_scale_factor_unscales_gradients():
    opt = optimizers.SGD(learning_rate=1.0, loss_scale_factor=4.0)
    variables = horn_variables()
    before = variables[1].numpy().copy()
    assert float(opt.scale_loss(np.float32(2.0))) == 8.0
    opt.apply([np.zeros((4, 3), "float32"), np.full(3, 4.0, "float32")], variables)
    np.testing.assert_allclose(variables[1].numpy(), before - 1.0, rtol=1e-6)


# -- building, state and names -------------------------------------------------------------------
def test_build_creates_slots_named_and_ordered_as_keras():
    opt = optimizers.Adam(amsgrad=True, name="adam")
    variables = horn_variables()
    opt.build(variables)
    assert [v.path for v in opt.variables] == [
        "adam/iteration", "adam/learning_rate",
        "adam/dense_kernel_momentum", "adam/dense_kernel_velocity",
        "adam/dense_bias_momentum", "adam/dense_bias_velocity",
        "adam/dense_kernel_velocity_hat", "adam/dense_bias_velocity_hat"]
    assert opt.iterations.dtype == "int64" and int(opt.iterations.numpy()) == 0
    assert all(not v.trainable for v in opt.variables)
    assert opt.variables[2].shape == (4, 3) and opt.variables[2].dtype == "float32"
    adagrad = optimizers.Adagrad(initial_accumulator_value=0.3)
    adagrad.build(variables)
    np.testing.assert_allclose(adagrad.variables[2].numpy(), np.full((4, 3), 0.3, "float32"))
    nadam = optimizers.Nadam()
    nadam.build(variables)
    assert nadam.variables[-1].name == "u_product" and float(nadam.variables[-1].numpy()) == 1.0
    assert len(optimizers.SGD().variables) == 2                 # no momentum slots without momentum


def test_save_and_load_own_variables_round_trip():
    opt, _ = run_eager("Adam", {"learning_rate": 0.01})
    store: dict[str, np.ndarray] = {}
    opt.save_own_variables(store)
    assert sorted(store, key=int) == [str(i) for i in range(len(opt.variables))]
    fresh = optimizers.Adam(learning_rate=0.01)
    fresh.build(horn_variables())
    fresh.load_own_variables({k: np.array(v) for k, v in store.items()})
    for a, b in zip(fresh.variables, opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    unbuilt = optimizers.Adam()
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        unbuilt.load_own_variables(store)


def test_apply_checks_its_arguments():
    opt = optimizers.SGD()
    variables = horn_variables()
    with pytest.raises(ValueError, match="must already be built"):
        opt.apply([np.zeros((4, 3), "float32")])
    opt.apply([np.zeros((4, 3), "float32"), np.zeros(3, "float32")], variables)
    stranger = Variable(np.zeros(2, "float32"), name="w")
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([np.zeros(2, "float32")], [stranger])
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply([None, None], variables)
    before = variables[0].numpy().copy()
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['dense/kernel'\]"):
        opt.apply([None, np.ones(3, "float32")], variables)
    np.testing.assert_array_equal(variables[0].numpy(), before)


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=1.0), "Only one of `clipnorm`"),
    (lambda: optimizers.AdamW(weight_decay=None), "`weight_decay` must be a float"),
    (lambda: optimizers.SGD(momentum=1.5), r"`momentum` must be a float between \[0, 1\]"),
    (lambda: optimizers.Adam(learning_rate="fast"), "Argument `learning_rate` should be float"),
    (lambda: optimizers.Adam(foo=1), "Argument\\(s\\) not recognized"),
    (lambda: optimizers.Lion(beta_1=0.0), "Argument `beta_1` must be in the \\[0, 1\\] range"),
    (lambda: optimizers.Adam(gradient_accumulation_steps=4), "not supported by Horn"),
    (lambda: optimizers.Adam(use_ema=True, ema_momentum=2.0), "`ema_momentum` must be in the range"),
])
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_decay_argument_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        optimizers.SGD(decay=0.1)


# -- get / config / serialization ---------------------------------------------------------------
@pytest.mark.parametrize("identifier,cls", [
    ("sgd", optimizers.SGD), ("adam", optimizers.Adam), ("Adam", optimizers.Adam), ("adamw", optimizers.AdamW),
    ("rmsprop", optimizers.RMSprop), ("RMSprop", optimizers.RMSprop), ("adagrad", optimizers.Adagrad),
    ("adadelta", optimizers.Adadelta), ("adamax", optimizers.Adamax), ("nadam", optimizers.Nadam),
    ("lion", optimizers.Lion)])
def test_get_resolves_names(identifier, cls):
    opt = optimizers.get(identifier)
    assert type(opt) is cls
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None


@pytest.mark.parametrize("identifier", ["foo", 3, {"class_name": "Foo", "config": {}}])
def test_get_rejects_unknown_identifiers(identifier):
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        optimizers.get(identifier)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_config_round_trip(name, kw):
    opt = getattr(optimizers, name)(**kw)
    config = opt.get_config()
    clone = type(opt).from_config(config)
    assert clone.get_config() == config
    again = optimizers.get(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == config


def test_config_with_a_schedule_round_trips():
    opt = optimizers.Adam(learning_rate=schedules.CosineDecayRestarts(0.1, 5, t_mul=1.5, m_mul=0.8))
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "CosineDecayRestarts"
    clone = optimizers.Adam.from_config(config)
    assert isinstance(clone._learning_rate, schedules.CosineDecayRestarts)
    assert clone.get_config() == config


def named_learning_rate() -> float:
    return 0.25


def test_callable_learning_rate_is_called_and_serialized_by_name():
    opt = optimizers.SGD(learning_rate=named_learning_rate)
    assert opt.learning_rate == 0.25
    variables = horn_variables()
    before = variables[1].numpy().copy()
    opt.apply([np.zeros((4, 3), "float32"), np.ones(3, "float32")], variables)
    np.testing.assert_allclose(variables[1].numpy(), before - 0.25, rtol=1e-6)
    clone = optimizers.SGD.from_config(opt.get_config())
    assert clone.learning_rate == 0.25
    with pytest.raises(ValueError, match="Cannot serialize the learning rate"):
        optimizers.SGD(learning_rate=lambda: 0.1).get_config()


@pytest.mark.keras
@pytest.mark.parametrize("name,kw", CASES[:20:3], ids=IDS[:20:3])
def test_configs_are_interchangeable_with_keras(name, kw):
    keras = keras_or_skip()
    ours = getattr(optimizers, name)(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.optimizers.deserialize(optimizers.serialize(ours))
        back = optimizers.get(keras.optimizers.serialize(theirs))
    assert type(theirs).__name__ == name and type(back) is type(ours)
    assert back.get_config() == ours.get_config() == {**theirs.get_config(), "name": ours.name}


@pytest.mark.keras
def test_keras_defaults_match():
    keras = keras_or_skip()
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion"]:
        ours, theirs = getattr(optimizers, name)().get_config(), getattr(keras.optimizers, name)().get_config()
        ours.pop("name"), theirs.pop("name")
        assert ours == theirs, name
    assert optimizers.AdamW().name.startswith("adam_w") and optimizers.RMSprop().name.startswith("rm_sprop")


def test_public_face():
    import horn.optimizers as public
    assert public.Adam is optimizers.Adam and public.get("sgd").__class__ is optimizers.SGD
    assert public.schedules.CosineDecay is schedules.CosineDecay

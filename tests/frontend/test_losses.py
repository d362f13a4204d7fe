"""horn.losses against real Keras 3 (numpy backend): every loss, option, reduction
and sample-weight form, eager; the function forms; configs; ``get`` and
``resolve_loss``; error messages; and every loss traced on a symbolic batch,
compiled once, and run at batch 1 and 37 to the eager values."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from frontend import losses
from frontend.tensors import TracedTensor
from frontend.tracing import Tracer, tracing
from frontend.variables import Variable
from ir import interpret, verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip

B, C = 9, 5


def _data(kind: str, rng: np.random.Generator, batch: int = B) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) fitting each loss family."""
    shape = (batch, C)
    normal = lambda *s, scale=1.0: rng.normal(0, scale, s or shape).astype("float32")  # noqa: E731
    onehot = np.eye(C, dtype="float32")[rng.integers(0, C, batch)]
    probs = rng.uniform(0.05, 1, shape)
    probs = (probs / probs.sum(-1, keepdims=True)).astype("float32")
    if kind == "regression":
        return normal(), normal()
    if kind == "regression3d":   # (batch, steps, features): for losses over a non-last axis
        return normal(batch, 3, C), normal(batch, 3, C)
    if kind == "positive":       # MSLE, Poisson, KLD, MAPE: values where logs and ratios are tame
        return rng.uniform(0.05, 2, shape).astype("float32"), rng.uniform(0.05, 2, shape).astype("float32")
    if kind == "binary_probs":
        return rng.integers(0, 2, shape).astype("float32"), rng.uniform(0.01, 0.99, shape).astype("float32")
    if kind == "binary_logits":
        return rng.integers(0, 2, shape).astype("float32"), normal(scale=3.0)
    if kind == "onehot_probs":
        return onehot, probs
    if kind == "onehot_logits":
        return onehot, normal(scale=2.0)
    if kind == "sparse_probs":
        return rng.integers(0, C, batch).astype("int32"), probs
    if kind == "sparse_logits":
        return rng.integers(0, C, (batch, 1)).astype("int32"), normal(scale=2.0)
    if kind == "signed":         # hinge labels in {-1, 1}
        return rng.choice([-1.0, 1.0], shape).astype("float32"), normal()
    raise AssertionError(kind)


# (class name, constructor kwargs, data kind)
CASES = [
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "positive"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("CosineSimilarity", {}, "regression"),
    ("CosineSimilarity", {"axis": 1}, "regression3d"),
    ("Huber", {}, "regression"),
    ("Huber", {"delta": 0.4}, "regression"),
    ("LogCosh", {}, "regression"),
    ("KLDivergence", {}, "positive"),
    ("Poisson", {}, "positive"),
    ("BinaryCrossentropy", {}, "binary_probs"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary_probs"),
    ("BinaryFocalCrossentropy", {}, "binary_probs"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5,
                                 "from_logits": True, "label_smoothing": 0.1}, "binary_logits"),
    ("CategoricalCrossentropy", {}, "onehot_probs"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.15}, "onehot_logits"),
    ("SparseCategoricalCrossentropy", {}, "sparse_probs"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, "sparse_logits"),
    ("Hinge", {}, "binary_logits"),
    ("Hinge", {}, "signed"),
    ("SquaredHinge", {}, "binary_logits"),
    ("SquaredHinge", {}, "signed"),
    ("CategoricalHinge", {}, "onehot_logits"),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
WEIGHTS = ["none", "per_sample", "column", "scalar"]


def _weights(form: str, rng) -> object:
    return {"none": None, "per_sample": rng.uniform(0, 2, B).astype("float32"),
            "column": rng.uniform(0, 2, (B, 1)).astype("float32"), "scalar": 0.7}[form]


def _case_id(case) -> str:
    name, kwargs, kind = case
    return f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default'}-{kind}"


@pytest.mark.keras
@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
def test_loss_matches_keras_for_every_reduction_and_weight_form(case, reduction):
    keras = keras_or_skip()
    name, kwargs, kind = case
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    y_true, y_pred = _data(kind, rng)
    mine = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    for form in WEIGHTS:
        if kind == "regression3d" and form == "per_sample":
            continue    # (B,) weights do not broadcast against (B, C) losses, in Keras either
        if "ignore_class" in kwargs and form == "scalar":
            continue    # Keras fails here (an in-place `*=` on the 0-d weight); Horn just broadcasts
        sw = _weights(form, rng)
        got, want = np.asarray(mine(y_true, y_pred, sw)), np.asarray(theirs(y_true, y_pred, sw))
        assert got.shape == want.shape, f"{form}: shape {got.shape} vs {want.shape}"
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=f"sample_weight {form}")


FUNCTIONS = [
    ("mean_squared_error", {}, "regression"), ("mean_absolute_error", {}, "regression"),
    ("mean_absolute_percentage_error", {}, "positive"), ("mean_squared_logarithmic_error", {}, "positive"),
    ("cosine_similarity", {"axis": -1}, "regression"), ("huber", {"delta": 2.0}, "regression"),
    ("log_cosh", {}, "regression"), ("kl_divergence", {}, "positive"), ("poisson", {}, "positive"),
    ("binary_crossentropy", {"label_smoothing": 0.1}, "binary_probs"),
    ("binary_focal_crossentropy", {"gamma": 3.0}, "binary_probs"),
    ("categorical_crossentropy", {"from_logits": True}, "onehot_logits"),
    ("sparse_categorical_crossentropy", {}, "sparse_probs"),
    ("hinge", {}, "signed"), ("squared_hinge", {}, "binary_logits"),
    ("categorical_hinge", {}, "onehot_logits"),
]


@pytest.mark.keras
@pytest.mark.parametrize("case", FUNCTIONS, ids=_case_id)
def test_function_form_matches_keras(case):
    keras = keras_or_skip()
    name, kwargs, kind = case
    y_true, y_pred = _data(kind, np.random.default_rng(3))
    got = getattr(losses, name)(y_true, y_pred, **kwargs)
    want = getattr(keras.losses, name)(y_true, y_pred, **kwargs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-5, atol=1e-6)


def test_float64_loss_computes_in_float64():
    y_true, y_pred = _data("regression", np.random.default_rng(0))
    value = losses.MeanSquaredError(dtype="float64")(y_true, y_pred)
    assert np.asarray(value).dtype == np.float64
    np.testing.assert_allclose(value, np.mean((y_true.astype("f8") - y_pred.astype("f8")) ** 2), rtol=1e-12)


def test_binary_crossentropy_from_logits_is_stable_for_extreme_logits():
    """log_sigmoid (Keras' JAX/TF form), not sigmoid + clip (its numpy form): the true loss."""
    logits = np.array([[40.0, -40.0, 0.0]], "float32")
    labels = np.array([[0.0, 1.0, 1.0]], "float32")
    got = losses.binary_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(got, [(40 + 40 + np.log(2)) / 3], rtol=1e-6)


def test_mask_on_predictions_averages_over_valid_entries():
    y_true, y_pred = _data("regression", np.random.default_rng(1), batch=4)
    mask = np.array([True, False, True, True])
    tracer = Tracer("masked")
    p = tracer.input((None, C), "float32", "y_pred")
    p._keras_mask = tracer.input((None,), "bool", "mask")
    t = tracer.input((None, C), "float32", "y_true")
    out = losses.MeanSquaredError()(t, p)
    tracer.graph.set_outputs([out.value])
    got = Executable(verify(tracer.graph))(y_pred, mask, y_true)[0]
    per_sample = np.mean((y_true - y_pred) ** 2, axis=-1)
    np.testing.assert_allclose(got, per_sample[mask].mean(), rtol=1e-5)


# -- configs, get, resolve ------------------------------------------------------------------------
@pytest.mark.keras
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_config_matches_keras_and_round_trips(case):
    keras = keras_or_skip()
    name, kwargs, kind = case
    mine = getattr(losses, name)(reduction="sum", name="my_loss", **kwargs)
    theirs = getattr(keras.losses, name)(reduction="sum", name="my_loss", **kwargs)
    config = mine.get_config()
    extra = {"Huber": {"delta"}, "CosineSimilarity": {"axis"}}.get(name, set())   # Keras drops these
    assert {k: v for k, v in config.items() if k not in extra} == theirs.get_config()
    clone = type(mine).from_config(config)
    assert clone.get_config() == config
    y_true, y_pred = _data(kind, np.random.default_rng(5))
    np.testing.assert_allclose(clone(y_true, y_pred), mine(y_true, y_pred), rtol=1e-6)
    # A config Keras wrote builds the same loss in Horn.
    from_keras = getattr(losses, name).from_config(theirs.get_config())
    if not extra:
        np.testing.assert_allclose(from_keras(y_true, y_pred), mine(y_true, y_pred), rtol=1e-6)


def test_serialize_deserialize_round_trip():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    again = losses.deserialize(losses.serialize(loss))
    assert isinstance(again, losses.CategoricalCrossentropy) and again.get_config() == loss.get_config()
    assert losses.deserialize(losses.serialize(losses.mean_squared_error)) is losses.mean_squared_error
    wrapper = losses.LossFunctionWrapper(losses.huber, name="h", delta=0.5)
    clone = losses.LossFunctionWrapper.from_config(wrapper.get_config())
    assert clone.fn is losses.huber and clone._fn_kwargs == {"delta": 0.5}


@pytest.mark.keras
@pytest.mark.parametrize("identifier", ["mse", "MSE", "mae", "mape", "msle", "kld", "bce", "BCE",
                                        "categorical_crossentropy", "sparse_categorical_crossentropy",
                                        "binary_crossentropy", "huber", "log_cosh", "hinge",
                                        "CategoricalCrossentropy", "MeanSquaredError", "LogCosh", "Poisson"])
def test_get_resolves_names_like_keras(identifier):
    keras = keras_or_skip()
    mine, theirs = losses.get(identifier), keras.losses.get(identifier)
    if isinstance(theirs, keras.losses.Loss):
        assert type(mine).__name__ == type(theirs).__name__ and mine.get_config() == theirs.get_config()
    else:
        assert mine.__name__ == theirs.__name__


def test_get_other_identifiers():
    assert losses.get(None) is None
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    fn = lambda y_true, y_pred: y_pred  # noqa: E731
    assert losses.get(fn) is fn
    obj = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(obj, losses.CategoricalCrossentropy) and obj.from_logits


@pytest.mark.parametrize("bad", ["no_such_loss", "Accuracy", 3])
def test_unknown_loss_identifier_raises_like_keras(bad):
    with pytest.raises(ValueError, match=f"^Could not interpret loss identifier: {bad}$"):
        losses.get(bad)


@pytest.mark.keras
@pytest.mark.parametrize("identifier", ["crossentropy", "ce", "CE"])
@pytest.mark.parametrize("shapes", [((8, 1), (8, 1)), ((8,), (8, 4)), ((8, 1), (8, 4)), ((8, 4), (8, 4))],
                         ids=["binary", "sparse-rank", "sparse-last-dim", "categorical"])
def test_resolve_crossentropy_shorthand_like_keras(identifier, shapes):
    keras_or_skip()
    from keras.src.trainers.compile_utils import get_loss
    theirs = get_loss(identifier, np.zeros(shapes[0]), np.zeros(shapes[1]))
    mine = losses.resolve_loss(identifier, shapes[0], (None,) + shapes[1][1:])
    assert isinstance(mine, losses.LossFunctionWrapper)
    assert mine.name == theirs.name == identifier
    assert mine.fn.__name__ == theirs.fn.__name__


def test_resolve_loss_wraps_functions_and_keeps_loss_objects():
    wrapped = losses.resolve_loss("mse", (4, 1), (None, 1))
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "mse"
    assert wrapped.fn is losses.mean_squared_error
    obj = losses.Huber(name="robust")
    assert losses.resolve_loss(obj, (4, 1), (None, 1)) is obj

    def my_loss(y_true, y_pred):
        return y_pred
    assert losses.resolve_loss(my_loss, (4,), (None,)).name == "my_loss"
    assert losses.resolve_loss(None, (4,), (None,)) is None


# -- errors --------------------------------------------------------------------------------------
def test_sparse_labels_out_of_range_raise_in_eager_mode():
    probs = np.full((3, 4), 0.25, "float32")
    with pytest.raises(ValueError, match=r"label value of 4 which is outside the valid range of \[0, 4\)"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 4, 1]), probs)
    with pytest.raises(ValueError, match=r"label value of -1 .*Out-of-range label values: -1 7"):
        losses.sparse_categorical_crossentropy(np.array([-1, 7, 1]), probs)
    with pytest.raises(ValueError, match=r"outside the valid range of \[0, 10\)"):
        losses.check_sparse_labels(np.array([[3], [10]]), 10)
    losses.check_sparse_labels(np.array([0, 9]), 10)   # in range: silent


def test_sparse_labels_out_of_range_compiled_contribute_zero():
    """A graph cannot raise: an out-of-range label selects no class, so its loss is 0 (as Keras on JAX)."""
    tracer = Tracer("scce")
    t = tracer.input((None,), "int32", "y_true")
    p = tracer.input((None, 4), "float32", "y_pred")
    out = losses.SparseCategoricalCrossentropy(reduction="none")(t, p)
    tracer.graph.set_outputs([out.value])
    probs = np.full((3, 4), 0.25, "float32")
    got = Executable(verify(tracer.graph))(np.array([1, 9, -3], "int32"), probs)[0]
    np.testing.assert_allclose(got, [np.log(4.0), 0.0, 0.0], rtol=1e-6)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"Invalid value for argument `reduction`.*Received: reduction=avg"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match=r"`axis` must be of type `int`. Received: axis=True"):
        losses.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 3)), axis=True)
    with pytest.raises(ValueError, match=r"must have the same shape. Received: target.shape=\(2, 3\), "
                                         r"output.shape=\(2, 4\)"):
        losses.BinaryCrossentropy()(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"same shape up until the last dimension"):
        losses.SparseCategoricalCrossentropy()(np.zeros((3,), "int32"), np.ones((2, 4)))
    with pytest.warns(SyntaxWarning, match="Consider using 'binary_crossentropy'"):
        losses.categorical_crossentropy(np.ones((2, 1)), np.ones((2, 1)))


# -- compiled -----------------------------------------------------------------------------------
_KINDS = sorted({kind for _, _, kind in CASES})


def test_every_loss_compiles_on_a_symbolic_batch_and_matches_eager():
    """One graph computes every case (default reduction, per-sample weights), plus unreduced values
    for a few; it runs at batch 1 and 37 with the same executable and matches the eager values."""
    tracer = Tracer("all_losses")
    rng = np.random.default_rng(11)
    samples = {kind: _data(kind, rng, 37) for kind in _KINDS}
    inputs, feeds = {}, []
    for kind in _KINDS:
        yt, yp = samples[kind]
        inputs[kind] = (tracer.input((None,) + yt.shape[1:], yt.dtype.name, f"{kind}_true"),
                        tracer.input((None,) + yp.shape[1:], yp.dtype.name, f"{kind}_pred"))
        feeds += [yt, yp]
    sw_in = tracer.input((None,), "float32", "sample_weight")
    col_in = tracer.input((None, 1), "float32", "column_weight")   # for (B, C) per-sample losses
    sw = rng.uniform(0, 2, 37).astype("float32")
    feeds += [sw, sw[:, None]]
    outs, eager = [], []
    unreduced = {"regression3d", "sparse_logits", "binary_logits"}   # kept small: compile time
    for name, kwargs, kind in CASES:
        variants = [("sum_over_batch_size", True)] + ([("none", False)] if kind in unreduced else [])
        for reduction, weighted in variants:
            loss = getattr(losses, name)(reduction=reduction, **kwargs)
            w_in = col_in if kind == "regression3d" else sw_in
            out = loss(*inputs[kind], w_in if weighted else None)
            assert isinstance(out, TracedTensor)
            outs.append(out)
            eager.append((f"{name} {kwargs} {reduction}", loss, kind, weighted))
    tracer.graph.set_outputs([o.value for o in outs])
    exe = Executable(verify(tracer.graph))
    for b in (1, 37):
        got = exe(*[f[:b] for f in feeds])
        for g, (what, loss, kind, weighted) in zip(got, eager):
            yt, yp = samples[kind]
            w = sw[:b, None] if kind == "regression3d" else sw[:b]
            want = loss(yt[:b], yp[:b], w if weighted else None)
            np.testing.assert_allclose(g, want, rtol=2e-5, atol=1e-6, err_msg=f"{what} at batch {b}")


# -- gradients ----------------------------------------------------------------------------------
_GRAD_CASES = [c for c in CASES if c[2] != "regression3d"] + [
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse_probs")]


@pytest.mark.parametrize("case", _GRAD_CASES, ids=_case_id)
def test_gradient_matches_finite_differences(case):
    """d loss / d y_pred from the traced graph (autodiff, reference interpreter) in float64 equals
    central differences of the eager loss along a random direction, and is finite everywhere
    (ignored classes included)."""
    name, kwargs, kind = case
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    y_true, y_pred = _data(kind, rng, 4)
    y_true = y_true.astype("float64") if y_true.dtype.kind == "f" else y_true
    y_pred = y_pred.astype("float64")
    sw = rng.uniform(0.5, 1.5, 4)
    loss = getattr(losses, name)(dtype="float64", **kwargs)
    pred = Variable(y_pred, name="y_pred")
    tracer = Tracer("grad")
    t = tracer.input(y_true.shape, y_true.dtype.name, "y_true")
    w = tracer.input((4,), "float64", "sample_weight")
    with tracing(tracer):
        value = loss(t, pred, w)
        (grad,) = tracer.grad(value, [pred])
    tracer.graph.set_outputs([value.value, grad.value])
    got_value, got_grad = interpret(verify(tracer.graph), [y_true, sw])
    np.testing.assert_allclose(got_value, loss(y_true, y_pred, sw), rtol=1e-12)
    assert np.all(np.isfinite(got_grad))
    direction = rng.normal(size=y_pred.shape)
    eps = 1e-6
    numeric = (float(loss(y_true, y_pred + eps * direction, sw))
               - float(loss(y_true, y_pred - eps * direction, sw))) / (2 * eps)
    np.testing.assert_allclose(np.sum(got_grad * direction), numeric, rtol=1e-5, atol=1e-8)


def test_custom_loss_subclass_runs_eager_and_compiled():
    from frontend import ops

    class Quartic(losses.Loss):
        def call(self, y_true, y_pred):
            return ops.mean(ops.square(ops.square(ops.subtract(y_pred, y_true))), axis=-1)

    loss = Quartic(reduction="sum")
    assert loss.name.startswith("quartic") and loss.get_config() == {"name": loss.name, "reduction": "sum"}
    y_true, y_pred = _data("regression", np.random.default_rng(8))
    want = np.sum(np.mean((y_pred - y_true) ** 4, axis=-1))
    np.testing.assert_allclose(loss(y_true, y_pred), want, rtol=1e-5)
    tracer = Tracer("custom")
    t, p = tracer.input((None, C), "float32", "t"), tracer.input((None, C), "float32", "p")
    out = loss(t, p)
    assert out.value.name.startswith(loss.name + "/")    # nodes carry the loss's name scope
    tracer.graph.set_outputs([out.value])
    np.testing.assert_allclose(Executable(verify(tracer.graph))(y_true, y_pred)[0], want, rtol=1e-5)

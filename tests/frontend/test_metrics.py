"""horn.metrics against real Keras 3 (numpy backend): several update_state calls
(with and without sample weights) then result(), reset_state, configs, ``get``
and 'accuracy' resolution; and every metric's update_state traced on a
symbolic batch, compiled, and run at batch 1 and 37: the compiled code must
update the metric Variables in place to what eager updates give."""
from __future__ import annotations

import re

import numpy as np
import pytest

from frontend import metrics
from frontend.tracing import Tracer, tracing
from ir import verify
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip

C = 5


def _batch(kind: str, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) for each metric family."""
    if kind == "binary":        # labels 0/1, probabilities
        return rng.integers(0, 2, (n, 3)).astype("float32"), rng.uniform(0, 1, (n, 3)).astype("float32")
    if kind == "binary_col":    # one sigmoid unit
        return rng.integers(0, 2, (n, 1)).astype("float32"), rng.uniform(0, 1, (n, 1)).astype("float32")
    if kind == "onehot":
        labels = np.eye(C, dtype="float32")[rng.integers(0, C, n)]
        return labels, rng.uniform(0.01, 1, (n, C)).astype("float32")
    if kind == "sparse":
        return rng.integers(0, C, n).astype("int32"), rng.uniform(0.01, 1, (n, C)).astype("float32")
    if kind == "sparse_col":
        return rng.integers(0, C, (n, 1)).astype("int32"), rng.normal(size=(n, C)).astype("float32")
    if kind == "classes":       # Accuracy: exact matches of small integers
        return rng.integers(0, 3, (n, 2)).astype("float32"), rng.integers(0, 3, (n, 2)).astype("float32")
    if kind == "regression":
        return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")
    if kind == "positive":
        return rng.uniform(0.1, 2, (n, 3)).astype("float32"), rng.uniform(0.1, 2, (n, 3)).astype("float32")
    if kind == "logits":
        return rng.integers(0, 2, (n, 3)).astype("float32"), rng.normal(0, 2, (n, 3)).astype("float32")
    raise AssertionError(kind)


# (class name, kwargs, data kind)
CASES = [
    ("Accuracy", {}, "classes"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary_col"),
    ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_col"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("TopKCategoricalAccuracy", {}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse_col"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.2, 0.5, 0.8]}, "binary"),
    ("Precision", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),
    ("Precision", {"top_k": 2}, "binary"),
    ("Precision", {"class_id": 1}, "binary"),
    ("Recall", {}, "binary_col"),
    ("Recall", {"thresholds": [0.3, 0.6]}, "binary"),
    ("Recall", {"top_k": 1, "class_id": 2}, "binary"),
    ("AUC", {}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "binary"),
    ("AUC", {"curve": "PRGAIN"}, "binary"),
    ("AUC", {"num_thresholds": 11, "summation_method": "minoring"}, "binary"),
    ("AUC", {"thresholds": [0.1, 0.4, 0.45, 0.9]}, "binary"),
    ("AUC", {"multi_label": True}, "binary"),
    ("AUC", {"multi_label": True, "num_labels": 3, "label_weights": [0.2, 1.0, 0.5]}, "binary"),
    ("AUC", {"label_weights": [0.2, 1.0, 0.5]}, "binary"),
    ("AUC", {"from_logits": True}, "logits"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.1, 0.9]}, "binary"),
    ("TrueNegatives", {}, "binary"),
    ("FalseNegatives", {}, "binary"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "positive"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("CosineSimilarity", {}, "regression"),
    ("LogCoshError", {}, "regression"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_col"),
    ("KLDivergence", {}, "positive"),
    ("Poisson", {}, "positive"),
    ("Hinge", {}, "logits"),
    ("SquaredHinge", {}, "logits"),
    ("CategoricalHinge", {}, "onehot"),
]
BATCH_SIZES = (7, 1, 12)


def _case_id(case) -> str:
    name, kwargs, kind = case
    return f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default'}-{kind}"


def _batches(kind: str, seed: int = 0):
    """Three batches; the second and third carry sample weights."""
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(BATCH_SIZES):
        yt, yp = _batch(kind, rng, n)
        out.append((yt, yp, None if i == 0 else rng.uniform(0, 2, n).astype("float32")))
    return out


def _close(got, want, what: str, atol: float = 2e-6) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=atol, err_msg=what)


@pytest.mark.keras
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_metric_matches_keras_over_updates_and_reset(case):
    keras = keras_or_skip()
    name, kwargs, kind = case
    mine, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    batches = _batches(kind)
    for i, (yt, yp, sw) in enumerate(batches):
        mine.update_state(yt, yp, sample_weight=sw)
        theirs.update_state(yt, yp, sample_weight=sw)
        _close(mine.result(), theirs.result(), f"result after update {i}")
    assert [v.shape for v in mine.variables] == [tuple(v.shape) for v in theirs.variables]
    for v, w in zip(mine.variables, theirs.variables):
        # TN = total - FP (and FN = total - TP) cancel: allow float32 rounding of the totals.
        _close(v.numpy(), np.asarray(w.value), f"state variable {v.name}", atol=2e-5)
    mine.reset_state()
    theirs.reset_state()
    assert all(not np.any(v.numpy()) for v in mine.variables)
    _close(mine.result(), theirs.result(), "result after reset")
    yt, yp, sw = batches[2]
    mine.update_state(yt, yp, sample_weight=sw)
    theirs.update_state(yt, yp, sample_weight=sw)
    _close(mine.result(), theirs.result(), "result after reset and one update")


@pytest.mark.keras
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_config_matches_keras_and_round_trips(case):
    keras = keras_or_skip()
    name, kwargs, kind = case
    mine = getattr(metrics, name)(name="m", **kwargs)
    theirs = getattr(keras.metrics, name)(name="m", **kwargs)
    config = mine.get_config()
    want = theirs.get_config()
    if name == "CosineSimilarity":
        config = {k: v for k, v in config.items() if k != "axis"}   # Keras leaves `axis` out
    if isinstance(want.get("label_weights"), np.ndarray):
        want["label_weights"] = want["label_weights"].tolist()
    assert config == want
    clone = type(mine).from_config(mine.get_config())
    assert clone.get_config() == mine.get_config()
    for m in (mine, clone):
        for yt, yp, sw in _batches(kind):
            m.update_state(yt, yp, sw)
    _close(clone.result(), mine.result(), "from_config clone")


# -- compiled -----------------------------------------------------------------------------------
def _kinds(cases) -> list[str]:
    return sorted({kind for _, _, kind in cases})


def _compile_updates(cases, tag: str):
    """One graph updating every metric in ``cases`` from per-kind symbolic inputs and one
    sample-weight input; outputs each metric's result after the update."""
    tracer = Tracer(f"metrics_{tag}")
    inputs = {}
    for kind in _kinds(cases):
        yt, yp = _batch(kind, np.random.default_rng(0), 2)
        inputs[kind] = (tracer.input((None,) + yt.shape[1:], yt.dtype.name, f"{kind}_true"),
                        tracer.input((None,) + yp.shape[1:], yp.dtype.name, f"{kind}_pred"))
    sw = tracer.input((None,), "float32", "sample_weight")
    compiled = [getattr(metrics, name)(**kwargs) for name, kwargs, _ in cases]
    results = []
    for m, (_, _, kind) in zip(compiled, cases):
        m.update_state(*inputs[kind], sample_weight=sw)
        with tracing(tracer):   # results read the values this step assigned
            results.append(m.result())
    tracer.graph.set_outputs([r.value for r in results])
    return compiled, Executable(verify(tracer.graph))


def _check_compiled(cases, tag):
    compiled, exe = _compile_updates(cases, tag)
    eager = [getattr(metrics, name)(**kwargs) for name, kwargs, _ in cases]
    initial = [[v.numpy().copy() for v in m.variables] for m in compiled]
    assert all(not np.any(v) for vs in initial for v in vs), "tracing must not change the state"
    rng = np.random.default_rng(4)
    for b in (1, 37, 6):
        data = {kind: _batch(kind, rng, b) for kind in _kinds(cases)}
        weights = rng.uniform(0, 2, b).astype("float32")
        feeds = [a for kind in _kinds(cases) for a in data[kind]] + [weights]
        got = exe(*feeds)
        for (name, kwargs, kind), mc, me, r in zip(cases, compiled, eager, got):
            me.update_state(*data[kind], sample_weight=weights)
            what = f"{name} {kwargs} at batch {b}"
            for vc, ve in zip(mc.variables, me.variables):
                _close(vc.numpy(), ve.numpy(), f"{what}: variable {vc.name} updated in place")
            _close(r, me.result(), f"{what}: traced result")
            _close(mc.result(), me.result(), f"{what}: eager result of the compiled state")
    for mc in compiled:
        mc.reset_state()
        assert all(not np.any(v.numpy()) for v in mc.variables)


_CONFUSION = [c for c in CASES if c[0] in ("Precision", "Recall", "AUC", "TruePositives", "FalsePositives",
                                           "TrueNegatives", "FalseNegatives")]
# Compile time (LLVM at O3) grows with the graph, so the mean metrics compile once per class plus
# the label layouts that trace differently ((N, 1) sparse labels); the confusion metrics keep every
# update path (bucketed, compared, top_k, class_id, multi_label, label weights, logits) and leave
# out the AUC variants that differ only in result() arithmetic, already covered eagerly.
_MEANS = [c for i, c in enumerate(CASES) if c not in _CONFUSION and (
    c[2] == "sparse_col" or all(c[0] != d[0] for d in CASES[:i]))]
_CONFUSION = [c for c in _CONFUSION if not (c[0] == "AUC" and (
    c[1].get("curve") == "PRGAIN" or "summation_method" in c[1] or c[1] == {"multi_label": True}))]


def test_compiled_mean_metrics_update_their_variables_in_place():
    _check_compiled(_MEANS, "means")


def test_compiled_confusion_metrics_update_their_variables_in_place():
    _check_compiled(_CONFUSION, "confusion")


def test_compiled_mean_and_sum_of_values():
    tracer = Tracer("reductions")
    x = tracer.input((None, 3), "float32", "x")
    w = tracer.input((None,), "float32", "w")
    mean, total, plain = metrics.Mean(), metrics.Sum(), metrics.Mean(name="plain")
    mean.update_state(x, sample_weight=w)
    total.update_state(x, sample_weight=w)
    plain.update_state(x)
    tracer.graph.set_outputs([x.value])
    exe = Executable(verify(tracer.graph))
    ref_mean, ref_sum, ref_plain = metrics.Mean(), metrics.Sum(), metrics.Mean()
    rng = np.random.default_rng(2)
    for b in (1, 37):
        xs, ws = rng.normal(size=(b, 3)).astype("float32"), rng.uniform(0, 1, b).astype("float32")
        exe(xs, ws)
        ref_mean.update_state(xs, ws), ref_sum.update_state(xs, ws), ref_plain.update_state(xs)
    for m, r in ((mean, ref_mean), (total, ref_sum), (plain, ref_plain)):
        _close(m.result(), r.result(), m.name)
    assert plain.count.numpy() == 38.0


class _SampleCounter(metrics.Metric):
    """A user metric whose update adds a constant per call: must become a graph update too."""

    def __init__(self, name="calls", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.calls = self.add_variable(shape=(), initializer="zeros", name="calls")
        self.seen = self.add_variable(shape=(), initializer="ones", name="seen")

    def update_state(self, y_true, y_pred, sample_weight=None):
        from frontend import ops
        self.calls.assign_add(1.0)                                  # Variable + constant only
        self.seen.assign_add(ops.sum(ops.ones_like(y_pred[:, 0])))  # from the traced batch

    def result(self):
        from frontend import ops
        return ops.divide(self.seen, self.calls)


def test_custom_metric_constant_updates_join_the_graph():
    m = _SampleCounter()
    tracer = Tracer("custom")
    p = tracer.input((None, 2), "float32", "p")
    m.update_state(None, p)
    assert m.calls.numpy() == 0.0, "a constant increment ran eagerly during the trace"
    tracer.graph.set_outputs([p.value])
    exe = Executable(verify(tracer.graph))
    exe(np.zeros((5, 2), "float32"))
    exe(np.zeros((1, 2), "float32"))
    assert m.calls.numpy() == 2.0 and m.seen.numpy() == 7.0
    m.reset_state()   # back to the initializers' values, not zeros
    assert m.calls.numpy() == 0.0 and m.seen.numpy() == 1.0


# -- top-k ties, get, resolution ----------------------------------------------------------------------
@pytest.mark.keras
def test_top_k_ties_count_as_hits_like_keras():
    keras = keras_or_skip()
    preds = np.array([[1.0, 1.0, 1.0, 0.0], [0.2, 0.5, 0.5, 0.9], [0.3, 0.3, 0.1, 0.1]], "float32")
    labels = np.array([2, 2, 3])
    for k in (1, 2, 3):
        mine = metrics.sparse_top_k_categorical_accuracy(labels, preds, k=k)
        theirs = keras.metrics.sparse_top_k_categorical_accuracy(labels, preds, k=k)
        np.testing.assert_array_equal(mine, theirs)
    # Target tied with the k-th value: a hit even though 3 classes then qualify for k=1.
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy(labels, preds, k=1), [1, 0, 0])


@pytest.mark.keras
def test_sparse_top_k_from_sorted_ids_matches_keras():
    keras = keras_or_skip()
    ids = np.array([[3, 1, 0, 2], [0, 2, 1, 3]], "int32")
    labels = np.array([1, 3])
    for k in (1, 2, 4):
        mine = metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
        theirs = keras.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
        mine.update_state(labels, ids)
        theirs.update_state(labels, ids)
        _close(mine.result(), theirs.result(), f"k={k}")
    assert mine.get_config() == theirs.get_config()


@pytest.mark.keras
@pytest.mark.parametrize("identifier", ["mse", "MSE", "mae", "mape", "msle", "bce", "auc", "AUC", "precision",
                                        "recall", "accuracy", "binary_accuracy", "categorical_accuracy",
                                        "sparse_categorical_accuracy", "top_k_categorical_accuracy",
                                        "root_mean_squared_error", "mean_squared_error", "kl_divergence",
                                        "log_cosh_error", "Poisson", "SparseCategoricalCrossentropy"])
def test_get_resolves_names_like_keras(identifier):
    keras = keras_or_skip()
    mine, theirs = metrics.get(identifier), keras.metrics.get(identifier)
    assert type(mine).__name__ == type(theirs).__name__
    unnumbered = re.compile(r"_\d+$")   # auto names count up per process, separately in each library
    assert unnumbered.sub("", mine.name) == unnumbered.sub("", theirs.name)


@pytest.mark.parametrize("bad", ["acc", "crossentropy", "no_such_metric", 7])
def test_unknown_metric_identifier_raises_like_keras(bad):
    with pytest.raises(ValueError, match=f"^Could not interpret metric identifier: {bad}$"):
        metrics.get(bad)


_SHAPES = [((8, 1), (None, 1)), ((8,), (None, 1)), ((8,), (None, 10)), ((8, 1), (None, 10)),
           ((8, 10), (None, 10)), ((8, 4, 1), (None, 4, 10)), ((8, 4, 10), (None, 4, 10))]


@pytest.mark.keras
@pytest.mark.parametrize("identifier", ["accuracy", "acc", "ACC"])
@pytest.mark.parametrize("shapes", _SHAPES, ids=lambda s: f"{s[0]}->{s[1]}")
def test_accuracy_resolution_matches_keras(identifier, shapes):
    keras_or_skip()
    from keras.src.trainers.compile_utils import get_metric
    y_true_shape, y_pred_shape = shapes
    theirs = get_metric(identifier, np.zeros(y_true_shape), np.zeros((8,) + y_pred_shape[1:]))
    for loss in (None, "binary_crossentropy", "sparse_categorical_crossentropy"):
        mine = metrics.resolve_metric(identifier, y_true_shape, y_pred_shape, loss)
        assert type(mine).__name__ == type(theirs).__name__, f"loss={loss}"
        assert mine.name == theirs.name == identifier


@pytest.mark.keras
def test_resolve_other_identifiers_like_keras():
    keras = keras_or_skip()
    from keras.src.trainers.compile_utils import get_metric
    yt, yp = np.zeros((4, 1)), np.zeros((4, 1))
    pairs = [("mse", "mse"), ("auc", "auc"), (metrics.AUC(name="roc"), keras.metrics.AUC(name="roc")),
             (metrics.mean_squared_error, keras.losses.mean_squared_error),
             (metrics.binary_accuracy, keras.metrics.binary_accuracy)]
    for mine_id, their_id in pairs:
        mine = metrics.resolve_metric(mine_id, yt.shape, (None, 1))
        theirs = get_metric(their_id, yt, yp)
        assert (type(mine).__name__, mine.name) == (type(theirs).__name__, theirs.name)
    from frontend import losses
    wrapped = metrics.resolve_metric(losses.Huber(name="huber_as_metric"), yt.shape, (None, 1))
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "huber_as_metric"
    wrapped.update_state(np.zeros((2, 1), "float32"), np.full((2, 1), 3.0, "float32"))
    _close(wrapped.result(), 2.5, "a Loss object as a metric: the mean of its reduced value")
    assert wrapped._direction == "down"
    with pytest.raises(ValueError, match="^Could not interpret metric identifier: crossentropy$"):
        metrics.resolve_metric("crossentropy", yt.shape, (None, 1))
    with pytest.raises(ValueError, match="Expected metric, received `None`"):
        metrics.resolve_metric(None, yt.shape, (None, 1))


def test_any_loss_function_works_as_a_metric_and_round_trips():
    from frontend import losses
    m = metrics.MeanMetricWrapper(losses.huber, name="huber_metric", delta=0.5)
    rng = np.random.default_rng(0)
    yt, yp = rng.normal(size=(6, 2)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")
    m.update_state(yt, yp)
    _close(m.result(), np.mean(losses.huber(yt, yp, delta=0.5)), "huber as a metric")
    clone = metrics.MeanMetricWrapper.from_config(m.get_config())
    assert clone._fn is losses.huber and clone._fn_kwargs == {"delta": 0.5} and clone.name == "huber_metric"
    again = metrics.deserialize(metrics.serialize(metrics.AUC(curve="PR", name="pr")))
    assert isinstance(again, metrics.AUC) and again.curve.value == "PR" and again.name == "pr"


def test_argument_errors():
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]. Received: \[1.5\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match=r"`num_thresholds` must be an integer > 1. "
                                         r"Received: num_thresholds=1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match='Invalid AUC curve value: "ROCK"'):
        metrics.AUC(curve="ROCK")
    with pytest.raises(ValueError, match='Invalid AUC summation method value: "trapezoid"'):
        metrics.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="`num_labels` is needed only when `multi_label` is True"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="When class_id is provided, y_pred must be a 2D array"):
        metrics.Precision(class_id=1).update_state(np.ones(3), np.ones(3))

    class Forgetful(metrics.Metric):
        def __init__(self):
            self.v = self.add_variable((), "zeros")
    with pytest.raises(RuntimeError, match="You forgot to call `super\\(\\).__init__\\(\\)`"):
        Forgetful()


def test_results_do_not_alias_the_live_state():
    m = metrics.TruePositives(thresholds=[0.3, 0.6])
    m.update_state(np.array([1, 1, 0.0]), np.array([0.9, 0.5, 0.7]))
    first = m.result()
    m.update_state(np.array([1.0]), np.array([0.9]))
    np.testing.assert_array_equal(first, [2.0, 1.0])
    np.testing.assert_array_equal(m.result(), [3.0, 2.0])

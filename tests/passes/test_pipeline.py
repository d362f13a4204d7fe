"""Optimization levels: what each runs, that they agree, the level's sources, and IR dumps."""
from __future__ import annotations

import numpy as np
import pytest

import horn as keras
from passes import default_pipeline, pipeline
from passes.pass_manager import DUMP_ENV, DUMP_ENV_ALIASES
from runtime import compile as rc
from tests.models import seed_models
from tests.passes.helpers import assert_same_semantics, conv_graph, mlp_graph


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in (DUMP_ENV, *DUMP_ENV_ALIASES, rc.OPT_LEVEL_ENV):
        monkeypatch.delenv(name, raising=False)
    yield
    rc.set_optimization_level(None)
    rc.set_dump_ir_dir(None)


def names(level, **kw):
    return [p.name for p in pipeline(level, **kw)]


def test_levels_add_passes():
    assert names(0) == ["shape_inference"]
    o1 = names(1)
    assert o1[0] == "shape_inference" and {"canonicalize", "constant_folding", "cse", "dce"} <= set(o1)
    assert set(o1) <= set(names(2)) <= set(names(3))
    assert [p.name for p in default_pipeline()] == names(3)
    assert "fold_batchnorm" not in names(3, training=True)
    with pytest.raises(ValueError, match=r"one of 0, 1, 2, 3. Received: 4"):
        pipeline(4)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_every_level_keeps_the_meaning(level):
    for make in (mlp_graph, conv_graph):
        before, _ = make().copy()
        after = rc.optimize_graph(make(), opt_level=level)
        assert_same_semantics(before, after, batches=(1, 7, 13))


def test_level_sources_in_order(monkeypatch):
    assert rc.resolve_opt_level(None) == 3
    rc.set_optimization_level(1)
    assert rc.get_optimization_level() == 1
    monkeypatch.setenv(rc.OPT_LEVEL_ENV, "2")
    assert rc.resolve_opt_level(None) == 2
    assert rc.resolve_opt_level(0) == 0
    monkeypatch.setenv(rc.OPT_LEVEL_ENV, "fast")
    with pytest.raises(ValueError, match="HORN_OPT_LEVEL must be one of 0, 1, 2, 3. Received: 'fast'"):
        rc.resolve_opt_level(None)
    with pytest.raises(ValueError, match="Received: 7"):
        keras.config.set_optimization_level(7)
    monkeypatch.delenv(rc.OPT_LEVEL_ENV)
    with keras.config.optimization_level(0):
        assert rc.get_optimization_level() == 0
    assert rc.get_optimization_level() == 1


def test_dump_dir_gets_one_file_per_pass(tmp_path, monkeypatch):
    keras.config.set_dump_ir_dir(tmp_path / "cfg")
    rc.optimize_graph(mlp_graph(), opt_level=1)
    files = sorted(p.name for p in (tmp_path / "cfg" / "mlp").iterdir())
    expected = ["00_input.hir"] + [f"{i:02d}_{n}.hir" for i, n in enumerate(names(1), start=1)]
    assert files == expected
    monkeypatch.setenv(DUMP_ENV, str(tmp_path / "env"))   # the variable wins over the setting
    rc.optimize_graph(conv_graph(), opt_level=0)
    assert sorted(p.name for p in (tmp_path / "env" / "convnet").iterdir()) == [
        "00_input.hir", "01_shape_inference.hir"]


def test_model_predict_and_fit_dump_their_graphs(tmp_path):
    keras.config.set_dump_ir_dir(tmp_path)
    model = seed_models.two_dense_subclass(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    model.predict_on_batch(x)
    model.train_on_batch(x, np.array([1, 2, 3, 0], np.int32))
    folders = {p.name for p in tmp_path.iterdir()}
    assert any(f.endswith("_train_step") for f in folders) and len(folders) == 2
    for f in tmp_path.iterdir():
        assert len(list(f.iterdir())) == len(names(3, training=f.name.endswith("_train_step"))) + 1


@pytest.mark.parametrize("name", ["mlp", "convnet_s", "convnet_l"])
def test_seed_models_agree_at_every_level(name):
    rng = np.random.default_rng(0)
    shape = (3, 28, 28) if name == "mlp" else (3, 28, 28, 1)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, (3,)).astype(np.int32)
    results = {}
    for level in (0, 1, 2, 3):
        keras.utils.set_random_seed(7)
        model = getattr(seed_models, name)(keras)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model._seed = 1234     # the dropout masks' key: compile draws it unseeded
        with keras.config.optimization_level(level):
            before = model.predict_on_batch(x)
            loss = model.train_on_batch(x, y)
            after = model.predict_on_batch(x)
        assert not np.allclose(before, after)     # the step changed the weights, and predict saw it
        results[level] = (before, loss, after)
    for level in (1, 2, 3):
        for got, want in zip(results[level], results[0]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)

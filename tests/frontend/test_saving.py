"""Saving and loading in Keras 3's formats: ``.keras``, ``.weights.h5`` and legacy ``.h5``.

For each model kind, three directions per format: Horn -> Horn (identical
predictions), Horn -> real Keras and real Keras -> Horn (predictions equal to
the saving side's, rtol 1e-5). Then the file layout against the one Keras
writes, custom objects, atomic writes, and the error messages.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import horn
from frontend.saving import legacy_h5
from tests.frontend.layer_harness import keras_or_skip

h5py = pytest.importorskip("h5py")


# -- the models, built with any Keras-compatible module (horn or keras) --------------------------
def mlp(k):
    L = k.layers
    return k.Sequential([k.Input((12,)), L.Dense(16, activation="relu", name="d1"),
                         L.Dense(8, activation="tanh", name="d2"), L.Dense(3, activation="softmax", name="d3")],
                        name="mlp")


def convnet(k):
    L = k.layers
    return k.Sequential([
        k.Input((10, 10, 2)),
        L.Conv2D(4, 3, activation="relu", name="c1"), L.BatchNormalization(name="bn"),
        L.MaxPooling2D(name="pool"), L.Dropout(0.25, name="drop"),
        L.Conv2D(6, 3, padding="same", name="c2"), L.AveragePooling2D(2, name="avg"),
        L.Flatten(name="flat"), L.Dense(5, activation="relu", name="fc"), L.Dense(3, name="logits"),
    ], name="convnet")


def multi_io(k):
    """Two inputs, two outputs, one layer shared by both branches."""
    L = k.layers
    a, b = k.Input((5,), name="a"), k.Input((5,), name="b")
    shared = L.Dense(6, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    out1 = L.Dense(2, name="out1")(L.Concatenate(name="concat")([ha, hb]))
    out2 = L.Dense(1, activation="sigmoid", name="out2")(L.Average(name="avg")([ha, hb]))
    return k.Model(inputs=[a, b], outputs=[out1, out2], name="multi_io")


def nested(k):
    """A Sequential and a Functional inside a Functional; a layer shared at two depths
    and a nested model called twice (Keras' node numbering has cases for both)."""
    L = k.layers
    inner_seq = k.Sequential([k.Input((4,)), L.Dense(4, activation="relu", name="seq_dense"),
                              L.BatchNormalization(name="seq_bn")], name="inner_seq")
    ii = k.Input((4,), name="inner_in")
    inner_fn = k.Model(ii, L.Dense(4, name="fn_dense")(ii), name="inner_fn")
    x = k.Input((4,), name="x")
    shared = L.Dense(4, name="shared")
    h = inner_fn(shared(inner_seq(shared(x))))
    return k.Model(x, L.Add(name="add")([h, inner_fn(x)]), name="nested")


def assorted(k):
    """Embedding, LayerNormalization, DepthwiseConv, SeparableConv, Conv2DTranspose,
    ZeroPadding, UpSampling and merging layers in one graph."""
    L = k.layers
    tokens = k.Input((6,), dtype="int32", name="tokens")
    t = L.Embedding(20, 8, name="emb")(tokens)
    t = L.GlobalAveragePooling1D(name="gap")(L.LayerNormalization(name="ln")(t))
    image = k.Input((4, 4, 3), name="image")
    x = L.ZeroPadding2D(1, name="pad")(image)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = L.SeparableConv2D(4, 3, padding="same", name="sep")(x)
    x = L.UpSampling2D(2, name="up")(x)
    x = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="tconv")(x)
    x = L.Dense(8, name="proj")(L.GlobalMaxPooling2D(name="gmp")(x))
    merged = L.Concatenate(name="cat")([L.Add(name="add")([t, x]), L.Multiply(name="mul")([t, x]),
                                        L.Subtract(name="sub")([t, x]), L.Maximum(name="max")([t, x])])
    return k.Model([tokens, image], L.Dense(3, activation="softmax", name="head")(merged), name="assorted")


MODELS = {"mlp": mlp, "convnet": convnet, "multi_io": multi_io, "nested": nested, "assorted": assorted}


def inputs_for(name: str, rng: np.random.Generator):
    n = 5
    if name == "mlp":
        return rng.normal(size=(n, 12)).astype("float32")
    if name == "convnet":
        return rng.normal(size=(n, 10, 10, 2)).astype("float32")
    if name == "multi_io":
        return [rng.normal(size=(n, 5)).astype("float32") for _ in range(2)]
    if name == "nested":
        return rng.normal(size=(n, 4)).astype("float32")
    return [rng.integers(0, 20, size=(n, 6)).astype("int32"), rng.normal(size=(n, 4, 4, 3)).astype("float32")]


def randomize(model, rng: np.random.Generator):
    """Random weights (variances kept positive), so a wrong weight shows in the outputs."""
    for w in model.weights:
        value = rng.normal(0.0, 0.5, size=tuple(w.shape))
        if "variance" in w.name:
            value = np.abs(value) + 0.5
        w.assign(value.astype("float32"))
    return model


def predict(model, x) -> list[np.ndarray]:
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_same(got, want, exact: bool = False):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def save(model, path: str, fmt: str) -> None:
    (model.save_weights if fmt.endswith("weights.h5") else model.save)(path)


# -- round trips ----------------------------------------------------------------------------------
# Compiling a model is most of a test's time, so each model kind is built, randomized and
# compiled once (the reference), and one Horn "twin" per kind takes every weights-file load:
# load_weights writes into the arrays its executable already reads.
_CACHE: dict = {}


def reference(name: str):
    """``(model, x, predictions)`` for a randomized Horn model of kind ``name``."""
    if ("ref", name) not in _CACHE:
        rng = np.random.default_rng(list(MODELS).index(name))
        model = randomize(MODELS[name](horn), rng)
        x = inputs_for(name, rng)
        _CACHE["ref", name] = model, x, predict(model, x)
    return _CACHE["ref", name]


def twin(name: str):
    """A second Horn model of kind ``name`` (compiled on first use, reused for loads)."""
    if ("twin", name) not in _CACHE:
        _CACHE["twin", name] = MODELS[name](horn)
    return _CACHE["twin", name]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("fmt", [".keras", ".h5"])
def test_model_file_horn_to_horn(name, fmt, tmp_path):
    model, x, want = reference(name)
    model.save(tmp_path / f"m{fmt}")
    loaded = horn.saving.load_model(tmp_path / f"m{fmt}")
    assert type(loaded) is type(model) and loaded.name == model.name
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.get_config() == model.get_config()
    assert_same(predict(loaded, x), want, exact=True)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("fmt", [".weights.h5", ".h5"])
def test_weights_file_horn_to_horn(name, fmt, tmp_path):
    model, x, want = reference(name)
    model.save_weights(tmp_path / f"w{fmt}")
    target = randomize(twin(name), np.random.default_rng(99))
    target.load_weights(tmp_path / f"w{fmt}")
    assert_same(predict(target, x), want, exact=True)


@pytest.mark.keras
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("fmt", [".keras", ".h5", ".weights.h5", "legacy-weights.h5"])
def test_horn_file_loads_in_keras(name, fmt, tmp_path):
    keras = keras_or_skip()
    model, x, want = reference(name)
    path = tmp_path / f"m{fmt}"
    if fmt.endswith("weights.h5"):       # .weights.h5, and the legacy weights-only .h5
        model.save_weights(path)
        theirs = MODELS[name](keras)
        theirs.load_weights(path)
    else:
        model.save(path)
        theirs = keras.saving.load_model(path)
    assert_same(predict(theirs, x), want)


@pytest.mark.keras
@pytest.mark.parametrize("name", list(MODELS))
def test_keras_files_load_in_horn(name, tmp_path):
    keras = keras_or_skip()
    rng = np.random.default_rng(7)
    theirs = randomize(MODELS[name](keras), rng)
    _, x, _ = reference(name)
    want = predict(theirs, x)
    theirs.save(tmp_path / "k.keras")
    theirs.save_weights(tmp_path / "k.weights.h5")
    theirs.save(tmp_path / "k.h5")                  # Keras writes .h5 as a legacy model file
    ours = horn.saving.load_model(tmp_path / "k.keras")
    assert_same(predict(ours, x), want)
    target = twin(name)
    for path in ("k.weights.h5", "k.h5", "k.keras"):
        randomize(target, rng)
        target.load_weights(tmp_path / path)
        assert_same(predict(target, x), want)
    # The legacy model file: the same model and the same weights (its predictions are
    # the twin's, checked above, so no third compile).
    legacy = horn.models.load_model(tmp_path / "k.h5")
    assert legacy.get_config() == ours.get_config()
    for a, b in zip(legacy.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- every layer type, both ways (configs and weights; no compile, so all of them fit) ---------------
LAYER_CASES = {
    "Dense": (lambda L: L.Dense(3, activation="relu", kernel_regularizer="l2"), (4,)),
    "Activation": (lambda L: L.Activation("tanh"), (4,)),
    "Dropout": (lambda L: L.Dropout(0.3), (4,)),
    "Flatten": (lambda L: L.Flatten(), (2, 3)),
    "Reshape": (lambda L: L.Reshape((3, 2)), (6,)),
    "Permute": (lambda L: L.Permute((2, 1)), (2, 3)),
    "RepeatVector": (lambda L: L.RepeatVector(3), (4,)),
    "Identity": (lambda L: L.Identity(), (4,)),
    "ReLU": (lambda L: L.ReLU(max_value=2.0), (4,)),
    "LeakyReLU": (lambda L: L.LeakyReLU(0.1), (4,)),
    "PReLU": (lambda L: L.PReLU(), (4,)),
    "ELU": (lambda L: L.ELU(), (4,)),
    "Softmax": (lambda L: L.Softmax(), (4,)),
    "Conv1D": (lambda L: L.Conv1D(2, 3, padding="same"), (6, 3)),
    "Conv2D": (lambda L: L.Conv2D(2, 3, strides=2, activation="relu"), (7, 7, 3)),
    "Conv3D": (lambda L: L.Conv3D(2, 2), (4, 4, 4, 2)),
    "DepthwiseConv1D": (lambda L: L.DepthwiseConv1D(3, depth_multiplier=2), (6, 3)),
    "DepthwiseConv2D": (lambda L: L.DepthwiseConv2D(3, depth_multiplier=2), (6, 6, 3)),
    "SeparableConv1D": (lambda L: L.SeparableConv1D(4, 3), (6, 3)),
    "SeparableConv2D": (lambda L: L.SeparableConv2D(4, 3), (6, 6, 3)),
    "Conv1DTranspose": (lambda L: L.Conv1DTranspose(2, 3, strides=2), (5, 3)),
    "Conv2DTranspose": (lambda L: L.Conv2DTranspose(2, 3, strides=2), (5, 5, 3)),
    "Conv3DTranspose": (lambda L: L.Conv3DTranspose(2, 2), (3, 3, 3, 2)),
    "MaxPooling1D": (lambda L: L.MaxPooling1D(), (6, 3)),
    "MaxPooling2D": (lambda L: L.MaxPooling2D(), (6, 6, 3)),
    "MaxPooling3D": (lambda L: L.MaxPooling3D(), (4, 4, 4, 2)),
    "AveragePooling1D": (lambda L: L.AveragePooling1D(2), (6, 3)),
    "AveragePooling2D": (lambda L: L.AveragePooling2D(2, padding="same"), (5, 5, 3)),
    "AveragePooling3D": (lambda L: L.AveragePooling3D(2), (4, 4, 4, 2)),
    "GlobalAveragePooling1D": (lambda L: L.GlobalAveragePooling1D(), (6, 3)),
    "GlobalAveragePooling2D": (lambda L: L.GlobalAveragePooling2D(keepdims=True), (6, 6, 3)),
    "GlobalAveragePooling3D": (lambda L: L.GlobalAveragePooling3D(), (4, 4, 4, 2)),
    "GlobalMaxPooling1D": (lambda L: L.GlobalMaxPooling1D(), (6, 3)),
    "GlobalMaxPooling2D": (lambda L: L.GlobalMaxPooling2D(), (6, 6, 3)),
    "GlobalMaxPooling3D": (lambda L: L.GlobalMaxPooling3D(), (4, 4, 4, 2)),
    "BatchNormalization": (lambda L: L.BatchNormalization(momentum=0.9), (4,)),
    "LayerNormalization": (lambda L: L.LayerNormalization(epsilon=1e-4), (4,)),
    "Embedding": (lambda L: L.Embedding(10, 3, mask_zero=True), (5,)),
    "Rescaling": (lambda L: L.Rescaling(0.5, offset=1.0), (4,)),
    "ZeroPadding1D": (lambda L: L.ZeroPadding1D(2), (6, 3)),
    "ZeroPadding2D": (lambda L: L.ZeroPadding2D(((1, 2), (0, 1))), (4, 4, 3)),
    "ZeroPadding3D": (lambda L: L.ZeroPadding3D(1), (3, 3, 3, 2)),
    "Cropping1D": (lambda L: L.Cropping1D((1, 2)), (6, 3)),
    "Cropping2D": (lambda L: L.Cropping2D(1), (6, 6, 3)),
    "Cropping3D": (lambda L: L.Cropping3D(1), (4, 4, 4, 2)),
    "UpSampling1D": (lambda L: L.UpSampling1D(2), (4, 3)),
    "UpSampling2D": (lambda L: L.UpSampling2D(2, interpolation="bilinear"), (4, 4, 3)),
    "UpSampling3D": (lambda L: L.UpSampling3D(2), (2, 2, 2, 2)),
    **{name: (lambda L, n=name: getattr(L, n)(**({"axes": 1} if n == "Dot" else {})), [(4,), (4,)])
       for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")},
    "SimpleRNN": (lambda L: L.SimpleRNN(3, return_sequences=True), (5, 4)),
    "LSTM": (lambda L: L.LSTM(3, go_backwards=True, recurrent_dropout=0.1), (5, 4)),
    "GRU": (lambda L: L.GRU(3, reset_after=False, return_state=True), (5, 4)),
    "RNN-LSTMCell": (lambda L: L.RNN(L.LSTMCell(3), return_sequences=True), (5, 4)),
    "RNN-GRUCell": (lambda L: L.RNN(L.GRUCell(2)), (5, 4)),
    "RNN-SimpleRNNCell": (lambda L: L.RNN(L.SimpleRNNCell(2), zero_output_for_mask=True), (5, 4)),
    "RNN-StackedRNNCells": (lambda L: L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True), (5, 4)),
    "Bidirectional": (lambda L: L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum"), (5, 4)),
    "TimeDistributed": (lambda L: L.TimeDistributed(L.Dense(2)), (5, 4)),
    "Masking": (lambda L: L.Masking(0.5), (5, 4)),
    "Attention": (lambda L: L.Attention(use_scale=True, score_mode="concat"), [(5, 4), (6, 4)]),
    "AdditiveAttention": (lambda L: L.AdditiveAttention(), [(5, 4), (6, 4)]),
    # Called as layer(query, value), not on a list.
    "MultiHeadAttention": (lambda L: (lambda m: lambda xs: m(xs[0], xs[1]))(L.MultiHeadAttention(2, 3)),
                           [(5, 4), (6, 4)]),
}


def one_layer_model(k, name: str):
    make, shape = LAYER_CASES[name]
    if isinstance(shape, list):
        inputs = [k.Input(s) for s in shape]
        return k.Model(inputs, make(k.layers)(inputs))
    x = k.Input(shape, dtype="int32" if name == "Embedding" else "float32")
    return k.Model(x, make(k.layers)(x))


def test_layer_cases_cover_every_horn_layer():
    from frontend.layer import Layer
    classes = {getattr(horn.layers, n) for n in dir(horn.layers)
               if isinstance(getattr(horn.layers, n), type) and issubclass(getattr(horn.layers, n), Layer)}
    lasts = [one_layer_model(horn, n).layers[-1] for n in LAYER_CASES]
    covered = {type(x) for x in lasts} | {type(x.cell) for x in lasts if hasattr(x, "cell")}
    assert classes - covered - {Layer, horn.layers.InputLayer} == set()


def _without_names(config):
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_without_names(v) for v in config]
    return config


@pytest.mark.keras
@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_every_layer_crosses_between_horn_and_keras(name, tmp_path):
    """Horn's file rebuilds the layer Keras builds from the same arguments (same config)
    with Horn's weights, and Keras' file loads into Horn with Keras' weights. Outputs on
    equal weights are the layer harness' parity tests; the graphs are the tests above."""
    keras = keras_or_skip()
    rng = np.random.default_rng(13)
    ours, theirs = randomize(one_layer_model(horn, name), rng), one_layer_model(keras, name)
    for fmt in (".keras", ".h5"):
        ours.save(tmp_path / f"h{fmt}")
        loaded = keras.saving.load_model(tmp_path / f"h{fmt}")
        got, want = loaded.layers[-1].get_config(), theirs.layers[-1].get_config()
        got.pop("name"), want.pop("name")
        # Wrapped layers (RNN cells, Bidirectional, TimeDistributed): their build shapes are
        # lists once read back from JSON, tuples in memory, and their auto-generated names
        # count up per session.
        got, want = _without_names(json.loads(json.dumps(got))), _without_names(json.loads(json.dumps(want)))
        assert got == want
        assert_same([np.asarray(w) for w in loaded.get_weights()], ours.get_weights(), exact=True)
    randomize(theirs, rng)
    for fmt in (".keras", ".h5"):
        theirs.save(tmp_path / f"k{fmt}")
        back = horn.saving.load_model(tmp_path / f"k{fmt}")
        assert type(back.layers[-1]).__name__ == type(theirs.layers[-1]).__name__
        assert_same(back.get_weights(), [np.asarray(w) for w in theirs.get_weights()], exact=True)


# -- the layout is Keras' own ---------------------------------------------------------------------
def _h5_tree(data: bytes | str) -> dict:
    tree = {}
    with h5py.File(io.BytesIO(data) if isinstance(data, bytes) else data, "r") as f:
        f.visititems(lambda n, o: tree.__setitem__(n, (getattr(o, "shape", None), dict(o.attrs))))
    return tree


@pytest.mark.keras
@pytest.mark.parametrize("name", ["nested", "assorted"])
def test_keras_file_layout_matches_keras(name, tmp_path):
    keras = keras_or_skip()
    ours, theirs = MODELS[name](horn), MODELS[name](keras)
    ours.save(tmp_path / "h.keras")
    theirs.save(tmp_path / "k.keras")
    zh, zk = zipfile.ZipFile(tmp_path / "h.keras"), zipfile.ZipFile(tmp_path / "k.keras")
    assert zh.namelist() == zk.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
    assert set(json.loads(zh.read("metadata.json"))) == {"keras_version", "date_saved"}
    # Same groups, datasets, shapes and name attributes: weights land where Keras looks.
    assert _h5_tree(zh.read("model.weights.h5")) == _h5_tree(zk.read("model.weights.h5"))
    ch, ck = json.loads(zh.read("config.json")), json.loads(zk.read("config.json"))
    assert (ch["module"], ch["class_name"], ch["registered_name"]) == \
        (ck["module"], ck["class_name"], ck["registered_name"])

    def graph(config):
        return [(l["class_name"], l["name"],
                 [{"args": n["args"], "kwargs": {k: v for k, v in n["kwargs"].items() if k != "mask"}}
                  for n in l["inbound_nodes"]]) for l in config["config"]["layers"]]

    assert graph(ch) == graph(ck)
    assert ch["config"]["input_layers"] == ck["config"]["input_layers"]
    assert ch["config"]["output_layers"] == ck["config"]["output_layers"]


@pytest.mark.keras
def test_weights_file_layout_matches_keras(tmp_path):
    keras = keras_or_skip()
    MODELS["convnet"](horn).save_weights(tmp_path / "h.weights.h5")
    MODELS["convnet"](keras).save_weights(tmp_path / "k.weights.h5")
    assert _h5_tree(str(tmp_path / "h.weights.h5")) == _h5_tree(str(tmp_path / "k.weights.h5"))
    MODELS["multi_io"](horn).save(tmp_path / "h.h5")
    with h5py.File(tmp_path / "h.h5") as f:
        assert json.loads(f.attrs["model_config"])["class_name"] == "Functional"
        assert _text(f["model_weights"].attrs["layer_names"]) == \
            ["a", "b", "shared", "concat", "avg", "out1", "out2"]
        assert _text(f["model_weights/shared"].attrs["weight_names"]) == ["shared/kernel", "shared/bias"]


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def test_config_round_trip_within_horn():
    model = nested(horn)
    config = model.get_config()
    json.dumps(config)          # JSON-ready as is
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    seq = mlp(horn)
    assert type(seq).from_config(seq.get_config()).get_config() == seq.get_config()


# -- compiled models: optimizer state and compile arguments -------------------------------------------
def fill_optimizer_state(optimizer, rng):
    """As if trained a while: a step count and non-zero slots (the learning rate kept)."""
    for v in optimizer.variables:
        if v.name == "iteration":
            v.assign(np.asarray(7, dtype=v.dtype))
        elif v.name != "learning_rate":
            v.assign(np.asarray(rng.uniform(1, 2, size=v.shape), dtype=v.dtype))


def test_compiled_model_keeps_optimizer_state(tmp_path):
    rng = np.random.default_rng(3)
    model = randomize(mlp(horn), rng)
    model.compile(optimizer=horn.optimizers.Adam(learning_rate=0.02), loss="mse", metrics=["mae"])
    model.optimizer.build(model.trainable_weights)
    fill_optimizer_state(model.optimizer, rng)
    for fmt in (".keras", ".h5"):
        path = str(tmp_path / f"c{fmt}")
        model.save(path)
        loaded = horn.saving.load_model(path)
        assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"
        assert loaded.optimizer.learning_rate == pytest.approx(0.02)
        assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
        for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert not horn.saving.load_model(path, compile=False).compiled
    with zipfile.ZipFile(tmp_path / "c.keras") as zf:
        compile_config = json.loads(zf.read("config.json"))["compile_config"]
    assert compile_config["loss"] == "mse" and compile_config["metrics"] == ["mae"]
    assert compile_config["optimizer"]["class_name"] == "Adam"


@pytest.mark.keras
def test_compiled_horn_model_loads_in_keras_with_optimizer_state(tmp_path):
    keras = keras_or_skip()
    rng = np.random.default_rng(4)
    model = randomize(mlp(horn), rng)
    model.compile(optimizer=horn.optimizers.Adam(learning_rate=0.02), loss="mse")
    model.optimizer.build(model.trainable_weights)
    fill_optimizer_state(model.optimizer, rng)
    model.save(tmp_path / "c.keras")
    theirs = keras.saving.load_model(tmp_path / "c.keras")
    assert theirs.compiled and float(theirs.optimizer.learning_rate) == pytest.approx(0.02)
    for a, b in zip(theirs.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- custom objects -------------------------------------------------------------------------------
@horn.saving.register_keras_serializable(package="HornSavingTest")
def scaled_tanh(x):
    return horn.ops.tanh(x) * 2.0


@horn.saving.register_keras_serializable(package="HornSavingTest")
class ScaledBlock(horn.layers.Layer):
    """A weight of its own and a sublayer held in an attribute (saved under its name)."""

    def __init__(self, units: int = 3, factor: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.factor = units, factor
        self.proj = horn.layers.Dense(units, activation=scaled_tanh, name=f"{self.name}_proj")

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

    def call(self, x):
        return self.proj(x) * self.scale * self.factor

    def get_config(self):
        return {**super().get_config(), "units": self.units, "factor": self.factor}


class Unregistered(horn.layers.Layer):
    def __init__(self, offset: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def call(self, x):
        return x + self.offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


def custom_model(k, block_cls, extra_cls=None):
    x = k.Input((4,), name="x")
    h = block_cls(3, factor=0.5, name="block")(x)
    if extra_cls is not None:
        h = extra_cls(offset=0.25, name="extra")(h)
    return k.Model(x, k.layers.Dense(2, name="out")(h), name="custom")


def test_registered_custom_layer_and_function_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    model = randomize(custom_model(horn, ScaledBlock), rng)
    x = rng.normal(size=(4, 4)).astype("float32")
    for fmt in (".keras", ".h5"):
        model.save(tmp_path / f"c{fmt}")
        loaded = horn.saving.load_model(tmp_path / f"c{fmt}")     # no custom_objects: registered
        block = loaded.get_layer("block")
        assert isinstance(block, ScaledBlock) and block.factor == 0.5
        assert block.proj.activation is scaled_tanh
        assert_same(predict(loaded, x), predict(model, x), exact=True)
    with zipfile.ZipFile(tmp_path / "c.keras") as zf:
        entry = json.loads(zf.read("config.json"))["config"]["layers"][1]
        groups = _h5_tree(zf.read("model.weights.h5"))
    assert entry["registered_name"] == "HornSavingTest>ScaledBlock"
    assert "layers/scaled_block/proj/vars/0" in groups and "layers/scaled_block/vars/0" in groups


def test_custom_objects_and_scope(tmp_path):
    rng = np.random.default_rng(6)
    model = randomize(custom_model(horn, ScaledBlock, Unregistered), rng)
    x = rng.normal(size=(4, 4)).astype("float32")
    path = tmp_path / "u.keras"
    model.save(path)
    with pytest.raises(TypeError, match=r"Could not locate class 'Unregistered'.*custom_objects="):
        horn.saving.load_model(path)
    loaded = horn.saving.load_model(path, custom_objects={"Unregistered": Unregistered})
    assert_same(predict(loaded, x), predict(model, x), exact=True)
    with horn.saving.custom_object_scope({"Unregistered": Unregistered}):
        assert_same(predict(horn.saving.load_model(path), x), predict(model, x), exact=True)
    assert horn.saving.get_custom_objects()["HornSavingTest>ScaledBlock"] is ScaledBlock
    assert horn.saving.get_registered_name(ScaledBlock) == "HornSavingTest>ScaledBlock"


@pytest.mark.keras
def test_custom_layer_between_horn_and_keras(tmp_path):
    keras = keras_or_skip()

    # The Keras twin of ScaledBlock, registered under the same name.
    @keras.saving.register_keras_serializable(package="HornSavingTest", name="scaled_tanh")
    def k_scaled_tanh(x):
        return keras.ops.tanh(x) * 2.0

    @keras.saving.register_keras_serializable(package="HornSavingTest", name="ScaledBlock")
    class KScaledBlock(keras.layers.Layer):
        def __init__(self, units=3, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.factor = units, factor
            self.proj = keras.layers.Dense(units, activation=k_scaled_tanh, name=f"{self.name}_proj")

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")
            self.proj.build(input_shape)

        def call(self, x):
            return self.proj(x) * self.scale * self.factor

        def get_config(self):
            return {**super().get_config(), "units": self.units, "factor": self.factor}

    KScaledBlock.__name__ = "ScaledBlock"     # weight groups are named after the class
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 4)).astype("float32")
    ours = randomize(custom_model(horn, ScaledBlock), rng)
    ours.save(tmp_path / "h.keras")
    assert_same(predict(keras.saving.load_model(tmp_path / "h.keras"), x), predict(ours, x))
    theirs = randomize(custom_model(keras, KScaledBlock), rng)
    theirs.save(tmp_path / "k.keras")
    assert_same(predict(horn.saving.load_model(tmp_path / "k.keras"), x), predict(theirs, x))


@horn.saving.register_keras_serializable(package="HornSavingTest")
class TwoDense(horn.Model):
    """A subclassed model: Keras names its weight groups by attribute ('hidden', 'out')."""

    def __init__(self, units: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = horn.layers.Dense(units, activation="relu")
        self.out = horn.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model_round_trip(tmp_path):
    x = np.random.default_rng(11).normal(size=(3, 4)).astype("float32")
    model = TwoDense(6)
    want = predict(model, x)
    model.save(tmp_path / "s.keras")
    loaded = horn.saving.load_model(tmp_path / "s.keras")
    assert isinstance(loaded, TwoDense) and loaded.units == 6
    assert_same(predict(loaded, x), want, exact=True)
    with zipfile.ZipFile(tmp_path / "s.keras") as zf:
        groups = _h5_tree(zf.read("model.weights.h5"))
    # As Keras walks it: 'hidden' by attribute, then `out` through the `layers` property
    # (numbered after 'hidden' took the name 'dense'), which sorts before 'out'.
    assert {"hidden/vars/0", "hidden/vars/1", "layers/dense_1/vars/0", "layers/dense_1/vars/1"} <= set(groups)


@pytest.mark.keras
def test_subclassed_model_between_horn_and_keras(tmp_path):
    keras = keras_or_skip()

    @keras.saving.register_keras_serializable(package="HornSavingTest", name="TwoDense")
    class KTwoDense(keras.Model):
        def __init__(self, units=5, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = keras.layers.Dense(units, activation="relu")
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.hidden(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    KTwoDense.__name__ = "TwoDense"
    x = np.random.default_rng(12).normal(size=(3, 4)).astype("float32")
    ours = TwoDense(6)
    want = predict(ours, x)          # builds it: an unbuilt model has no weights to save
    ours.save(tmp_path / "h.keras")
    assert_same(predict(keras.saving.load_model(tmp_path / "h.keras"), x), want)
    theirs = KTwoDense(7)
    theirs(x)
    theirs.save(tmp_path / "k.keras")
    assert_same(predict(horn.saving.load_model(tmp_path / "k.keras"), x), predict(theirs, x))


# -- atomic writes --------------------------------------------------------------------------------
def _fail_on_call(monkeypatch, module, name: str, n: int):
    """Makes ``module.name`` raise on its n-th call (after earlier calls did real writes)."""
    real, calls = getattr(module, name), []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise OSError("injected failure mid-write")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


@pytest.mark.parametrize("fmt", [".keras", ".weights.h5", ".h5"])
def test_failed_save_leaves_previous_file_intact(fmt, tmp_path, monkeypatch):
    model = randomize(mlp(horn), np.random.default_rng(8))
    path = tmp_path / f"ckpt{fmt}"
    save(model, str(path), fmt)
    before = path.read_bytes()
    randomize(model, np.random.default_rng(9))

    def inject():
        if fmt == ".keras":
            # The zip already holds metadata.json and config.json when the weights member fails.
            _fail_on_call(monkeypatch, zipfile.ZipFile, "writestr", 3)
        elif fmt == ".h5":
            _fail_on_call(monkeypatch, legacy_h5, "_save_subset", 2)   # after a layer's weights
        else:
            import frontend.saving.weights as weights
            _fail_on_call(monkeypatch, weights, "own_variables", 2)    # after the root group

    inject()
    with pytest.raises(OSError, match="injected failure"):
        save(model, str(path), fmt)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]        # no temporary file left behind
    fresh = tmp_path / "sub" / f"new{fmt}"
    inject()
    with pytest.raises(OSError, match="injected failure"):
        save(model, str(fresh), fmt)
    assert not os.path.exists(fresh) and os.listdir(tmp_path / "sub") == []


def test_overwrite_false_and_unbuilt_models(tmp_path):
    model = mlp(horn)
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError, match="already exists and overwrite=False"):
        model.save(tmp_path / "m.keras", overwrite=False)
    with pytest.warns(UserWarning, match="not yet been built"):
        TwoDense(3).save(tmp_path / "unbuilt.keras")
    with pytest.raises(ValueError, match="loading weights into a model that has not yet been built"):
        TwoDense(3).load_weights(tmp_path / "m.keras")


# -- errors ---------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"File not found: filepath=.*nope\.keras"):
        horn.saving.load_model(tmp_path / "nope.keras")
    with pytest.raises(FileNotFoundError, match="File not found"):
        horn.saving.load_model(tmp_path / "nope.h5")


def test_corrupt_and_non_zip_files(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match=r"not a valid `.keras` file: it is not a zip archive"):
        horn.saving.load_model(junk)
    mlp(horn).save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a zip archive"):
        horn.saving.load_model(tmp_path / "cut.keras")
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF garbage")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        horn.saving.load_model(tmp_path / "bad.h5")
    with zipfile.ZipFile(tmp_path / "noconfig.keras", "w") as zf:
        zf.writestr("metadata.json", "{}")
    with pytest.raises(ValueError, match="has no config.json"):
        horn.saving.load_model(tmp_path / "noconfig.keras")
    with pytest.raises(ValueError, match="Invalid filepath extension for saving"):
        mlp(horn).save(tmp_path / "model.pkl")


def test_unknown_class_names_the_class(tmp_path):
    mlp(horn).save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["class_name"] = "FancyDense"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "fancy.keras", "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(TypeError, match=r"Could not locate class 'FancyDense'.*register_keras_serializable"
                                        r".*custom_objects=\{'FancyDense': FancyDense\}"):
        horn.saving.load_model(tmp_path / "fancy.keras")


@pytest.mark.parametrize("fmt", [".weights.h5", ".h5", ".keras"])
def test_shape_mismatch_names_layer_and_variable(fmt, tmp_path):
    def model(units):
        return horn.Sequential([horn.Input((3,)), horn.layers.Dense(units, name="hidden"),
                                horn.layers.Dense(2, name="head")])

    path = str(tmp_path / f"w{fmt}")
    save(model(4), path, fmt)
    target = randomize(model(5), np.random.default_rng(10))
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"'hidden'.*'(hidden/)?kernel'.*expects shape \(3, 5\).*"
                                         r"shape \(3, 4\)"):
        target.load_weights(path)
    for a, b in zip(target.get_weights(), before):     # nothing was half-loaded
        np.testing.assert_array_equal(a, b)


def test_variable_count_mismatch(tmp_path):
    horn.Sequential([horn.Input((3,)), horn.layers.Dense(2, name="d")]).save_weights(tmp_path / "w.weights.h5")
    no_bias = horn.Sequential([horn.Input((3,)), horn.layers.Dense(2, use_bias=False, name="d")])
    with pytest.raises(ValueError, match=r"layer 'd' \(Dense\).*expects 1 variables \['kernel'\], but the "
                                         r"file has 2"):
        no_bias.load_weights(tmp_path / "w.weights.h5")
    with pytest.warns(UserWarning, match="Skipped"):
        no_bias.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)


def test_weights_file_name_must_say_weights(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `.weights.h5`"):
        mlp(horn).save_weights(tmp_path / "w.bin")


def test_legacy_weights_file_without_model_config(tmp_path):
    mlp(horn).save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="No model config found.*load_weights"):
        horn.saving.load_model(tmp_path / "w.h5")

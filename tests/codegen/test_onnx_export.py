"""Model export to ONNX: every layer Horn has and the seed models, run in ONNX Runtime
against Horn's compiled output (rtol 1e-5, atol 1e-6); the dynamic batch; names,
metadata and initializers; errors; ``Model.export``.

Layer configurations are the ones the layer conformance tests use
(tests/frontend/test_*_layers.py), each wrapped in a one-layer model with random
weights, and run at batch 1 and 7 from one file.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import onnx
import pytest

import horn as keras
from codegen.onnx import DEFAULT_OPSET, OnnxExportError, export_onnx, graph_to_onnx
from codegen.onnx.export import producer_version
from frontend import layers as L
from frontend.layer import Layer
from frontend.models.input_layer import InputLayer
from ir import DType, Graph, Op
from ir.attrs import PoolAttrs, PoolKind, ScatterAddAttrs
from ir.shapes import BATCH, TensorType
from tests.codegen.onnx_harness import assert_same, run, session
from tests.frontend import (test_conv_layers, test_embedding_layer, test_normalization_layers,
                            test_pooling_layers, test_preprocessing_layers, test_reshaping_layers)
from tests.models.seed_models import convnet_l, convnet_s, mlp


# -- every layer ----------------------------------------------------------------------------------
class LayerCase:
    """One layer configuration: ``make(module)`` builds it; ``shapes`` excludes the batch."""

    def __init__(self, id: str, make: Callable, shapes, *, dtype: str = "float32", low: float = -1.0,
                 high: float = 1.0, weights: Callable | None = None, call: Callable | None = None):
        self.id, self.make, self.shapes, self.dtype = id, make, shapes, dtype
        self.low, self.high, self.weights = low, high, weights
        # ``call(layer, inputs)``: how a functional model applies the layer (keyword arguments,
        # layers in front of it); a None in ``shapes`` is a symbolic sequence length.
        self.call = call


def _sequence_cases() -> list[LayerCase]:
    """Recurrent, attention and masking layers (tests/frontend/test_layers_rnn.py and
    test_layers_attention.py): the loop exports as ONNX Scan; masks, go_backwards, states,
    merge modes and a symbolic sequence length run in ONNX Runtime."""
    cases: list[LayerCase] = []
    seq_opts = [{}, {"return_sequences": True}, {"go_backwards": True},
                {"go_backwards": True, "return_sequences": True}, {"return_state": True},
                {"return_state": True, "return_sequences": True, "go_backwards": True}]
    for name in ("SimpleRNN", "LSTM", "GRU"):
        for opts in seq_opts:
            cases.append(LayerCase(f"{name}_{opts}", lambda m, n=name, o=opts: getattr(m, n)(4, **o), (5, 3),
                                   call=lambda layer, xs: layer(xs[0])))
        cases.append(LayerCase(f"{name}_symbolic_length", lambda m, n=name: getattr(m, n)(
            4, return_sequences=True, return_state=True), (None, 3), call=lambda layer, xs: layer(xs[0])))
        # Masks: Embedding(mask_zero=True) in front; random tokens in [0, 3] leave zeros.
        cases.append(LayerCase(f"{name}_masked", lambda m, n=name: getattr(m, n)(4, return_sequences=True),
                               (6,), dtype="int32", low=0, high=3,
                               call=lambda layer, xs: layer(L.Embedding(4, 3, mask_zero=True)(xs[0]))))
    cases += [
        LayerCase("GRU_reset_before", lambda m: m.GRU(4, reset_after=False, return_sequences=True), (5, 3)),
        LayerCase("LSTM_hard_sigmoid_relu", lambda m: m.LSTM(4, activation="relu",
                                                            recurrent_activation="hard_sigmoid"), (5, 3)),
        LayerCase("LSTM_go_backwards_symbolic_length", lambda m: m.LSTM(4, go_backwards=True), (None, 3)),
    ]
    for cell in ("SimpleRNNCell", "LSTMCell", "GRUCell"):
        cases.append(LayerCase(f"RNN_{cell}", lambda m, c=cell: m.RNN(getattr(m, c)(4), return_sequences=True,
                                                                        return_state=True), (5, 3),
                               call=lambda layer, xs: layer(xs[0])))
    cases.append(LayerCase("RNN_StackedRNNCells", lambda m: m.RNN(
        [m.LSTMCell(3), m.GRUCell(2), m.SimpleRNNCell(4)], return_sequences=True, go_backwards=True,
        return_state=True), (None, 3), call=lambda layer, xs: layer(xs[0])))
    for merge in ("concat", "sum", "mul", "ave", None):
        cases.append(LayerCase(f"Bidirectional_{merge}", lambda m, mm=merge: m.Bidirectional(
            m.GRU(4, return_sequences=True), merge_mode=mm), (5, 3), call=lambda layer, xs: layer(xs[0])))
    cases += [
        LayerCase("Bidirectional_masked_state", lambda m: m.Bidirectional(m.LSTM(4, return_state=True)), (6,),
                  dtype="int32", low=0, high=3,
                  call=lambda layer, xs: layer(L.Embedding(4, 3, mask_zero=True)(xs[0]))),
        LayerCase("Bidirectional_symbolic_length", lambda m: m.Bidirectional(m.SimpleRNN(4)), (None, 3)),
        LayerCase("TimeDistributed_dense", lambda m: m.TimeDistributed(m.Dense(3, activation="relu")), (5, 4)),
        LayerCase("TimeDistributed_conv", lambda m: m.TimeDistributed(m.Conv2D(2, 3)), (3, 5, 5, 1)),
        LayerCase("Masking", lambda m: m.Masking(0.5), (5, 3)),
        LayerCase("Masking_into_LSTM", lambda m: m.LSTM(4, return_sequences=True), (5, 3),
                  call=lambda layer, xs: layer(L.Masking(0.0)(xs[0] * keras.ops.cast(xs[0] > -0.3, "float32")))),
    ]
    for cls, kw in [("Attention", {}), ("Attention", {"use_scale": True, "score_mode": "concat"}),
                    ("AdditiveAttention", {}), ("AdditiveAttention", {"use_scale": False})]:
        cases.append(LayerCase(f"{cls}_{kw}", lambda m, c=cls, k=kw: getattr(m, c)(**k), [(4, 3), (5, 3)]))
        cases.append(LayerCase(f"{cls}_{kw}_causal_scores", lambda m, c=cls, k=kw: getattr(m, c)(**k),
                               [(4, 3), (4, 3), (4, 3)],
                               call=lambda layer, xs: layer(xs, use_causal_mask=True, return_attention_scores=True)))
    cases += [
        LayerCase("MultiHeadAttention", lambda m: m.MultiHeadAttention(2, 3), [(4, 3), (5, 3)],
                  call=lambda layer, xs: layer(xs[0], xs[1])),
        LayerCase("MultiHeadAttention_causal_scores", lambda m: m.MultiHeadAttention(2, 3, value_dim=2),
                  [(4, 3), (4, 3), (4, 5)],
                  call=lambda layer, xs: layer(xs[0], xs[2], xs[1], use_causal_mask=True,
                                               return_attention_scores=True)),
        # Masks riding on the embedded tokens, a symbolic length, self-attention.
        LayerCase("MultiHeadAttention_masked_symbolic_length", lambda m: m.MultiHeadAttention(2, 3), (None,),
                  dtype="int32", low=0, high=3,
                  call=lambda layer, xs: (lambda e: layer(e, e))(L.Embedding(4, 3, mask_zero=True)(xs[0]))),
        LayerCase("MultiHeadAttention_attention_mask", lambda m: m.MultiHeadAttention(1, 2, output_shape=5),
                  [(4, 3), (5, 3)],
                  call=lambda layer, xs: layer(xs[0], xs[1], attention_mask=keras.ops.greater(
                      keras.ops.expand_dims(xs[1][..., 0], 1) + keras.ops.expand_dims(xs[0][..., 0], 2), -0.5))),
    ]
    return cases


def _cases() -> list[LayerCase]:
    cases: list[LayerCase] = []
    for mod in (test_conv_layers, test_pooling_layers, test_reshaping_layers, test_preprocessing_layers):
        cases += [LayerCase(name, make, shape) for name, make, shape in mod.CASES]
    for name, make, shape, dtype in test_embedding_layer.CASES:
        cases.append(LayerCase(name, make, shape, dtype=dtype, low=0, high=make(L).input_dim - 1))
    for name, make, shape in test_normalization_layers.BN_CASES + test_normalization_layers.LN_CASES:
        cases.append(LayerCase(name, make, shape, low=-2.0, high=3.0))
    # Core layers (tests/frontend/test_core_layers.py).
    for act in [None, "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu", "softplus", "swish",
                "leaky_relu", "hard_sigmoid"]:
        cases.append(LayerCase(f"dense_{act}", lambda m, a=act: m.Dense(6, activation=a), (5,), low=-3, high=3))
    for shape in [(1,), (4, 5), (2, 3, 5)]:
        cases.append(LayerCase(f"dense_rank{len(shape) + 1}", lambda m: m.Dense(3, use_bias=False), shape))
    for act in ["relu", "softmax", "log_softmax", "mish", "linear", "exponential"]:
        cases.append(LayerCase(f"activation_{act}", lambda m, a=act: m.Activation(a), (3, 4), low=-3, high=3))
    cases += [LayerCase("dropout", lambda m: m.Dropout(0.5, seed=1), (4,)),
              LayerCase("identity", lambda m: m.Identity(), (3,))]
    for shape in [(3,), (3, 4), (2, 3, 4)]:
        for fmt in ["channels_last", "channels_first"]:
            cases.append(LayerCase(f"flatten_{len(shape)}_{fmt}", lambda m, f=fmt: m.Flatten(data_format=f), shape))
    for target in [(12,), (-1,), (3, 4), (2, -1), (-1, 2, 2), (1, 12)]:
        cases.append(LayerCase(f"reshape_{target}", lambda m, t=target: m.Reshape(t), (4, 3)))
    for dims, shape in [((2, 1), (3, 4)), ((1, 3, 2), (2, 3, 4)), ((3, 1, 2), (2, 3, 4))]:
        cases.append(LayerCase(f"permute_{dims}", lambda m, d=dims: m.Permute(d), shape))
    for n in (1, 3):
        cases.append(LayerCase(f"repeat_vector_{n}", lambda m, n=n: m.RepeatVector(n), (5,)))
    # Activation layers (tests/frontend/test_activation_layers.py).
    for kw in [{}, {"max_value": 6.0}, {"max_value": 0.5}, {"negative_slope": 0.1}, {"threshold": 0.5},
               {"negative_slope": 0.2, "max_value": 0.8}, {"negative_slope": 0.1, "threshold": 0.3, "max_value": 0.9}]:
        cases.append(LayerCase(f"relu_{kw}", lambda m, kw=kw: m.ReLU(**kw), (3, 4)))
    for kw in [{}, {"negative_slope": 0.01}, {"negative_slope": 0.0}]:
        cases.append(LayerCase(f"leaky_relu_{kw}", lambda m, kw=kw: m.LeakyReLU(**kw), (5,)))
    for shape, shared in [((5,), None), ((3, 4), None), ((3, 4), [1]), ((2, 3, 4), [1, 2]), ((2, 3, 4), 2)]:
        cases.append(LayerCase(f"prelu_{shape}_{shared}", lambda m, s=shared: m.PReLU(shared_axes=s), shape))
    for alpha in (1.0, 0.3):
        cases.append(LayerCase(f"elu_{alpha}", lambda m, a=alpha: m.ELU(alpha=a), (4,), low=-5, high=5))
    for axis in [-1, 1, (1, 2), [2]]:
        cases.append(LayerCase(f"softmax_{axis}", lambda m, a=axis: m.Softmax(axis=a), (3, 4), low=-10, high=10))
    # Merging layers (tests/frontend/test_merging_layers.py).
    for name in ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]:
        for shapes in ([(4,), (4,)], [(2, 3), (2, 3)], [(2, 3), (1, 3)]):
            cases.append(LayerCase(f"{name}_{shapes}", lambda m, n=name: getattr(m, n)(), shapes))
    for name in ["Add", "Multiply", "Average", "Maximum", "Minimum"]:
        cases.append(LayerCase(f"{name}_three", lambda m, n=name: getattr(m, n)(), [(3,), (3,), (3,)]))
    cases.append(LayerCase("add_lower_rank", lambda m: m.Add(), [(2, 3), (3,)]))
    for axis, shapes in [(-1, [(2, 3), (2, 5)]), (1, [(2, 3), (4, 3)]), (2, [(2, 3), (2, 1), (2, 2)]),
                         (-2, [(1, 4), (3, 4)])]:
        cases.append(LayerCase(f"concatenate_{axis}", lambda m, a=axis: m.Concatenate(axis=a), shapes))
    for axes, normalize, shapes in [(1, False, [(4,), (4,)]), (-1, True, [(4,), (4,)]),
                                    ((1, 1), False, [(3, 4), (3, 5)]), ((2, 1), False, [(3, 4), (4, 5)]),
                                    ((2, 2), True, [(3, 4), (5, 4)]), (2, False, [(3, 4), (5, 4)]),
                                    ((1, 2), False, [(4,), (3, 4)]), ((3, 1), False, [(2, 3, 4), (4, 5)]),
                                    ((1, 3), True, [(2, 3, 4), (3, 5, 2)])]:
        cases.append(LayerCase(f"dot_{axes}_{normalize}_{shapes}",
                               lambda m, a=axes, n=normalize: m.Dot(axes=a, normalize=n), shapes))
    return cases + _sequence_cases()


LAYER_CASES = _cases()


def _randomize(model, rng: np.random.Generator) -> None:
    """Random weights, so biases, BN statistics and PReLU slopes are exercised (variances positive)."""
    for w in model.weights:
        lo = 0.2 if w.name == "moving_variance" else -1.0
        w.assign(rng.uniform(lo, 1.0 if lo < 0 else 2.0, w.shape).astype(w.numpy().dtype))


def _layer_model(case: LayerCase):
    layer = case.make(L)
    if case.call is not None:
        shapes = case.shapes if isinstance(case.shapes, list) else [case.shapes]
        inputs = [keras.Input(s, dtype=case.dtype) for s in shapes]
        return keras.Model(inputs, case.call(layer, inputs))
    if isinstance(case.shapes, list):
        inputs = [keras.Input(s, dtype=case.dtype) for s in case.shapes]
        return keras.Model(inputs, layer(inputs))
    return keras.Sequential([keras.Input(case.shapes, dtype=case.dtype), layer])


def _inputs(case: LayerCase, batch: int, rng: np.random.Generator, length: int | None = None
            ) -> list[np.ndarray]:
    shapes = case.shapes if isinstance(case.shapes, list) else [case.shapes]
    shapes = [tuple(length if d is None else d for d in s) for s in shapes]
    if np.dtype(case.dtype).kind in "iu":
        return [rng.integers(int(case.low), int(case.high) + 1, (batch,) + s).astype(case.dtype) for s in shapes]
    return [rng.uniform(case.low, case.high, (batch,) + s).astype(case.dtype) for s in shapes]


def _horn(model, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = model.predict_on_batch(xs if len(xs) > 1 else xs[0])
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.id for c in LAYER_CASES])
def test_layer_exports_and_matches_horn(case: LayerCase, tmp_path):
    rng = np.random.default_rng(11)
    model = _layer_model(case)
    _randomize(model, rng)
    path = str(tmp_path / "layer.onnx")
    export_onnx(model, path)
    sess = session(path)
    shapes = case.shapes if isinstance(case.shapes, list) else [case.shapes]
    # A symbolic sequence length: one file serves two lengths (and length 1).
    lengths = (5, 1, 2) if any(d is None for s in shapes for d in s) else (None,)
    for batch in (1, 7):
        for length in lengths:
            xs = _inputs(case, batch, rng, length)
            assert_same(run(sess, xs), _horn(model, xs), what=f"{case.id} at batch {batch}, length {length}")


def test_every_layer_class_has_an_export_case():
    supported = {obj for name in L.__all__ if isinstance(obj := getattr(L, name), type)
                 and issubclass(obj, Layer) and obj is not InputLayer}
    layers = [case.make(L) for case in LAYER_CASES]
    # A cell is not a model layer by itself: it is covered by an RNN(cell) case that exports it.
    cells = [layer.cell for layer in layers if isinstance(layer, L.RNN)]
    covered = ({type(layer) for layer in layers} | {type(c) for c in cells}
               | {type(c) for s in cells if isinstance(s, L.StackedRNNCells) for c in s.cells})
    missing = sorted(cls.__name__ for cls in supported - covered)
    assert not missing, f"layers without an ONNX export case: {missing}"


# -- the seed models ------------------------------------------------------------------------------
def _mnist_images(n: int, rank3: bool) -> np.ndarray:
    """The first ``n`` MNIST test images (the offline copy, when HORN_DATA_DIR has one), else noise."""
    if os.environ.get("HORN_DATA_DIR"):
        (_, _), (x, _) = keras.datasets.mnist.load_data()
        x = x[:n].astype("float32") / 255.0
    else:
        x = np.random.default_rng(0).uniform(0, 1, (n, 28, 28)).astype("float32")
    return x if rank3 else x[..., None]


@pytest.mark.parametrize("build", [mlp, convnet_s, convnet_l], ids=["mlp", "convnet_s", "convnet_l"])
def test_seed_model_matches_horn(build, tmp_path):
    keras.utils.set_random_seed(0)
    model = build(keras)
    x = _mnist_images(64, rank3=build is mlp)
    path = str(tmp_path / "m.onnx")
    export_onnx(model, path)
    got = run(session(path), [x])
    want = model.predict(x, verbose=0)
    assert_same(got, [want], what=build.__name__)
    np.testing.assert_array_equal(got[0].argmax(-1), want.argmax(-1))


def test_dynamic_batch_one_file_runs_batch_1_and_37(tmp_path):
    model = convnet_s(keras)
    path = str(tmp_path / "convnet_s.onnx")
    proto = export_onnx(model, path)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 28, 28, 1]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 10]
    sess = session(path)
    x = np.random.default_rng(1).uniform(0, 1, (37, 28, 28, 1)).astype("float32")
    for batch in (1, 37):
        got = run(sess, [x[:batch]])
        assert got[0].shape == (batch, 10)
        assert_same(got, [model.predict(x[:batch], verbose=0)], what=f"batch {batch}")


@pytest.mark.parametrize("opset", [18, 21])
def test_newer_opsets(opset, tmp_path):
    """Opset 18 moved ReduceMax/Min/Mean's axes to an input; convnet-L's softmax and pooling use them."""
    model = convnet_l(keras)
    proto = export_onnx(model, str(tmp_path / "m.onnx"), opset=opset)
    assert proto.opset_import[0].version == opset
    x = np.random.default_rng(2).uniform(0, 1, (3, 28, 28, 1)).astype("float32")
    assert_same(run(session(proto), [x]), [model.predict(x, verbose=0)])


# -- names, metadata, initializers ------------------------------------------------------------------
def _two_in_two_out():
    image = keras.Input((6, 6, 2), name="image")
    meta = keras.Input((3,), name="meta")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="features")(image)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Concatenate(name="joined")([x, meta])
    probs = keras.layers.Dense(5, activation="softmax", name="class_probs")(x)
    score = keras.layers.Dense(1, name="score")(x)
    return keras.Model([image, meta], [probs, score], name="two_heads")


def test_multi_input_multi_output_names_and_values(tmp_path):
    model = _two_in_two_out()
    _randomize(model, np.random.default_rng(3))
    path = str(tmp_path / "two.onnx")
    export_onnx(model, path)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["image", "meta"]
    assert [o.name for o in sess.get_outputs()] == ["class_probs", "score"]
    assert [o.shape for o in sess.get_outputs()] == [["batch", 5], ["batch", 1]]
    rng = np.random.default_rng(4)
    x = [rng.uniform(-1, 1, (4, 6, 6, 2)).astype("float32"), rng.uniform(-1, 1, (4, 3)).astype("float32")]
    got = sess.run(None, {"meta": x[1], "image": x[0]})
    assert_same(got, model.predict(x, verbose=0))


def test_duplicate_and_pass_through_outputs_get_unique_names(tmp_path):
    x = keras.Input((3,), name="x")
    y = keras.layers.Dense(2, name="d")(x)
    model = keras.Model(x, [y, y, x])
    proto = export_onnx(model, str(tmp_path / "m.onnx"))
    assert [o.name for o in proto.graph.output] == ["d", "d_1", "x_1"]
    a = np.random.default_rng(5).uniform(-1, 1, (2, 3)).astype("float32")
    assert_same(run(session(proto), [a]), model.predict(a, verbose=0))


def test_metadata_and_weights_as_initializers(tmp_path):
    model = keras.Sequential([keras.Input((5, 5, 1), name="pixels"), keras.layers.Conv2D(3, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="head")], name="tiny")
    proto = export_onnx(model, str(tmp_path / "m.onnx"), model_version=7)
    assert proto.producer_name == "horn" and proto.producer_version == producer_version()
    assert proto.model_version == 7 and "tiny" in proto.doc_string and "opset 17" in proto.doc_string
    assert proto.opset_import[0].version == DEFAULT_OPSET == 17 and proto.ir_version == 8
    assert {p.key: p.value for p in proto.metadata_props} == {"model_name": "tiny", "model_class": "Sequential"}
    assert proto.graph.name == "tiny"
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    # Dense weights are used as they are; the conv kernel is stored once, already in ONNX's (O, I, kh, kw).
    np.testing.assert_array_equal(inits["head/kernel"], model.get_layer("head").kernel.numpy())
    assert [a.shape for a in inits.values() if a.size == 27] == [(3, 1, 3, 3)]
    np.testing.assert_array_equal(inits["conv/kernel"], model.get_layer("conv").kernel.numpy().transpose(3, 2, 0, 1))
    assert os.listdir(tmp_path) == ["m.onnx"]          # no temporary file left behind


def test_fp16_weights_halve_the_file_and_keep_float32_compute(tmp_path):
    model = convnet_s(keras)
    full, half = str(tmp_path / "f32.onnx"), str(tmp_path / "f16.onnx")
    export_onnx(model, full)
    proto = export_onnx(model, half, fp16_weights=True)
    assert os.path.getsize(half) < 0.55 * os.path.getsize(full)
    big = [t for t in proto.graph.initializer if len(t.dims) and np.prod(t.dims) >= 16]
    assert big and all(t.data_type == onnx.TensorProto.FLOAT16 for t in big)
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x = np.random.default_rng(6).uniform(0, 1, (5, 28, 28, 1)).astype("float32")
    got = run(session(half), [x])
    # The same model with its weights rounded to float16 is what the file computes.
    for w in model.weights:
        if w.numpy().size >= 16:
            w.assign(w.numpy().astype(np.float16).astype(np.float32))
    assert_same(got, [model.predict(x, verbose=0)])
    model.weights[0].assign(np.full(model.weights[0].shape, 1e5, np.float32))
    with pytest.raises(ValueError, match=r"weight 'conv2d(_\d+)?/kernel' holds values beyond float16's range"):
        export_onnx(model, half, fp16_weights=True)


# -- subclassed models and input signatures -----------------------------------------------------------
class _Scaled(keras.Model):
    def __init__(self):
        super().__init__(name="scaled")
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return keras.ops.tanh(self.dense(x)) * 2.0


def test_subclassed_model_needs_a_signature_until_called(tmp_path):
    model = _Scaled()
    path = str(tmp_path / "s.onnx")
    with pytest.raises(ValueError, match=r"Model 'scaled' has no declared inputs.*input_signature"):
        export_onnx(model, path)
    assert not os.path.exists(path)
    x = np.random.default_rng(7).uniform(-1, 1, (4, 6)).astype("float32")
    want = model.predict(x, verbose=0)
    for signature in (None, [keras.InputSpec(shape=(None, 6))], (None, 6)):
        proto = export_onnx(model, path, input_signature=signature)
        assert [o.name for o in proto.graph.output] == ["output"]
        assert_same(run(session(path), [x]), [want])


def test_input_signature_is_validated():
    model = _Scaled()
    # A None after the batch is a symbolic length now; Dense still needs its last dim.
    with pytest.raises(ValueError, match=r"expected sizes or None \(a symbolic length\) after the batch"):
        export_onnx(model, "unused.onnx", input_signature=[(None, 2.5)])
    with pytest.raises(ValueError, match=r"Dense layer .*: the last dimension of the inputs must be known"):
        export_onnx(model, "unused.onnx", input_signature=[(None, None)])
    with pytest.raises(TypeError, match=r"input_signature\[0\]: expected a shape tuple"):
        export_onnx(model, "unused.onnx", input_signature=[3.5])


# -- errors -------------------------------------------------------------------------------------------
def test_unsupported_ops_are_all_listed_with_their_nodes():
    g = Graph("training_bits")
    x = g.add_input(TensorType(DType.float32, (BATCH, 4, 4, 1)), "x")
    dy = g.add_input(TensorType(DType.float32, (BATCH, 2, 2, 1)), "dy")
    idx = g.add_input(TensorType(DType.int32, (3,)), "idx")
    pool = PoolAttrs(PoolKind.MAX, (2, 2), (2, 2), ((0, 0), (0, 0)))
    dx = g.add_node(Op.POOL_GRAD, [x, dy], pool, "pool_grad_node").output
    upd = g.add_input(TensorType(DType.float32, (3, 2)), "upd")
    rows = g.add_node(Op.SCATTER_ADD, [upd, idx], ScatterAddAttrs(0, 5), "scatter_node").output
    g.set_outputs([g.add_node(Op.NEG, [dx]).output, rows])
    with pytest.raises(OnnxExportError) as err:
        graph_to_onnx(g)
    msg = str(err.value)
    assert "2 op(s) have no ONNX mapping" in msg
    assert "pool_grad at pool_grad_node: the adjoint of pool exists only in gradient (training) graphs" in msg
    assert "scatter_add at scatter_node: the adjoint of gather" in msg


class _Noisy(keras.Model):
    def call(self, x):
        return x + keras.random.uniform((None, 3))


def test_unsupported_model_raises_before_writing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")
    model = _Noisy()
    with pytest.raises(OnnxExportError, match=r"random_uniform at .*: random draws come from the train step"):
        export_onnx(model, str(path), input_signature=[(None, 3)])
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["m.onnx"]


def test_unsupported_opset_names_the_supported_ones():
    with pytest.raises(ValueError, match=r"Unsupported ONNX opset 13: Horn writes opsets 17 to 21"):
        export_onnx(mlp(keras), "unused.onnx", opset=13)


# -- Model.export ---------------------------------------------------------------------------------------
def test_model_export_keras_spelling(tmp_path, capsys):
    model = mlp(keras)
    path = str(tmp_path / "mlp.onnx")
    proto = model.export(path, format="onnx", verbose=True)
    assert isinstance(proto, onnx.ModelProto) and os.path.exists(path)
    assert capsys.readouterr().out.strip() == f"Saved artifact at '{path}'."
    model.export(path, opset=18)
    assert onnx.load(path).opset_import[0].version == 18
    with pytest.raises(ValueError, match=r"Unrecognized format='tf_saved_model'. Horn exports: 'onnx'"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['dynamic_batch'\]"):
        model.export(path, dynamic_batch=True)


def test_a_model_read_from_onnx_exports_again(tmp_path):
    """``horn export m.onnx -o out.onnx``: an imported model keeps the file's names and numbers."""
    onnx_import = pytest.importorskip("frontend.onnx_import")
    model = convnet_s(keras)
    first = str(tmp_path / "first.onnx")
    export_onnx(model, first)
    imported = onnx_import.load_onnx(first)
    proto = export_onnx(imported, str(tmp_path / "again.onnx"))
    original = onnx.load(first).graph
    assert [i.name for i in proto.graph.input] == [i.name for i in original.input]
    assert [o.name for o in proto.graph.output] == [o.name for o in original.output]
    x = np.random.default_rng(8).uniform(0, 1, (3, 28, 28, 1)).astype("float32")
    assert_same(run(session(proto), [x]), [model.predict(x, verbose=0)])

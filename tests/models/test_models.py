"""Model construction, the compiled call path and its errors."""
import numpy as np
import pytest

import horn as keras
from ir import interpret
from tests.models import seed_models


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


def test_issue_snippet_predict_and_batch_one_share_one_executable():
    model = seed_models.functional_convnet(keras)
    x = _x((300, 28, 28, 1))
    probs = model.predict(x, batch_size=128, verbose=0)
    one = model(x[:1])
    assert probs.shape == (300, 10) and one.shape == (1, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one, probs[:1], rtol=1e-5, atol=1e-7)
    assert len(model._executables) == 1       # batch 128, the tail of 44 and batch 1: one compile
    exe = next(iter(model._executables.values()))
    assert exe.kernel_count >= 4
    want = interpret(exe.graph, [x[:5]])[0]    # the compiled code against the reference interpreter
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), want, rtol=1e-5, atol=1e-6)


def test_sequential_add_and_list_forms_agree():
    a = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    b = keras.Sequential()
    b.add(keras.Input((6,)))
    b.add(keras.layers.Dense(4, activation="tanh"))
    b.add(keras.layers.Dense(2))
    b.set_weights(a.get_weights())
    x = _x((5, 6))
    np.testing.assert_allclose(a(x), b(x), rtol=1e-6)
    assert [l.name for l in b.layers] == [l.name for l in b.layers if l is not None] and len(b.layers) == 2
    assert b.count_params() == 6 * 4 + 4 + 4 * 2 + 2


def test_sequential_without_input_builds_on_first_call():
    m = keras.Sequential([keras.layers.Dense(3)])
    assert not m.built
    y = m(_x((4, 5)))
    assert y.shape == (4, 3) and m.built


def test_functional_multi_input_multi_output_shared_and_nested():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = keras.layers.Dense(3, name="shared")
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, keras.layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    ha, hb = shared(a), shared(b)
    merged = keras.layers.Concatenate()([ha, hb])
    out1 = keras.layers.Dense(1, name="head")(merged)
    out2 = inner(hb)
    model = keras.Model(inputs=[a, b], outputs=[out1, out2])
    xa, xb = _x((7, 4), 1), _x((7, 4), 2)
    y1, y2 = model([xa, xb])
    k, bias = shared.get_weights()
    ha_, hb_ = xa @ k + bias, xb @ k + bias
    hk, hbias = model.get_layer("head").get_weights()
    np.testing.assert_allclose(y1, np.concatenate([ha_, hb_], 1) @ hk + hbias, rtol=1e-5, atol=1e-6)
    ik, ib = inner.get_layer("inner_dense").get_weights()
    np.testing.assert_allclose(y2, hb_ @ ik + ib, rtol=1e-5, atol=1e-6)
    d1, d2 = model.predict({"a": xa, "b": xb}, verbose=0)
    np.testing.assert_allclose(d1, y1, rtol=1e-6)
    assert model.get_layer("shared") is shared and len(shared._inbound_nodes) == 2


def test_feature_extraction_through_layer_output():
    model = seed_models.convnet_s(keras)
    features = keras.Model(inputs=model.inputs, outputs=model.get_layer(index=4).output)
    x = _x((3, 28, 28, 1))
    assert features(x).shape == (3, 1600)
    assert features.layers[-1] is model.layers[4]


def test_weights_are_bound_live_not_copied():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False)])
    x = _x((2, 3))
    before = model(x)
    model.layers[0].kernel.assign(np.zeros((3, 2), "float32"))
    np.testing.assert_array_equal(model(x), 0.0)
    assert len(model._executables) == 1 and np.any(before != 0)


def test_predict_wrong_shape_names_model_and_shapes():
    model = seed_models.functional_convnet(keras)
    with pytest.raises(ValueError, match=r'layer "functional.*expected shape=\(None, 28, 28, 1\), '
                                         r'found shape=\(32, 28, 28\)'):
        model.predict(_x((32, 28, 28)), verbose=0)


def test_dense_on_wrong_rank_names_layer():
    dense = keras.layers.Dense(4, name="head")
    with pytest.raises(ValueError, match=r'layer "head".*expected min_ndim=2, found ndim=1'):
        dense(keras.Input(batch_shape=(5,)))
    built = keras.layers.Dense(4, name="tail")
    built(keras.Input((8,)))
    with pytest.raises(ValueError, match=r'layer "tail".*expected axis -1 of input shape to have value 8'):
        built(keras.Input((3, 5)))


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: swoosh"):
        keras.layers.Dense(3, activation="swoosh")


def test_summary_totals():
    model = seed_models.functional_convnet(keras)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "conv2d" in text and "(None, 26, 26, 32)" in text and "54,090" in text
    assert "Total params: 54,410 (212.54 KB)" in text


def test_errors_in_build_name_the_layer():
    class Picky(keras.layers.Layer):
        def build(self, input_shape):
            raise ValueError(f"needs a last axis of 3, received {input_shape}")

        def call(self, x):
            return x

    with pytest.raises(ValueError, match=r"Picky.*layer 'picky'.*needs a last axis of 3"):
        Picky(name="picky")(keras.Input((4,)))


def test_concatenate_error_names_layer_and_shapes():
    a, b = keras.Input((4, 5)), keras.Input((3, 6))
    with pytest.raises(ValueError, match=r"layer 'cat'.*matching shapes except for the concatenation axis"):
        keras.layers.Concatenate(name="cat")([a, b])

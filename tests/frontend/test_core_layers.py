"""Core layers through the one harness (eager, compiled at two batches, config
round trip, real Keras on the same weights), plus weight names and order,
config keys, functional use, and Keras' error messages naming the layer."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import layers
from frontend.tensors import KerasTensor
from frontend.tracing import Tracer
from tests.frontend.layer_harness import keras_or_skip, run_layer_test


# -- Dense ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax", "gelu", "elu",
                                        "selu", "softplus", "swish", "leaky_relu", "hard_sigmoid"])
def test_dense_activations(activation):
    run_layer_test(lambda: layers.Dense(6, activation=activation), (5,),
                   keras_layer=lambda k: k.layers.Dense(6, activation=activation))


@pytest.mark.parametrize("shape", [(1,), (4, 5), (2, 3, 5)], ids=["in1", "rank3", "rank4"])
def test_dense_ranks(shape):
    run_layer_test(lambda: layers.Dense(3, use_bias=False), shape,
                   keras_layer=lambda k: k.layers.Dense(3, use_bias=False))


def test_dense_initializers_and_weights_match_keras_layout():
    k = keras_or_skip()
    mine = layers.Dense(4, kernel_initializer="he_normal", bias_initializer="ones")
    mine.build((None, 3))
    theirs = k.layers.Dense(4, kernel_initializer="he_normal", bias_initializer="ones")
    theirs.build((None, 3))
    assert [w.name for w in mine.weights] == [w.name for w in theirs.weights] == ["kernel", "bias"]
    assert [w.shape for w in mine.weights] == [tuple(w.shape) for w in theirs.weights]
    assert mine.weights[0].path == f"{mine.name}/kernel"
    np.testing.assert_array_equal(mine.bias.numpy(), np.ones(4, "float32"))
    assert set(mine.get_config()) == set(theirs.get_config())
    assert mine.get_config()["kernel_initializer"] == theirs.get_config()["kernel_initializer"]
    assert mine.count_params() == theirs.count_params() == 16


def test_dense_functional_and_spec():
    d = layers.Dense(7, activation="relu")
    y = d(KerasTensor((None, 3, 5)))
    assert isinstance(y, KerasTensor) and y.shape == (None, 3, 7)
    assert d.input_spec.axes == {-1: 5}
    t = Tracer("d")
    assert d(t.input((None, 3, 5))).value.shape[1:] == (3, 7)


def test_dense_errors_name_the_layer():
    with pytest.raises(ValueError, match="expected a positive integer. Received: units=0"):
        layers.Dense(0)
    d = layers.Dense(2, name="my_dense")
    with pytest.raises(ValueError, match='Input 0 of layer "my_dense" is incompatible with the layer: '
                                         r"expected min_ndim=2, found ndim=1. Full shape received: \(3,\)"):
        d(np.zeros(3, "float32"))
    d(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r'layer "my_dense" is incompatible.*expected axis -1 of input '
                                         r"shape to have value 4, but received input with shape \(2, 5\)"):
        d(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Dense"):
        layers.Dense(2, bogus=1)


def test_dense_keras_wording_for_wrong_rank():
    k = keras_or_skip()
    with pytest.raises(ValueError, match="expected min_ndim=2, found ndim=1"):
        k.layers.Dense(2)(np.zeros(3, "float32"))


# -- Activation, Dropout, Identity -------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "softmax", "log_softmax", "mish", "linear", "exponential"])
def test_activation_layer(activation):
    run_layer_test(lambda: layers.Activation(activation), (3, 4),
                   keras_layer=lambda k: k.layers.Activation(activation))


def test_activation_layer_rejects_unknown_name():
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: relu7"):
        layers.Activation("relu7")


def test_dropout_is_identity_at_inference():
    layer = run_layer_test(lambda: layers.Dropout(0.5, seed=1), (4,),
                           keras_layer=lambda k: k.layers.Dropout(0.5, seed=1))
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(layer(x), x)
    assert layer.get_config()["rate"] == 0.5 and layer.get_config()["seed"] == 1


def test_dropout_training_is_refused_until_the_rng_op_exists():
    dropped = layers.Dropout(0.5, seed=3)(np.ones((200, 50), "float32"), training=True)
    assert set(np.unique(dropped)) == {0.0, 2.0} and abs((dropped == 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(layers.Dropout(0.0)(np.ones(2, "float32"), training=True), np.ones(2))


def test_dropout_argument_errors():
    with pytest.raises(ValueError, match="Received: rate=1.5"):
        layers.Dropout(1.5)
    with pytest.raises(ValueError, match="Received negative or zero value at index 1: 0"):
        layers.Dropout(0.1, noise_shape=(None, 0))
    with pytest.raises(ValueError, match="Expected a tuple or list of integers"):
        layers.Dropout(0.1, noise_shape="abc")


def test_identity():
    run_layer_test(lambda: layers.Identity(), (3,), keras_layer=lambda k: k.layers.Identity())


# -- Flatten, Reshape, Permute, RepeatVector -----------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_flatten(shape, fmt):
    run_layer_test(lambda: layers.Flatten(data_format=fmt), shape,
                   keras_layer=lambda k: k.layers.Flatten(data_format=fmt))


def test_flatten_keeps_symbolic_batch():
    t = Tracer("f")
    y = layers.Flatten()(t.input((None, 28, 28)))
    assert y.shape == (None, 784)
    assert layers.Flatten()(KerasTensor((None, 2, 3))).shape == (None, 6)
    with pytest.raises(ValueError, match="data_format"):
        layers.Flatten(data_format="nhwc")


@pytest.mark.parametrize("target", [(12,), (-1,), (3, 4), (2, -1), (-1, 2, 2), (1, 12)])
def test_reshape(target):
    run_layer_test(lambda: layers.Reshape(target), (4, 3), keras_layer=lambda k: k.layers.Reshape(target))


def test_reshape_errors():
    with pytest.raises(ValueError, match="at most one unknown dimension"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        layers.Reshape((-2, 3))
    with pytest.raises(ValueError, match=r"layer 'bad_reshape'.*total size of the tensor must be unchanged"):
        layers.Reshape((5,), name="bad_reshape")(np.zeros((2, 4), "float32"))


@pytest.mark.parametrize("dims,shape", [((2, 1), (3, 4)), ((1, 3, 2), (2, 3, 4)), ((3, 1, 2), (2, 3, 4))])
def test_permute(dims, shape):
    run_layer_test(lambda: layers.Permute(dims), shape, keras_layer=lambda k: k.layers.Permute(dims))


def test_permute_errors():
    with pytest.raises(ValueError, match="must be consecutive and start from 1. Received dims=\\(0, 1\\)"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        layers.Permute((2, 1))(np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("n", [1, 3])
def test_repeat_vector(n):
    run_layer_test(lambda: layers.RepeatVector(n), (5,), keras_layer=lambda k: k.layers.RepeatVector(n))


def test_repeat_vector_errors():
    with pytest.raises(ValueError, match="Received: n=0"):
        layers.RepeatVector(0)
    with pytest.raises(TypeError, match="Expected an integer value for `n`"):
        layers.RepeatVector(2.0)
    with pytest.raises(ValueError, match="expected ndim=2, found ndim=3"):
        layers.RepeatVector(2)(np.zeros((1, 2, 3), "float32"))


@pytest.mark.parametrize("make", [
    lambda m: m.Dense(3), lambda m: m.Activation("relu"), lambda m: m.Dropout(0.2),
    lambda m: m.Flatten(), lambda m: m.Reshape((2, 2)), lambda m: m.Permute((2, 1)),
    lambda m: m.RepeatVector(2), lambda m: m.Identity(),
], ids=["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector", "Identity"])
def test_config_keys_match_keras(make):
    k = keras_or_skip()
    mine, theirs = make(layers).get_config(), make(k.layers).get_config()
    assert set(mine) == set(theirs)
    for key in set(mine) - {"name", "dtype"}:
        assert mine[key] == theirs[key], key


def test_weights_enter_the_graph_as_bound_parameters():
    from frontend.layers import PReLU
    t = Tracer("params")
    x = t.input((None, 4))
    dense, prelu = layers.Dense(3), PReLU(alpha_initializer="ones")
    out = prelu(dense(x))
    t.graph.set_outputs([out.value])
    bound = {id(p.binding) for p in t.graph.params}
    assert bound == {id(dense.kernel), id(dense.bias), id(prelu.alpha)}
    from ir import Op
    assert not [n for n in t.graph.nodes if n.op is Op.CONSTANT and n.output.shape in ((4, 3), (3,))]


def test_dropout_traced_is_keyed_by_the_step_and_matches_eager_semantics():
    from frontend.tracing import Tracer
    from ir import verify
    from runtime.executable import Executable

    layer = layers.Dropout(0.25)
    tracer = Tracer("drop")
    y = layer(tracer.input((None, 64), "float32", "x"), training=True)
    tracer.graph.set_outputs([y.value])
    exe = Executable(verify(tracer.graph))
    x = np.ones((100, 64), "float32")
    a = exe(x, np.array([5, 0], np.int64))[0]
    b = exe(x, np.array([5, 1], np.int64))[0]
    np.testing.assert_array_equal(a, exe(x, np.array([5, 0], np.int64))[0])   # same key, same mask
    assert (a != b).any()                                                      # next step, new mask
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.75)}
    assert abs((a == 0).mean() - 0.25) < 0.02

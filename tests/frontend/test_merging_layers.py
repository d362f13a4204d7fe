"""Merge layers through the one harness, the functional forms, and Keras'
shape errors (which name the layer)."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import layers
from frontend.tensors import KerasTensor
from tests.frontend.layer_harness import keras_or_skip, run_layer_test

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shapes", [[(4,), (4,)], [(2, 3), (2, 3)], [(2, 3), (1, 3)]],
                         ids=["flat", "rank3", "broadcast"])
def test_elementwise_merge(name, shapes):
    run_layer_test(lambda: getattr(layers, name)(), shapes,
                   keras_layer=lambda k: getattr(k.layers, name)())


@pytest.mark.parametrize("name", ["Add", "Multiply", "Average", "Maximum", "Minimum"])
def test_three_inputs(name):
    run_layer_test(lambda: getattr(layers, name)(), [(3,), (3,), (3,)],
                   keras_layer=lambda k: getattr(k.layers, name)())


def test_lower_rank_inputs_get_unit_axes_after_the_batch():
    # (N, 2, 3) + (N, 3) -> the second becomes (N, 1, 3), as Keras' merge reshaping does.
    run_layer_test(lambda: layers.Add(), [(2, 3), (3,)], keras_layer=lambda k: k.layers.Add())


@pytest.mark.parametrize("axis,shapes", [(-1, [(2, 3), (2, 5)]), (1, [(2, 3), (4, 3)]),
                                         (2, [(2, 3), (2, 1), (2, 2)]), (-2, [(1, 4), (3, 4)])])
def test_concatenate(axis, shapes):
    run_layer_test(lambda: layers.Concatenate(axis=axis), shapes,
                   keras_layer=lambda k: k.layers.Concatenate(axis=axis))


@pytest.mark.parametrize("axes,normalize,shapes", [
    (1, False, [(4,), (4,)]),
    (-1, True, [(4,), (4,)]),
    ((1, 1), False, [(3, 4), (3, 5)]),
    ((2, 1), False, [(3, 4), (4, 5)]),
    ((2, 2), True, [(3, 4), (5, 4)]),
    (2, False, [(3, 4), (5, 4)]),
    ((1, 2), False, [(4,), (3, 4)]),
    ((3, 1), False, [(2, 3, 4), (4, 5)]),
    ((1, 3), True, [(2, 3, 4), (3, 5, 2)]),
])
def test_dot(axes, normalize, shapes):
    run_layer_test(lambda: layers.Dot(axes=axes, normalize=normalize), shapes,
                   keras_layer=lambda k: k.layers.Dot(axes=axes, normalize=normalize))


def test_functional_forms_and_shapes():
    a, b = KerasTensor((None, 3)), KerasTensor((None, 3))
    for fn in (layers.add, layers.subtract, layers.multiply, layers.average, layers.maximum,
               layers.minimum):
        assert fn([a, b]).shape == (None, 3)
    assert layers.concatenate([a, b]).shape == (None, 6)
    assert layers.dot([a, b], axes=1).shape == (None, 1)
    np.testing.assert_allclose(layers.add([np.ones((2, 3)), np.ones((2, 3))]), 2 * np.ones((2, 3)))


CONCAT_MESSAGE = ("A `Concatenate` layer requires inputs with matching shapes except for the "
                  "concatenation axis. Received: input_shape=")


def test_concatenate_incompatible_shapes_names_layer():
    layer = layers.Concatenate(axis=1, name="my_concat")
    x, y = np.zeros((7, 2, 3), "float32"), np.zeros((7, 4, 5), "float32")
    with pytest.raises(ValueError, match=r"layer 'my_concat'.*" + CONCAT_MESSAGE
                       + r"\[\(7, 2, 3\), \(7, 4, 5\)\]"):
        layer([x, y])
    with pytest.raises(ValueError, match=r"layer 'concat_f'.*" + CONCAT_MESSAGE
                       + r"\[\(None, 2, 3\), \(None, 2\)\]"):
        layers.Concatenate(name="concat_f")([KerasTensor((None, 2, 3)), KerasTensor((None, 2))])


def test_keras_uses_the_same_concatenate_message():
    k = keras_or_skip()
    with pytest.raises(ValueError, match=CONCAT_MESSAGE + r"\[\(7, 2, 3\), \(7, 4, 5\)\]"):
        k.layers.Concatenate(axis=1)([np.zeros((7, 2, 3), "float32"), np.zeros((7, 4, 5), "float32")])


def test_merge_errors():
    with pytest.raises(ValueError, match=r"layer 'sub'.*A `Subtract` layer should be called on exactly 2"):
        layers.Subtract(name="sub")([np.zeros((1, 2))] * 3)
    with pytest.raises(ValueError, match="Inputs have incompatible shapes. Received shapes"):
        layers.Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="should be called on a list of inputs"):
        layers.Add()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Incompatible input shapes: axis values 3 \(at axis 1\) != 4"):
        layers.Dot(axes=1)([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="it should contain two elements"):
        layers.Dot(axes=(1, 2, 3))
    with pytest.raises(TypeError, match="should be a list or an int"):
        layers.Dot(axes="x")


@pytest.mark.parametrize("make", [lambda m: m.Concatenate(axis=1), lambda m: m.Dot(axes=(1, 2), normalize=True),
                                  lambda m: m.Add()], ids=["Concatenate", "Dot", "Add"])
def test_config_matches_keras(make):
    k = keras_or_skip()
    mine, theirs = make(layers).get_config(), make(k.layers).get_config()
    assert set(mine) == set(theirs)
    assert {key: mine[key] for key in mine if key not in ("name", "dtype")} == \
        {key: theirs[key] for key in theirs if key not in ("name", "dtype")}

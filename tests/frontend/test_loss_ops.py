"""The ops losses and metrics added to horn.ops: ``divide_no_nan``, the three
crossentropies of ``keras.ops.nn`` and ``in_top_k``. Each runs eager, traced
and compiled (batch 1 and 7), through the interpreter, and against keras.ops
(``check_op`` from test_ops)."""
from __future__ import annotations

import numpy as np
import pytest

from frontend import ops
from tests.frontend.test_ops import check_op


def test_divide_no_nan():
    check_op(lambda o, a, b: o.divide_no_nan(a, o.where(o.greater(b, 0.5), b, 0.0)), [(4,), (4,)],
             low=0.0, high=1.0)
    check_op(lambda o, a, b: o.divide_no_nan(a, b), [(3,), (3,)], ["int32", "int32"], low=-1, high=1)
    np.testing.assert_array_equal(ops.divide_no_nan(np.array([1.0, -2.0, 0.0], "float32"),
                                                    np.array([0.0, 4.0, 0.0], "float32")), [0.0, -0.5, 0.0])


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy(from_logits):
    # Moderate logits: Keras' numpy backend clips sigmoid outputs, which only matters beyond |x| ~ 16.
    check_op(lambda o, t, x: o.binary_crossentropy(o.round(t), o.sigmoid(x) if not from_logits else x,
                                                   from_logits=from_logits),
             [(3,), (3,)], low=-4.0, high=4.0)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy(from_logits):
    check_op(lambda o, t, x: o.categorical_crossentropy(o.softmax(t), x if from_logits else o.softmax(x),
                                                        from_logits=from_logits),
             [(4,), (4,)], low=-3.0, high=3.0)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy(from_logits):
    check_op(lambda o, t, x: o.sparse_categorical_crossentropy(t, x, from_logits=from_logits),
             [(), (5,)], ["int32", "float32"], low=0, high=4)


def test_sparse_categorical_crossentropy_with_trailing_unit_labels():
    check_op(lambda o, t, x: o.sparse_categorical_crossentropy(t, x, from_logits=True),
             [(2, 1), (2, 6)], ["int32", "float32"], low=0, high=5)


@pytest.mark.parametrize("k", [1, 2, 6])
def test_in_top_k(k):
    # Integer-valued predictions make many ties: a target tied with the k-th value is a hit.
    check_op(lambda o, t, x: o.in_top_k(t, o.round(x), k), [(), (6,)], ["int32", "float32"], low=0, high=5)


def test_in_top_k_nan_and_out_of_range_targets_are_misses():
    preds = np.array([[np.nan, 1.0, 2.0], [0.5, 0.2, 0.1], [0.5, 0.2, 0.1]], "float32")
    np.testing.assert_array_equal(ops.in_top_k(np.array([0, 3, 0]), preds, 3), [False, False, True])


def test_crossentropy_op_errors():
    with pytest.raises(ValueError, match=r"Arguments `target` and `output` must have the same shape"):
        ops.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"valid range of \[0, 3\)"):
        ops.sparse_categorical_crossentropy(np.array([0, 3]), np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"`predictions` must have rank 2"):
        ops.in_top_k(np.array(1), np.ones(3), 1)

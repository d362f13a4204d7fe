"""Shapes with symbolic dims: broadcasting, element counts, binding, formatting."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, DType, SymDim, TensorType, format_shape
from ir.shapes import (Size, bind_symbols, broadcast_shapes, element_count, evaluate_shape,
                       is_static, normalize_shape, symbols)

T = SymDim("T")


# -- broadcast_shapes -----------------------------------------------------
@pytest.mark.parametrize("shapes, expected", [
    (((3, 1), (1, 4)), (3, 4)),
    (((BATCH, 4), (4,)), (BATCH, 4)),
    (((BATCH, 1), (1, 5)), (BATCH, 5)),
    (((1, 5), (BATCH, 1)), (BATCH, 5)),
    (((BATCH, 4), (BATCH, 4)), (BATCH, 4)),
    (((BATCH, 1, 3), (T, 1)), (BATCH, T, 3)),
    (((), (BATCH,)), (BATCH,)),
    (((2, 3), (), (1, 1, 3)), (1, 2, 3)),
    ((), ()),
])
def test_broadcast(shapes, expected):
    assert broadcast_shapes(*shapes) == expected


def test_broadcast_agrees_with_numpy_on_static_shapes():
    for a, b in [((5, 1, 3), (4, 1)), ((1,), (2, 2)), ((0, 1), (1, 3))]:
        assert broadcast_shapes(a, b) == np.broadcast_shapes(a, b)


@pytest.mark.parametrize("shapes, shown", [
    (((BATCH, 4), (3, 4)), r"\(None, 4\), \(3, 4\)"),       # N against 3 depends on run time
    (((BATCH,), (T,)), r"\(None,\), \(None,\)"),             # two different symbols
    (((2, 3), (4, 3)), r"\(2, 3\), \(4, 3\)"),
])
def test_broadcast_errors_name_the_shapes(shapes, shown):
    with pytest.raises(ValueError, match=r"Shapes cannot be broadcast together: " + shown):
        broadcast_shapes(*shapes)


# -- element_count --------------------------------------------------------
def test_element_count_is_a_canonical_product():
    assert element_count((BATCH, 4, 2)) == Size(8, ("N",))
    # Reshape legality compares counts: order of factors and of symbols does not matter.
    assert element_count((BATCH, 8)) == element_count((2, BATCH, 4)) == element_count((4, 2, BATCH))
    assert element_count((BATCH, T, 3)) == element_count((T, 3, BATCH))
    assert element_count((BATCH, 8)) != element_count((8,))
    assert element_count((BATCH, 8)) != element_count((BATCH, 4))
    assert element_count((BATCH, BATCH)) != element_count((BATCH,))
    assert element_count(()) == Size(1)
    assert element_count((3, 0, BATCH)) == Size(0, ("N",))


def test_size_evaluates_and_prints():
    s = element_count((BATCH, 3, T))
    assert s.evaluate({"N": 5, "T": 2}) == 30
    assert str(s) == "3*N*T"
    assert str(element_count((2, 3))) == "6"


# -- binding symbols ------------------------------------------------------
def test_bind_symbols_records_sizes():
    sizes: dict[str, int] = {}
    bind_symbols((BATCH, 4), (7, 4), sizes, "input %x")
    bind_symbols((BATCH, T), (7, 2), sizes, "input %y")
    assert sizes == {"N": 7, "T": 2}
    assert evaluate_shape((T, BATCH, 1), sizes) == (2, 7, 1)


def test_bind_symbols_rank_mismatch():
    with pytest.raises(ValueError, match=r"input %x: expected shape \(None, 4\) \(rank 2\), "
                                         r"received shape \(7,\) \(rank 1\)"):
        bind_symbols((BATCH, 4), (7,), {}, "input %x")


def test_bind_symbols_static_dim_mismatch():
    with pytest.raises(ValueError, match=r"input %x: expected shape \(None, 4\), received shape \(7, 5\)"):
        bind_symbols((BATCH, 4), (7, 5), {}, "input %x")


def test_bind_symbols_inconsistent_symbol():
    sizes = {"N": 3}
    with pytest.raises(ValueError, match=r"input %y: dimension N is 5 here but 3 elsewhere"):
        bind_symbols((BATCH, 2), (5, 2), sizes, "input %y")
    with pytest.raises(ValueError, match=r"input %z: dimension N is 2 here but 1 elsewhere"):
        bind_symbols((BATCH, BATCH), (1, 2), {}, "input %z")


def test_evaluate_shape_missing_size():
    with pytest.raises(ValueError, match=r"No run-time size given for dimension T of shape \[N,T\]"):
        evaluate_shape((BATCH, T), {"N": 1})


# -- format_shape and the rest --------------------------------------------
@pytest.mark.parametrize("shape, ir_form, keras_form", [
    ((BATCH, 28, 28), "[N,28,28]", "(None, 28, 28)"),
    ((5,), "[5]", "(5,)"),
    ((), "[]", "()"),
    ((T, BATCH), "[T,N]", "(None, None)"),
])
def test_format_shape(shape, ir_form, keras_form):
    assert format_shape(shape) == ir_form
    assert format_shape(shape, none_for_sym=True) == keras_form


def test_normalize_shape():
    assert normalize_shape([None, np.int64(3), 0]) == (BATCH, 3, 0)
    with pytest.raises(ValueError, match=r"must be non-negative. Received: -1"):
        normalize_shape([-1])
    with pytest.raises(TypeError, match=r"must be an int, None or SymDim. Received: 2.5"):
        normalize_shape([2.5])
    with pytest.raises(TypeError, match=r"Received: True"):
        normalize_shape([True])


def test_tensor_type():
    t = TensorType("float32", [None, 3])
    assert t == TensorType(DType.float32, (BATCH, 3))
    assert str(t) == "f32[N,3]" and t.rank == 2 and t.size == Size(3, ("N",))
    assert not is_static(t.shape) and is_static((2, 3))
    assert symbols((BATCH, 2, T)) == (BATCH, T)
    assert hash(TensorType(DType.int8, (2,))) == hash(TensorType("i8", (2,)))

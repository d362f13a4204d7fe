"""``keras.ops.math`` ops that have no numpy namesake: ``in_top_k``.

The IR has no sort, so "is the target among the ``k`` largest" is a count:
the target's prediction is in the top ``k`` when fewer than ``k`` predictions
are strictly greater. That is exactly Keras' rule on every backend (numpy
compares the target value with the k-th largest value; JAX computes the same
rank), including ties: a target tied with the k-th largest value counts as in
the top ``k`` even if more than ``k`` classes then qualify.
"""
from __future__ import annotations

from frontend.ops import core
from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.movement import reshape_to
from frontend.ops.nn import one_hot
from frontend.ops.reductions import reduce
from frontend.ops.util import dtype, ir_shape, tensor, to_float
from ir.dtypes import DType
from ir.opcodes import Op

__all__ = ["in_top_k"]


@symbolic
def in_top_k(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """Whether ``predictions[i, targets[i]]`` is among the ``k`` largest of row ``i`` (bool).

    ``targets``: ``(batch,)`` class indices; ``predictions``: ``(batch, classes)``.
    Leading axes beyond the batch are allowed too (``targets`` then has
    ``predictions.shape[:-1]``), which spares callers a flattening reshape.
    A NaN prediction for the target is never in the top ``k`` (as in Keras'
    numpy backend); an out-of-range target selects no value and is not either.
    """
    preds = to_float(predictions)
    shape = ir_shape(preds)
    if len(shape) < 2:
        raise ValueError(f"`predictions` must have rank 2 (batch, classes). Received: "
                         f"predictions.shape={tuple(None if not isinstance(d, int) else d for d in shape)}")
    num_classes = shape[-1]
    if not isinstance(num_classes, int):
        raise ValueError("in_top_k needs a static number of classes")
    t = tensor(targets)
    if not dtype(t).is_integer:
        t = core.cast(t, DType.int32)
    hot = one_hot(t, num_classes, dtype="bool")
    (zero_f,) = prepare(0.0, dtype=dtype(preds))[0]
    # The target's value: the sum over a row that is 0 everywhere but the target column (a sum,
    # not a max, so a NaN there propagates under every backend's max semantics).
    value = reduce(Op.REDUCE_SUM, apply(Op.SELECT, [hot, preds, zero_f]), -1, True)
    greater = core.cast(apply(Op.GREATER, [preds, value]), DType.int32)
    (kk, zero) = prepare(int(k), 0, dtype=DType.int32)[0]
    ranked = apply(Op.LESS, [reduce(Op.REDUCE_SUM, greater, -1, False), kk])
    # A NaN target value compares false with everything, so nothing counts as greater: exclude it,
    # and a target that selected no column (out of range) too.
    value = reshape_to(value, tuple(ir_shape(value)[:-1]))
    not_nan = apply(Op.EQUAL, [value, value])
    selected = apply(Op.GREATER, [reduce(Op.REDUCE_SUM, core.cast(hot, DType.int32), -1, False), zero])
    return apply(Op.LOGICAL_AND, [apply(Op.LOGICAL_AND, [ranked, not_nan]), selected])

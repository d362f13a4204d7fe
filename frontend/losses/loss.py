"""The Loss base class and the reductions every loss shares (Keras 3's keras/src/losses/loss.py).

A loss is ops all the way down: called on arrays it computes, called on
TracedTensors it emits IR, so the same ``Loss`` object is the loss of the
compiled train step. ``__call__`` converts both inputs to the loss dtype,
computes per-sample values with ``call``, folds in the mask and the sample
weights, and reduces.

Symbolic batch: "sum_over_batch_size" divides by the number of loss values,
which is only known when the step runs; the count is then ``sum(ones_like)``
inside the graph, so one executable serves every batch size.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import numpy as np

from frontend import backend, ops
from frontend.backend import standardize_dtype
from frontend.tensors import TracedTensor

Tensor = Any

REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def standardize_reduction(reduction: str | None) -> str | None:
    if reduction not in REDUCTIONS:
        raise ValueError("Invalid value for argument `reduction`. Expected one of "
                         f"{set(REDUCTIONS)}. Received: reduction={reduction}")
    return reduction


def keras_mask(x: Tensor) -> Tensor | None:
    """The mask attached to ``x`` (by a masking layer, or :func:`set_mask`), else None."""
    return getattr(x, "_keras_mask", None)


class _MaskedArray(np.ndarray):
    """An eager result carrying ``_keras_mask`` (plain ndarrays take no attributes)."""

    _keras_mask = None


def set_mask(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` with ``mask`` attached, as ``backend.set_keras_mask``; returns the tensor to use."""
    if not isinstance(x, TracedTensor):
        x = np.asarray(x).view(_MaskedArray)
    x._keras_mask = mask
    return x


def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True):
    """Squeezes (or, for rank 1, expands) a trailing size-1 axis when ranks differ by exactly one."""
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, axis=-1)
        else:
            x1 = ops.squeeze(x1, axis=-1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, axis=-1)
        else:
            x2 = ops.squeeze(x2, axis=-1)
    return x1, x2


def num_elements(x: Tensor, dtype: str) -> Tensor:
    """The element count of ``x`` in ``dtype``: a constant, or a graph value under a symbolic batch."""
    if all(d is not None for d in x.shape):
        return np.asarray(math.prod(x.shape), dtype=dtype)
    return ops.sum(ops.ones_like(x, dtype=dtype))


def reduce_values(values: Tensor, sample_weight: Tensor | None = None,
                  reduction: str | None = "sum_over_batch_size") -> Tensor:
    if reduction is None or reduction == "none" or tuple(values.shape) in ((), (0,)):
        return values
    loss = ops.sum(values)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = ops.cast(ops.sum(sample_weight), loss.dtype)
        else:
            divisor = num_elements(values, loss.dtype)
        loss = ops.divide_no_nan(loss, divisor)
    return loss


def broadcast_sample_weight(sample_weight: Tensor, values: Tensor) -> Tensor:
    """Per-sample weights ``(batch,)`` spread over per-timestep values ``(batch, T, ...)``.

    Keras 3 multiplies them as they are, which fails for (batch, T) losses (a
    sequence model's per-step losses), yet the compiled train step always feeds
    weights (ones when the user gave none), so Horn must: each sample's weight
    applies to all of its steps, as tf.keras' ``broadcast_weights`` did. The
    weights are spread to ``values``' full shape so "mean_with_sample_weight"
    divides by the weight of every value; with unit weights the result equals
    Keras' unweighted loss exactly.
    """
    rank, w_rank = len(values.shape), len(sample_weight.shape)
    if w_rank == 0 or w_rank >= rank:
        return sample_weight
    if tuple(sample_weight.shape) != tuple(values.shape)[:w_rank]:
        raise ValueError(f"sample_weight of shape {tuple(sample_weight.shape)} cannot weigh losses of shape "
                         f"{tuple(values.shape)}: expected the losses' leading dims "
                         f"{tuple(values.shape)[:w_rank]} (one weight per sample), or the losses' shape")
    for _ in range(rank - w_rank):
        sample_weight = ops.expand_dims(sample_weight, -1)
    return ops.multiply(sample_weight, ops.ones_like(values))


def apply_mask(sample_weight: Tensor | None, mask: Tensor | None, dtype: str,
               reduction: str | None) -> Tensor | None:
    """Folds a mask into the sample weights; averaging reductions then average over valid entries."""
    if mask is None:
        return sample_weight
    if reduction in ("mean", "sum_over_batch_size"):
        # Valid entries weigh total/valid, so sum(loss * w) / total = sum over valid / valid.
        total = num_elements(mask, dtype)
        valid = ops.sum(ops.cast(mask, dtype))
        float_mask = ops.where(ops.cast(mask, "bool"), ops.divide_no_nan(total, valid), ops.zeros((), dtype))
    else:
        float_mask = ops.cast(mask, dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = ops.cast(sample_weight, dtype)
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    sample_weight = broadcast_sample_weight(sample_weight, float_mask)   # (batch,) on a (batch, T) mask
    return ops.multiply(sample_weight, float_mask)


def reduce_weighted_values(values: Tensor, sample_weight: Tensor | None = None, mask: Tensor | None = None,
                           reduction: str | None = "sum_over_batch_size", dtype: str | None = None) -> Tensor:
    reduction = standardize_reduction(reduction)
    values = ops.convert_to_tensor(values, dtype=dtype)
    if sample_weight is not None:
        sample_weight = ops.convert_to_tensor(sample_weight, dtype=dtype)
    sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, values.dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        sample_weight = broadcast_sample_weight(sample_weight, values)
        values = ops.multiply(values, sample_weight)
    return reduce_values(values, sample_weight, reduction)


def name_scope(name: str, *tensors: Tensor):
    """The tracer's name scope when any input is traced (its nodes read ``name/...``), else nothing."""
    tracer = next((t.tracer for t in tensors if isinstance(t, TracedTensor)), None)
    return tracer.scope(name) if tracer is not None else contextlib.nullcontext()


class Loss:
    """Base class of losses: subclasses implement ``call(y_true, y_pred)`` -> per-sample values.

    Args:
        name: the loss's name (default: the class name in snake case).
        reduction: "sum_over_batch_size" (default), "sum", "mean",
            "mean_with_sample_weight", or "none"/None for per-sample values.
        dtype: the dtype the loss computes in (default floatx).
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype=None):
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.reduction = standardize_reduction(reduction)
        self._dtype = standardize_dtype(dtype or backend.floatx())

    @property
    def dtype(self) -> str:
        return self._dtype

    def __call__(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        in_mask = keras_mask(y_pred)
        with name_scope(self.name, y_true, y_pred, sample_weight):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
            losses = self.call(y_true, y_pred)
            out_mask = keras_mask(losses)
            if in_mask is not None and out_mask is not None:
                mask = ops.logical_and(in_mask, out_mask)
            else:
                mask = in_mask if in_mask is not None else out_mask
            return reduce_weighted_values(losses, sample_weight=sample_weight, mask=mask,
                                          reduction=self.reduction, dtype=self.dtype)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A ``Loss`` from a function ``fn(y_true, y_pred, **kwargs)`` returning per-sample values."""

    def __init__(self, fn: Callable, reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        from frontend.losses import serialize_function
        return {**super().get_config(), "fn": serialize_function(self.fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> "LossFunctionWrapper":
        from frontend.losses import deserialize_function
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize_function(config["fn"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"

"""Reduction metrics: ``Sum``, ``Mean``, and ``MeanMetricWrapper`` (the mean of
any per-sample function, which is how every loss becomes a metric).

Under a symbolic batch the number of samples is a graph value
(``sum(ones_like(values))``), so the compiled step counts whatever batch it got.
"""
from __future__ import annotations

from typing import Any, Callable

from frontend import ops
from frontend.losses.loss import Loss, apply_mask, keras_mask, num_elements, squeeze_or_expand_to_same_rank
from frontend.metrics.metric import Metric, read

Tensor = Any


def reduce_to_samplewise_values(values: Tensor, sample_weight: Tensor | None, reduce_fn: Callable,
                                dtype: str) -> tuple[Tensor, Tensor | None]:
    """One value per sample (weighted), and the matching weights (Keras' rules, shape by shape)."""
    mask = keras_mask(values)
    values = ops.cast(values, dtype)
    if sample_weight is not None:
        sample_weight = ops.convert_to_tensor(sample_weight, dtype=dtype)
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, dtype=dtype, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = len(sample_weight.shape), len(values.shape)
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=list(range(weight_ndim, values_ndim)))
        # broadcast_to(values.shape) as a product with ones: the batch may be symbolic.
        sample_weight = ops.multiply(sample_weight, ops.ones_like(values))
        values = ops.multiply(values, sample_weight)
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=list(range(1, weight_ndim)))
    if len(values.shape) > 1:
        values = reduce_fn(values, axis=list(range(1, len(values.shape))))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of the values seen."""

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")

    def update_state(self, values: Tensor, sample_weight: Tensor | None = None) -> None:
        values, _ = reduce_to_samplewise_values(values, sample_weight, ops.sum, self.dtype)
        self.total.assign_add(ops.sum(values))

    def result(self) -> Tensor:
        return ops.cast(read(self.total), self.dtype)


class Mean(Metric):
    """The (weighted) mean of the values seen: ``total / count``."""

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def update_state(self, values: Tensor, sample_weight: Tensor | None = None) -> None:
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, ops.mean, self.dtype)
        self.total.assign_add(ops.sum(values))
        if sample_weight is not None:
            num_samples = ops.sum(sample_weight)
        elif len(values.shape) >= 1:
            num_samples = num_elements(values, self.dtype)   # values is rank 1 here: shape[0]
        else:
            num_samples = 1
        self.count.assign_add(ops.cast(num_samples, self.dtype))

    def result(self) -> Tensor:
        return ops.divide_no_nan(read(self.total), ops.cast(read(self.count), self.dtype))


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen (any loss works as ``fn``)."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        from frontend import losses
        if fn in losses.FUNCTIONS or type(fn) in losses.CLASSES:
            self._direction = "down"   # lower is better: callbacks' mode="auto" reads this

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        mask = keras_mask(y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        sample_weight = apply_mask(sample_weight, mask, dtype=self.dtype, reduction="sum")
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        from frontend import losses
        fn = losses.serialize(self._fn) if isinstance(self._fn, Loss) else _serialize_fn(self._fn)
        return {**super().get_config(), "fn": fn, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> "MeanMetricWrapper":
        config = dict(config)
        if "fn" in config:
            config["fn"] = _deserialize_fn(config["fn"])
        return cls(**config)


def _serialize_fn(fn: Callable) -> Any:
    from frontend.metrics import FUNCTIONS_BY_NAME
    name = getattr(fn, "__name__", None)
    if name is not None and FUNCTIONS_BY_NAME.get(name) is fn:
        return {"module": "keras.metrics", "class_name": "function", "config": name, "registered_name": name}
    return fn


def _deserialize_fn(config: Any) -> Callable:
    from frontend import losses
    from frontend.metrics import FUNCTIONS_BY_NAME
    if callable(config):
        return config
    if isinstance(config, dict) and config.get("class_name") not in (None, "function"):
        return losses.deserialize(config)
    name = config.get("config") if isinstance(config, dict) else config
    fn = FUNCTIONS_BY_NAME.get(name)
    if fn is None:
        raise ValueError(f"Could not interpret metric identifier: {config}")
    return fn

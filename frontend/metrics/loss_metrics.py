"""Losses as metrics, under the class names ``keras.metrics`` gives them:
the crossentropies, KL divergence, Poisson and the hinges. Each is the
running mean of the loss function's per-sample values.
"""
from __future__ import annotations

from frontend.losses.hinge import categorical_hinge, hinge, squared_hinge
from frontend.losses.probabilistic import (binary_crossentropy, categorical_crossentropy, kl_divergence,
                                           poisson, sparse_categorical_crossentropy)
from frontend.metrics.reduction import MeanMetricWrapper


class _LossMean(MeanMetricWrapper):
    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


class KLDivergence(_LossMean):
    """Running mean of the KL divergence."""

    def __init__(self, name: str = "kl_divergence", dtype=None):
        super().__init__(fn=kl_divergence, name=name, dtype=dtype)


class Poisson(_LossMean):
    """Running mean of the Poisson loss."""

    def __init__(self, name: str = "poisson", dtype=None):
        super().__init__(fn=poisson, name=name, dtype=dtype)


class Hinge(_LossMean):
    """Running mean of the hinge loss."""

    def __init__(self, name: str = "hinge", dtype=None):
        super().__init__(fn=hinge, name=name, dtype=dtype)


class SquaredHinge(_LossMean):
    """Running mean of the squared hinge loss."""

    def __init__(self, name: str = "squared_hinge", dtype=None):
        super().__init__(fn=squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(_LossMean):
    """Running mean of the categorical hinge loss."""

    def __init__(self, name: str = "categorical_hinge", dtype=None):
        super().__init__(fn=categorical_hinge, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Running mean of the binary crossentropy."""

    def __init__(self, name: str = "binary_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0):
        super().__init__(binary_crossentropy, name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of the categorical crossentropy."""

    def __init__(self, name: str = "categorical_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0, axis: int = -1):
        super().__init__(categorical_crossentropy, name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of the sparse categorical crossentropy."""

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype=None,
                 from_logits: bool = False, ignore_class: int | None = None, axis: int = -1):
        super().__init__(sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}

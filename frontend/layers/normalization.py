"""BatchNormalization and LayerNormalization with Keras 3's arguments, weights and formulas.

Both normalize as ``x * inv + (beta - mean * inv)`` with
``inv = gamma / sqrt(variance + epsilon)``, the order of operations of
Keras' ``ops.batch_normalization`` and ``ops.layer_normalization``, and
compute variance as ``E[x^2] - E[x]^2`` as Keras' ``ops.moments`` does, so
results agree with Keras to float32 rounding.
"""
from __future__ import annotations

from typing import Any, Sequence

from frontend import initializers, ops
from frontend.input_spec import InputSpec
from frontend.layer import Layer
from frontend.ops.core import dtype_of

_KERAS_EPSILON = 1e-7   # keras.backend.epsilon(): guards the masked count


def _compute_dtype(x) -> str:
    """Statistics in at least float32 (Keras upcasts float16 for BN and LN)."""
    dt = dtype_of(x)
    return "float64" if dt is not None and dt.name == "float64" else "float32"


def _moments(x, axes: list[int]):
    """Mean and ``E[x^2] - E[x]^2`` over ``axes`` (kept), as ``keras.ops.moments``."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    variance = ops.subtract(ops.mean(ops.square(x), axis=axes, keepdims=True), ops.square(mean))
    return mean, variance


def _normalize(x, mean, variance, gamma, beta, epsilon: float):
    """``x * inv + res`` with Keras' association, so rounding matches too."""
    inv = ops.divide(1.0, ops.sqrt(ops.add(variance, epsilon)))
    if gamma is not None:
        inv = ops.multiply(inv, gamma)
    res = ops.multiply(ops.negative(mean), inv)
    if beta is not None:
        res = ops.add(res, beta)
    return ops.add(ops.multiply(x, inv), res)


class BatchNormalization(Layer):
    """Normalizes each feature along ``axis`` with batch statistics (training) or the
    moving statistics (inference).

    Weights, in Keras' order: ``gamma`` (if ``scale``), ``beta`` (if ``center``),
    ``moving_mean``, ``moving_variance`` (non-trainable).
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, renorm: bool = False, renorm_clipping: Any = None,
                 renorm_momentum: float = 0.99, synchronized: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        if synchronized:
            # Keras' message on every backend but TensorFlow.
            raise ValueError("Argument synchronized=True is only supported with the TensorFlow backend.")
        if renorm:
            raise NotImplementedError("BatchNormalization(renorm=True) (batch renormalization) is "
                                      "not supported by Horn yet; use renorm=False.")
        self.synchronized = synchronized
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.renorm = renorm
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        self.supports_masking = True
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._reduction_axes: list[int] | None = None

    def build(self, input_shape) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}. "
                             f"Received: axis={self.axis}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"BatchNormalization: the normalized axis {self.axis} must have a known "
                             f"size. Received input_shape={tuple(input_shape)}")
        shape = (int(dim),)
        # float32 statistics even for half-precision layers (Keras' autocast=False).
        wdtype = "float32" if self.dtype == "float16" else self.dtype
        if self.scale:
            self.gamma = self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, trainable=True, dtype=wdtype)
        if self.center:
            self.beta = self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, trainable=True, dtype=wdtype)
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean",
                                           initializer=self.moving_mean_initializer,
                                           trainable=False, dtype=wdtype)
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer,
                                               trainable=False, dtype=wdtype)
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: int(dim)})
        self._reduction_axes = [i for i in range(rank) if i != self.axis % rank]
        self.built = True

    def _broadcast(self, v, rank: int, dtype: str):
        """A per-feature vector shaped to broadcast against the input along ``axis``."""
        shape = [1] * rank
        shape[self.axis % rank] = -1
        return ops.reshape(ops.cast(v, dtype), shape)

    def call(self, inputs, training: bool = False, mask=None):
        rank = len(inputs.shape)
        if mask is not None and len(mask.shape) != rank - 1:
            raise ValueError("The mask provided should be one dimension less than the inputs. "
                             f"Received: mask.shape={tuple(mask.shape)}, inputs.shape={tuple(inputs.shape)}")
        compute = _compute_dtype(inputs)
        x = ops.cast(inputs, compute)
        gamma = self._broadcast(self.gamma, rank, compute) if self.scale else None
        beta = self._broadcast(self.beta, rank, compute) if self.center else None
        if training and self.trainable:
            mean, variance = self._batch_moments(x, mask)
            # moving = moving * momentum + batch * (1 - momentum), as Keras. Traced, the
            # assign is a graph update that lands after the step; eager, it writes now.
            for var, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                batch = ops.reshape(ops.cast(batch, var.dtype), var.shape)
                var.assign(ops.add(ops.multiply(var, self.momentum),
                                   ops.multiply(batch, 1.0 - self.momentum)))
        else:
            mean = self._broadcast(self.moving_mean, rank, compute)
            variance = self._broadcast(self.moving_variance, rank, compute)
        out = _normalize(x, mean, variance, gamma, beta, self.epsilon)
        return ops.cast(out, self.dtype)

    def _batch_moments(self, x, mask):
        axes = self._reduction_axes
        if mask is None:
            return _moments(x, axes)
        # Masked positions are left out of the statistics (Keras' weighted moments).
        m = ops.cast(ops.expand_dims(ops.cast(mask, "bool"), -1), x.dtype)   # (..., 1)
        count = ops.sum(m, axis=axes, keepdims=True)
        rank = len(x.shape)
        if rank - 1 in axes and x.shape[-1] != 1:
            # Keras broadcasts the mask over the last axis before summing; when that axis is
            # reduced too (axis != -1), every mask entry counts x.shape[-1] times.
            count = ops.multiply(count, float(x.shape[-1]))
        count = ops.add(count, _KERAS_EPSILON)
        mean = ops.divide(ops.sum(ops.multiply(x, m), axis=axes, keepdims=True), count)
        diff = ops.multiply(ops.subtract(x, mean), m)
        variance = ops.divide(ops.sum(ops.square(diff), axis=axes, keepdims=True), count)
        return mean, variance

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": self.beta_regularizer, "gamma_regularizer": self.gamma_regularizer,
            "beta_constraint": self.beta_constraint, "gamma_constraint": self.gamma_constraint,
            "synchronized": self.synchronized, "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum,
        })
        return config


class LayerNormalization(Layer):
    """Normalizes each example over ``axis`` (an int or a list of ints).

    Weights, in Keras' order: ``gamma`` (if ``scale`` or ``rms_scaling``), ``beta``
    (if ``center`` and not ``rms_scaling``). ``rms_scaling=True`` is Keras' deprecated
    mode: ``x * rsqrt(var(x) + epsilon) * gamma`` (variance, not mean square, as Keras).
    """

    def __init__(self, axis: int | Sequence[int] = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None,
                 beta_constraint: Any = None, gamma_constraint: Any = None, **kwargs):
        rms_scaling = kwargs.pop("rms_scaling", False)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis: int | list[int] = list(axis)
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.rms_scaling = rms_scaling
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.supports_masking = True
        self.gamma = self.beta = None

    def build(self, input_shape) -> None:
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if a >= rank or a < -rank:
                raise ValueError(f"Axis {a} is out of bounds for input shape {tuple(input_shape)}. "
                                 f"Received: axis={self.axis}")
        # Keras sorts the axes as given (negative ones sort first) and keeps them as a list.
        self.axis = sorted(axes)
        shape = tuple(input_shape[a] for a in self.axis)
        if any(d is None for d in shape):
            raise ValueError(f"LayerNormalization: the normalized axes {self.axis} must have known "
                             f"sizes. Received input_shape={tuple(input_shape)}")
        wdtype = "float32" if self.dtype == "float16" else self.dtype
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, trainable=True, dtype=wdtype)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, trainable=True, dtype=wdtype)
        self.built = True

    def call(self, inputs):
        rank = len(inputs.shape)
        axes = sorted(a % rank for a in self.axis)
        compute = _compute_dtype(inputs)
        x = ops.cast(inputs, compute)
        bshape = [1] * rank
        for a in axes:
            bshape[a] = inputs.shape[a]

        def param(v):
            return None if v is None else ops.reshape(ops.cast(v, compute), bshape)

        gamma, beta = param(self.gamma), param(self.beta)
        if self.rms_scaling:
            # Two-pass variance, as Keras' ops.var in this (deprecated) branch.
            mean = ops.mean(x, axis=axes, keepdims=True)
            variance = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes, keepdims=True)
            out = ops.multiply(x, ops.rsqrt(ops.add(variance, self.epsilon)))
            if gamma is not None:
                out = ops.multiply(out, gamma)
        else:
            mean, variance = _moments(x, axes)
            out = _normalize(x, mean, variance, gamma, beta, self.epsilon)
        return ops.cast(out, self.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "axis": self.axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": self.beta_regularizer, "gamma_regularizer": self.gamma_regularizer,
            "beta_constraint": self.beta_constraint, "gamma_constraint": self.gamma_constraint,
        })
        return config


__all__ = ["BatchNormalization", "LayerNormalization"]

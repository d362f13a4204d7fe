"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate and Dot, after keras/src/layers/merging.

Shape checks run at the start of ``call``: Layer.__call__ names the layer in
any error raised there, and every call (functional, traced, eager) passes
through it with the same shapes ``build`` would see.
"""
from __future__ import annotations

from typing import Sequence

from frontend import ops
from frontend.layer import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "Dot", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def _shapes(inputs) -> list[tuple]:
    return [tuple(ops.shape(x)) for x in inputs]


class Merge(Layer):
    """Elementwise merge of a list of tensors; lower-rank inputs get unit axes after the batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _merge_function(self, inputs: list):
        raise NotImplementedError

    def _check_inputs(self, inputs) -> None:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("A merge layer should be called on a list of inputs. "
                             f"Received: inputs={inputs} (not a list of tensors)")
        shapes = _shapes(inputs)
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"Cannot merge tensors with different batch sizes. Received tensors with "
                             f"shapes {shapes}")
        out = shapes[0][1:]
        for s in shapes[1:]:
            out = _elementwise_shape(out, s[1:])

    def call(self, inputs):
        self._check_inputs(inputs)
        ranks = [len(ops.shape(x)) for x in inputs]
        if len(set(ranks)) > 1:
            inputs = [_expand_to(x, max(ranks)) for x in inputs]
        return self._merge_function(list(inputs))

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or not isinstance(previous_mask, (list, tuple)):
            return None
        if any(m is None for m in previous_mask):
            return None
        out = previous_mask[0]
        for m in previous_mask[1:]:
            out = ops.logical_or(out, m)
        return out


def _expand_to(x, rank: int):
    for _ in range(rank - len(ops.shape(x))):
        x = ops.expand_dims(x, 1)
    return x


def _elementwise_shape(shape1: tuple, shape2: tuple) -> tuple:
    """Keras' ``_compute_elemwise_op_output_shape``: broadcasting with None as unknown."""
    if len(shape1) < len(shape2):
        return _elementwise_shape(shape2, shape1)
    if not shape2:
        return shape1
    out = list(shape1[:-len(shape2)])
    for i, j in zip(shape1[-len(shape2):], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1:
            out.append(j if i == 1 else i)
        elif i != j:
            raise ValueError(f"Inputs have incompatible shapes. Received shapes {shape1} and {shape2}")
        else:
            out.append(i)
    return tuple(out)


class Add(Merge):
    """Sum of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.add(out, x)
        return out


class Subtract(Merge):
    """``inputs[0] - inputs[1]``."""

    def _check_inputs(self, inputs) -> None:
        super()._check_inputs(inputs)
        if len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: input_shape={_shapes(inputs)}")

    def _merge_function(self, inputs):
        return ops.subtract(inputs[0], inputs[1])


class Multiply(Merge):
    """Product of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.multiply(out, x)
        return out


class Average(Merge):
    """Mean of the inputs (sum, then divided by their count, as Keras)."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.add(out, x)
        return ops.divide(out, len(inputs))


class Maximum(Merge):
    """Elementwise maximum of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.maximum(out, x)
        return out


class Minimum(Merge):
    """Elementwise minimum of the inputs."""

    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.minimum(out, x)
        return out


class Concatenate(Merge):
    """Joins the inputs along ``axis``; all other dims must match."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_inputs(self, inputs) -> None:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise ValueError("A `Concatenate` layer should be called on a list of at least 1 input. "
                             f"Received: input_shape={inputs}")
        shapes = _shapes(inputs)
        error = ("A `Concatenate` layer requires inputs with matching shapes except for the "
                 f"concatenation axis. Received: input_shape={shapes}")
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(error)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"A `Concatenate` layer's axis={self.axis} is out of range for inputs "
                             f"of rank {rank}. Received: input_shape={shapes}")
        axis = self.axis % rank
        for i in range(rank):
            dims = {s[i] for s in shapes if s[i] is not None}
            if i != axis and len(dims) > 1:
                raise ValueError(error)

    def call(self, inputs):
        self._check_inputs(inputs)
        return ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Dot product of two tensors along ``axes``, per batch sample (Keras' ``batch_dot``)."""

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)):
                raise TypeError("Invalid type for argument `axes`: it should be a list or an int. "
                                f"Received: axes={axes}")
            if len(axes) != 2:
                raise ValueError("Invalid format for argument `axes`: it should contain two elements. "
                                 f"Received: axes={axes}")
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError("Invalid format for argument `axes`: list elements should be "
                                 f"integers. Received: axes={axes}")
        self.axes = axes
        self.normalize = normalize

    def _axes_for(self, shape1: tuple, shape2: tuple) -> list[int]:
        if isinstance(self.axes, int):
            return ([self.axes % len(shape1), self.axes % len(shape2)] if self.axes < 0
                    else [self.axes] * 2)
        return [a % len(s) if a < 0 else a for a, s in zip(self.axes, (shape1, shape2))]

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("A `Dot` layer should be called on a list of 2 inputs. "
                             f"Received: input_shape={_shapes(inputs) if isinstance(inputs, (list, tuple)) else inputs}")
        x1, x2 = inputs
        s1, s2 = tuple(ops.shape(x1)), tuple(ops.shape(x2))
        axes = self._axes_for(s1, s2)
        if s1[axes[0]] != s2[axes[1]]:
            raise ValueError(f"Incompatible input shapes: axis values {s1[axes[0]]} (at axis {axes[0]}) "
                             f"!= {s2[axes[1]]} (at axis {axes[1]}). Full input shapes: {s1}, {s2}")
        if self.normalize:
            x1 = ops.normalize(x1, axis=axes[0])
            x2 = ops.normalize(x2, axis=axes[1])
        return batch_dot(x1, x2, axes)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def batch_dot(x, y, axes: Sequence[int]):
    """Keras' ``batch_dot``: per sample, contract ``x``'s ``axes[0]`` with ``y``'s ``axes[1]``.

    Moves the contracted axis of ``x`` last and of ``y`` to position 1, squashes
    the other non-batch axes, and does one batched matmul.
    """
    x_ndim, y_ndim = len(ops.shape(x)), len(ops.shape(y))
    if x_ndim < 2 or y_ndim < 2:
        raise ValueError(f"Cannot do batch_dot on inputs with rank < 2. Received inputs with shapes "
                         f"{ops.shape(x)} and {ops.shape(y)}.")
    a0, a1 = axes
    if 0 in (a0, a1):
        raise ValueError("Cannot perform batch_dot over axis 0. If your inputs are not batched, add a "
                         "dummy batch dimension to your inputs using keras.ops.expand_dims(x, 0)")
    orig_x_ndim, orig_y_ndim = x_ndim, y_ndim
    if x_ndim == 2:
        x, a0, x_ndim = ops.expand_dims(x, 1), a0 + 1, 3
    if y_ndim == 2:
        y, y_ndim = ops.expand_dims(y, 2), 3
    if a0 != x_ndim - 1:
        x = ops.transpose(x, [i for i in range(x_ndim) if i != a0] + [a0])
    if a1 != 1:
        y = ops.transpose(y, [0, a1] + [i for i in range(1, y_ndim) if i != a1])
    x_shape, y_shape = ops.shape(x), ops.shape(y)
    if x_ndim > 3:
        x = ops.reshape(x, (x_shape[0], -1, x_shape[-1]))
    if y_ndim > 3:
        y = ops.reshape(y, (y_shape[0], y_shape[1], -1))
    result = ops.matmul(x, y)
    if x_ndim > 3 or y_ndim > 3:
        r = ops.shape(result)
        mid = tuple(x_shape[1:-1]) if x_ndim > 3 else (r[1],)
        tail = tuple(y_shape[2:]) if y_ndim > 3 else (r[2],)
        result = ops.reshape(result, (r[0],) + mid + tail)
    if orig_x_ndim == 2:
        result = ops.squeeze(result, 1)
    elif orig_y_ndim == 2:
        result = ops.squeeze(result, -1)
    return result


def _functional(cls):
    def fn(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    fn.__name__ = cls.__name__.lower()
    fn.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``: the functional form of the layer."
    return fn


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)


def concatenate(inputs, axis: int = -1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes: int | Sequence[int] = -1, **kwargs):
    """``Dot(axes=axes, **kwargs)(inputs)``."""
    return Dot(axes=axes, **kwargs)(inputs)

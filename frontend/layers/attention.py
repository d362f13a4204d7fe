"""Attention layers: dot-product ``Attention`` (Luong), ``AdditiveAttention``
(Bahdanau) and ``MultiHeadAttention``, with Keras 3's arguments, masks, weight
names and shapes (``keras/src/layers/attention``).

Everything lowers to core ops (matmul, tensordot, softmax, where), so autodiff,
codegen and ONNX export need nothing new. MultiHeadAttention keeps Keras'
sublayer layout (``query_dense``, ``key_dense``, ``value_dense``,
``output_dense``, each with ``kernel`` and ``bias`` shaped as Keras'
EinsumDense makes them), so weights move between Horn and Keras in order.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from frontend import initializers, ops
from frontend.layer import Layer
from frontend.layers.activation_layers import Softmax
from frontend.layers.arguments import pop_activity_regularizer
from frontend.layers.core import Dropout
from frontend.random import SeedGenerator, dropout as random_dropout

__all__ = ["Attention", "AdditiveAttention", "MultiHeadAttention"]


def _causal_mask(q_len, v_len) -> np.ndarray:
    """``(1, Tq, Tv)`` bool, True where key position <= query position (Keras' cumsum form)."""
    if q_len is None or v_len is None:
        raise ValueError("use_causal_mask needs static sequence lengths; received query length "
                         f"{q_len} and value length {v_len}.")
    return np.tril(np.ones((q_len, v_len), bool))[None]


def _as_bool(mask):
    return mask if ops.dtype(mask) == "bool" else ops.cast(mask, "bool")


class Attention(Layer):
    """Dot-product attention: ``softmax(query @ key^T [* scale]) @ value``.

    Called on ``[query, value]`` or ``[query, value, key]``; ``mask`` is
    ``[query_mask, value_mask]``. ``score_mode="concat"`` scores with
    ``sum(tanh(query + key))`` instead of the dot product.
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                             f"Received: score_mode={score_mode}")
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self.seed_generator = SeedGenerator(seed) if dropout > 0 else None
        self.supports_masking = True
        self.scale = None
        self.concat_score_weight = None

    def build(self, input_shape) -> None:
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(),
                                                       initializer="ones")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return ops.multiply(scores, self.scale) if self.scale is not None else scores
        pair = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))
        if self.scale is not None:
            pair = ops.multiply(self.scale, pair)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(pair), axis=-1))

    def _apply_scores(self, scores, value, scores_mask=None, training=False):
        if scores_mask is not None:
            padding = ops.logical_not(scores_mask)
            big = 65504.0 if ops.dtype(scores) == "float16" else 1e9
            if len(padding.shape) == 2:
                padding = ops.expand_dims(padding, -2)
            scores = ops.where(padding, ops.subtract(scores, big), scores)
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = random_dropout(weights, self.dropout, seed=self.seed_generator)
        return ops.matmul(weights, value), weights

    def _calculate_score_mask(self, scores, v_mask, use_causal_mask):
        if v_mask is not None:
            v_mask = _as_bool(v_mask)
        if not use_causal_mask:
            return v_mask
        causal = _causal_mask(scores.shape[-2], scores.shape[-1])
        if v_mask is None:
            return causal
        return ops.logical_and(ops.expand_dims(v_mask, -2), causal)

    def call(self, inputs, mask=None, training: bool = False, return_attention_scores: bool = False,
             use_causal_mask: bool = False):
        self._validate_inputs(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(q, k)
        scores_mask = self._calculate_score_mask(scores, v_mask, use_causal_mask)
        out, weights = self._apply_scores(scores, v, scores_mask, training)
        if q_mask is not None:
            out = ops.where(ops.expand_dims(_as_bool(q_mask), -1), out, 0.0)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs, previous_mask=None):
        mask = previous_mask
        if mask is None or not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return mask[0]

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[1][-1])

    def _validate_inputs(self, inputs, mask=None) -> None:
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or (inputs and not hasattr(inputs[0], "__len__")
                                                     and not hasattr(inputs[0], "shape")):
            raise ValueError(f"{name} layer must be called on a list of inputs, namely [query, value] "
                             f"or [query, value, key]. Received: inputs={inputs}.")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] "
                             f"or [query, value, key]. Received length: {len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, (list, tuple)):
                raise ValueError(f"{name} layer mask must be a list, namely [query_mask, value_mask]. "
                                 f"Received: mask={mask}.")
            if not 2 <= len(mask) <= 3:
                raise ValueError(f"{name} layer accepts mask list of length 2 or 3. Received: mask={mask}.")

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Bahdanau attention: scores ``sum(scale * tanh(query + key), -1)``; ``scale`` is a
    learned vector of the feature size when ``use_scale``."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape) -> None:
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(input_shape[0][-1],),
                                         initializer="glorot_uniform")

    def _calculate_scores(self, query, key):
        t = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        if self.use_scale:
            t = ops.multiply(self.scale, t)
        return ops.sum(t, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["score_mode"]
        return config


class _Projection(Layer):
    """Keras' EinsumDense as MultiHeadAttention uses it: contracts the last ``n_in``
    axes of the input with a kernel shaped ``(*in_dims, *out_dims)``, plus a bias
    shaped ``out_dims``."""

    def __init__(self, in_dims: Sequence[int], out_dims: Sequence[int], use_bias: bool,
                 kernel_initializer, bias_initializer, kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.in_dims, self.out_dims = tuple(in_dims), tuple(out_dims)
        self.kernel = self.add_weight(name="kernel", shape=self.in_dims + self.out_dims,
                                      initializer=kernel_initializer, regularizer=kernel_regularizer,
                                      constraint=kernel_constraint)
        self.bias = (self.add_weight(name="bias", shape=self.out_dims, initializer=bias_initializer,
                                     regularizer=bias_regularizer, constraint=bias_constraint)
                     if use_bias else None)
        self.built = True

    def call(self, inputs):
        rank, n = len(inputs.shape), len(self.in_dims)
        y = ops.tensordot(inputs, self.kernel, axes=(list(range(rank - n, rank)), list(range(n))))
        return ops.add(y, self.bias) if self.bias is not None else y


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al.), ``call(query, value, key=None, ...)``.

    Inputs are ``(batch, *attention_dims, features)``; attention runs over
    ``attention_axes`` (default: every axis but batch and features). Masks:
    ``attention_mask`` (``(B, T, S)``, True = attend), the query/value/key masks
    that ride on the inputs (e.g. from ``Embedding(mask_zero=True)``) or are
    passed as ``query_mask`` / ``value_mask`` / ``key_mask``, and
    ``use_causal_mask``.
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape: Any = None, attention_axes: Any = None,
                 sliding_window: int | None = None, flash_attention: bool | None = None,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, use_gate: bool = False,
                 seed: int | None = None, **kwargs):
        for arg, val in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
                raise ValueError(f"Received an invalid value for argument `{arg}`, expected a positive "
                                 f"integer. Received: {arg}={val}")
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError("Received an invalid value for argument `value_dim`, expected a positive "
                             f"integer or `None`. Received: value_dim={value_dim}")
        if sliding_window is not None:
            raise NotImplementedError("MultiHeadAttention: sliding_window is not supported by Horn. "
                                      f"Received: sliding_window={sliding_window}")
        if use_gate:
            raise NotImplementedError("MultiHeadAttention: use_gate is not supported by Horn.")
        self.activity_regularizer = pop_activity_regularizer(kwargs)
        super().__init__(**kwargs)
        self.supports_masking = True
        self._num_heads, self._key_dim = num_heads, key_dim
        self._value_dim = value_dim if value_dim else key_dim
        self._dropout, self._use_bias = dropout, use_bias
        if output_shape:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            try:
                output_shape = tuple(output_shape)
            except TypeError:
                raise ValueError(f"Invalid `output_shape`: {output_shape}. When specified, the "
                                 "`output_shape` should be of type tuple, list, or int.") from None
        self._output_shape = output_shape
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer, self._bias_regularizer = kernel_regularizer, bias_regularizer
        self._kernel_constraint, self._bias_constraint = kernel_constraint, bias_constraint
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError("`attention_axes` must be an int, list, or tuple."
                             f"Received: attention_axes={attention_axes}")
        self._attention_axes = None if attention_axes is None else tuple(attention_axes)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(key_dim))
        # Public attributes, as Keras' weight files name their groups (``query_dense/vars``).
        self.query_dense = self.key_dense = self.value_dense = self.output_dense = None

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)
    _query_dense = property(lambda self: self.query_dense)
    _key_dense = property(lambda self: self.key_dense)
    _value_dense = property(lambda self: self.value_dense)
    _output_dense = property(lambda self: self.output_dense)

    # -- build ------------------------------------------------------------------------------------
    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        """Creates the four projections. Layer.__call__ passes only the query's shape;
        the value's arrives when ``call`` sees it (or from ``build(**shapes_dict)``)."""
        if value_shape is None:
            return
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. "
                             f"Received: value_shape={value_shape} and key_shape={key_shape}")
        self._build_shapes = {"query_shape": tuple(query_shape), "value_shape": tuple(value_shape),
                              "key_shape": tuple(key_shape)}
        common = dict(use_bias=self._use_bias, kernel_initializer=self._kernel_initializer,
                      bias_initializer=self._bias_initializer,
                      kernel_regularizer=self._kernel_regularizer, bias_regularizer=self._bias_regularizer,
                      kernel_constraint=self._kernel_constraint, bias_constraint=self._bias_constraint)
        heads = self._num_heads
        q_dim, k_dim, v_dim = query_shape[-1], key_shape[-1], value_shape[-1]
        self.query_dense = _Projection((q_dim,), (heads, self._key_dim), name="query", **common)
        self.key_dense = _Projection((k_dim,), (heads, self._key_dim), name="key", **common)
        self.value_dense = _Projection((v_dim,), (heads, self._value_dim), name="value", **common)
        out = self._output_shape if self._output_shape else (q_dim,)
        self.output_dense = _Projection((heads, self._value_dim), out, name="attention_output", **common)
        rank = len(query_shape) + 1          # the projected query: (batch, *attention dims, heads, dim)
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        else:
            self._attention_axes = tuple(a if a >= 0 else rank - 1 + a for a in self._attention_axes)
        n_attn = len(self._attention_axes)
        scores_rank = rank - 1 + n_attn      # (batch dims..., heads, q attention dims, k attention dims)
        self._softmax = Softmax(axis=tuple(range(scores_rank - n_attn, scores_rank)))
        self._dropout_layer = Dropout(rate=self._dropout, seed=self.seed)
        for sub in (self.query_dense, self.key_dense, self.value_dense, self.output_dense):
            for w in sub.weights:
                w.path = f"{self.name}/{sub.name}/{w.name}"

    def get_build_config(self) -> dict | None:
        shapes = getattr(self, "_build_shapes", None)
        return {"shapes_dict": {k: list(v) for k, v in shapes.items()}} if shapes else None

    # -- attention --------------------------------------------------------------------------------
    def _layout(self, x_rank: int):
        """For a projected tensor of rank ``x_rank``: batch-like axes (batch, non-attention
        axes, heads) and attention axes, in the order scores keep them."""
        attn = list(self._attention_axes)
        batch = [i for i in range(x_rank - 1) if i not in attn]
        return batch, attn

    def _compute_attention(self, query, key, value, attention_mask=None, training=None):
        query = ops.multiply(query, self._inverse_sqrt_key_dim)
        rank = len(query.shape)
        batch, attn = self._layout(rank)
        # Move to (batch-like..., attention..., dim) and merge the attention axes, so one
        # batched matmul computes every score; then split them again.
        q = ops.transpose(query, batch + attn + [rank - 1])
        k = ops.transpose(key, batch + attn + [rank - 1])
        v = ops.transpose(value, batch + attn + [rank - 1])
        lead = tuple(q.shape[:len(batch)])
        q_attn, k_attn = tuple(q.shape[len(batch):-1]), tuple(k.shape[len(batch):-1])
        if len(attn) > 1:
            q = ops.reshape(q, lead + (-1, q.shape[-1]))
            k = ops.reshape(k, lead + (-1, k.shape[-1]))
            v = ops.reshape(v, lead + (-1, v.shape[-1]))
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2))
        if len(attn) > 1:
            scores = ops.reshape(scores, lead + q_attn + k_attn)
        if attention_mask is not None:
            for _ in range(len(scores.shape) - len(attention_mask.shape)):
                attention_mask = ops.expand_dims(attention_mask, -len(attn) * 2 - 1)
        scores = self._softmax(scores, mask=attention_mask)
        probs = self._dropout_layer(scores, training=training) if self._dropout > 0 else scores
        flat = ops.reshape(probs, lead + (int(np.prod(q_attn)), int(np.prod(k_attn)))) if len(attn) > 1 else probs
        out = ops.matmul(flat, v)                       # (batch-like..., Tq (merged), dim)
        if len(attn) > 1:
            out = ops.reshape(out, lead + q_attn + (out.shape[-1],))
        # Back to the query's layout.
        inverse = np.argsort(batch + attn + [rank - 1]).tolist()
        return ops.transpose(out, inverse), scores

    def _compute_attention_mask(self, query, value, query_mask=None, value_mask=None, key_mask=None,
                                attention_mask=None, use_causal_mask=False):
        auto = None
        if query_mask is not None:
            auto = ops.expand_dims(_as_bool(query_mask), -1)
        for m in (value_mask, key_mask):
            if m is not None:
                m = ops.expand_dims(_as_bool(m), -2)
                auto = m if auto is None else ops.logical_and(auto, m)
        if use_causal_mask:
            m = _causal_mask(query.shape[1], value.shape[1])
            auto = m if auto is None else ops.logical_and(auto, m)
        if attention_mask is not None:
            attention_mask = _as_bool(attention_mask)
        if auto is not None:
            attention_mask = auto if attention_mask is None else ops.logical_and(attention_mask, auto)
        return attention_mask

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores: bool = False, training=None,
             use_causal_mask: bool = False):
        if key is None:
            key = value
        # Masks riding on the inputs (Keras reads them with backend.get_keras_mask). Keras 3
        # takes the query's mask from the query tensor only, ignoring a `query_mask`
        # argument; Horn does the same so results agree.
        query_mask = getattr(query, "_keras_mask", None)
        value_mask = value_mask if value_mask is not None else getattr(value, "_keras_mask", None)
        if key is not value:
            key_mask = key_mask if key_mask is not None else getattr(key, "_keras_mask", None)
        if self.query_dense is None:
            self.build(query.shape, value.shape, key.shape)
        mask = self._compute_attention_mask(query, value, query_mask, value_mask, key_mask,
                                            attention_mask, use_causal_mask)
        q = self.query_dense(query)
        k = self.key_dense(key)
        v = self.value_dense(value)
        out, scores = self._compute_attention(q, k, v, mask, training)
        out = self.output_dense(out)
        return (out, scores) if return_attention_scores else out

    def compute_mask(self, inputs, previous_mask=None):
        return getattr(inputs, "_keras_mask", None)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        return query_shape[:-1] + self._output_shape if self._output_shape else query_shape

    def get_config(self) -> dict:
        return {**super().get_config(),
                "num_heads": self._num_heads, "key_dim": self._key_dim, "value_dim": self._value_dim,
                "dropout": self._dropout, "use_bias": self._use_bias, "use_gate": False,
                "output_shape": self._output_shape, "attention_axes": self._attention_axes,
                "sliding_window": None,
                "kernel_initializer": initializers.serialize(self._kernel_initializer),
                "bias_initializer": initializers.serialize(self._bias_initializer),
                "kernel_regularizer": self._kernel_regularizer, "bias_regularizer": self._bias_regularizer,
                "activity_regularizer": self.activity_regularizer,
                "kernel_constraint": self._kernel_constraint, "bias_constraint": self._bias_constraint,
                "seed": self.seed}

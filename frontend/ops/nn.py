"""Neural-network ``keras.ops``: activations, ``softmax``, ``one_hot``, ``normalize``.

Each formula is the one in Keras 3's numpy backend (keras/src/backend/numpy/nn.py),
written with the core ops, so eager Horn, compiled Horn and Keras agree to
float rounding. Constants are made in the input's dtype (Keras does
``np.array(c, x.dtype)``), so float32 stays float32 throughout.
"""
from __future__ import annotations

import math
from importlib.util import find_spec

import numpy as np

from frontend.backend import epsilon as fuzz_factor
from frontend.ops import core
from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.movement import expand_dims, moveaxis, split
from frontend.ops.reductions import reduce
from frontend.ops.util import dtype as dtype_of, ir_shape, normalize_axis, tensor, to_float
from frontend.tensors import TracedTensor
from ir.dtypes import DType
from ir.opcodes import Op

__all__ = ["relu", "relu6", "sigmoid", "leaky_relu", "elu", "selu", "gelu", "celu", "glu",
           "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "soft_shrink",
           "tanh_shrink", "threshold", "softplus", "softsign", "silu", "swish", "mish", "log_sigmoid",
           "squareplus", "sparse_plus", "sparse_sigmoid", "softmax", "log_softmax", "one_hot",
           "normalize", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _consts(x: Tensor, *values: float) -> list[Tensor]:
    """``values`` as constants of ``x``'s dtype (for the graph or the eager evaluation)."""
    return prepare(x, *values, dtype=dtype_of(x))[0][1:]


def _mul(x: Tensor, c: float) -> Tensor:
    (k,) = _consts(x, c)
    return apply(Op.MUL, [k, x])


def _where(cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return apply(Op.SELECT, [cond, a, b])


@symbolic
def relu(x: Tensor) -> Tensor:
    """``max(x, 0)`` in ``x``'s dtype, written as a select so its derivative at 0 is 0.

    ``maximum`` splits a tie's gradient in half (as jnp.maximum); JAX's ``relu``
    has derivative 0 at 0, and training parity with Keras-on-JAX needs the same.
    """
    x = tensor(x)
    (zero,) = _consts(x, 0)
    return apply(Op.SELECT, [apply(Op.GREATER, [x, zero]), x, zero])


@symbolic
def relu6(x: Tensor) -> Tensor:
    """``min(max(x, 0), 6)`` as selects: derivative 0 at 0 and at 6, as JAX's relu6."""
    x = tensor(x)
    zero, six = _consts(x, 0, 6)
    capped = apply(Op.SELECT, [apply(Op.LESS, [x, six]), x, six])
    return apply(Op.SELECT, [apply(Op.GREATER, [x, zero]), capped, zero])


@symbolic
def sigmoid(x: Tensor) -> Tensor:
    return apply(Op.SIGMOID, [to_float(x)])


@symbolic
def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """``max(x, negative_slope * x)``."""
    x = to_float(x)
    return apply(Op.MAXIMUM, [x, _mul(x, negative_slope)])


def _elu(x: Tensor, alpha: float) -> Tensor:
    # expm1 of min(x, 0), not of x: the branch where() drops must not overflow to inf,
    # or its gradient (inf * 0) would turn into NaN.
    (zero,) = _consts(x, 0)
    neg = _mul(apply(Op.EXPM1, [apply(Op.MINIMUM, [x, zero])]), alpha)
    return _where(apply(Op.GREATER_EQUAL, [x, zero]), x, neg)


@symbolic
def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x >= 0``, else ``alpha * expm1(x)``."""
    return _elu(to_float(x), alpha)


@symbolic
def selu(x: Tensor) -> Tensor:
    return _mul(_elu(to_float(x), _SELU_ALPHA), _SELU_SCALE)


@symbolic
def gelu(x: Tensor, approximate: bool = True) -> Tensor:
    """``x * Phi(x)``; ``approximate`` uses the tanh form (keras.ops' default is True)."""
    x = to_float(x)
    if approximate:
        cube = apply(Op.MUL, [apply(Op.MUL, [x, x]), x])
        inner = _mul(apply(Op.ADD, [x, _mul(cube, 0.044715)]), math.sqrt(2 / math.pi))
        half, one = _consts(x, 0.5, 1.0)
        cdf = apply(Op.MUL, [half, apply(Op.ADD, [one, apply(Op.TANH, [inner])])])
        return apply(Op.MUL, [x, cdf])
    one, two = _consts(x, 1.0, 2.0)
    phi = apply(Op.ADD, [apply(Op.ERF, [_mul(x, 1 / math.sqrt(2))]), one])
    return apply(Op.DIV, [apply(Op.MUL, [x, phi]), two])


@symbolic
def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    x = to_float(x)
    zero, a = _consts(x, 0, alpha)
    neg = apply(Op.EXPM1, [apply(Op.DIV, [apply(Op.MINIMUM, [x, zero]), a])])
    return apply(Op.ADD, [apply(Op.MAXIMUM, [x, zero]), apply(Op.MUL, [a, neg])])


@symbolic
def glu(x: Tensor, axis: int = -1) -> Tensor:
    """``a * sigmoid(b)`` for the two halves of ``x`` along ``axis``."""
    x = to_float(x)
    n = ir_shape(x)[normalize_axis(axis, len(ir_shape(x)))]
    if not isinstance(n, int) or n % 2:
        raise ValueError(f"axis size must be divisible by 2. Received: x.shape={tuple(ir_shape(x))} "
                         f"with axis={axis}")
    a, b = split(x, 2, axis)
    return apply(Op.MUL, [a, apply(Op.SIGMOID, [b])])


def _hard_sigmoid(x: Tensor) -> Tensor:
    six, half, zero, one = _consts(x, 6.0, 0.5, 0.0, 1.0)
    y = apply(Op.ADD, [apply(Op.DIV, [x, six]), half])
    return apply(Op.MINIMUM, [apply(Op.MAXIMUM, [y, zero]), one])


@symbolic
def hard_sigmoid(x: Tensor) -> Tensor:
    """``clip(x / 6 + 0.5, 0, 1)``."""
    return _hard_sigmoid(to_float(x))


@symbolic
def hard_silu(x: Tensor) -> Tensor:
    x = to_float(x)
    return apply(Op.MUL, [x, _hard_sigmoid(x)])


hard_swish = hard_silu


@symbolic
def hard_tanh(x: Tensor) -> Tensor:
    x = to_float(x)
    lo, hi = _consts(x, -1.0, 1.0)
    return apply(Op.MINIMUM, [apply(Op.MAXIMUM, [x, lo]), hi])


@symbolic
def hard_shrink(x: Tensor, threshold: float = 0.5) -> Tensor:
    x = to_float(x)
    t, zero = _consts(x, threshold, 0.0)
    return _where(apply(Op.GREATER, [apply(Op.ABS, [x]), t]), x, zero)


@symbolic
def soft_shrink(x: Tensor, threshold: float = 0.5) -> Tensor:
    x = to_float(x)
    t, nt, zero = _consts(x, threshold, -threshold, 0.0)
    inner = _where(apply(Op.LESS, [x, nt]), apply(Op.ADD, [x, t]), zero)
    return _where(apply(Op.GREATER, [x, t]), apply(Op.SUB, [x, t]), inner)


@symbolic
def tanh_shrink(x: Tensor) -> Tensor:
    x = to_float(x)
    return apply(Op.SUB, [x, apply(Op.TANH, [x])])


@symbolic
def threshold(x: Tensor, threshold: float, default_value: float) -> Tensor:  # noqa: F811
    """``x`` where ``x > threshold``, else ``default_value``."""
    x = tensor(x)
    t, d = _consts(x, threshold, default_value)
    return _where(apply(Op.GREATER, [x, t]), x, d)


def _softplus(x: Tensor) -> Tensor:
    # logaddexp(x, 0) = max(x, 0) + log1p(exp(-|x|)): never overflows.
    (zero,) = _consts(x, 0)
    tail = apply(Op.LOG1P, [apply(Op.EXP, [apply(Op.NEG, [apply(Op.ABS, [x])])])])
    return apply(Op.ADD, [apply(Op.MAXIMUM, [x, zero]), tail])


@symbolic
def softplus(x: Tensor) -> Tensor:
    """``log(exp(x) + 1)``, computed stably."""
    return _softplus(to_float(x))


@symbolic
def softsign(x: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    x = to_float(x)
    (one,) = _consts(x, 1.0)
    return apply(Op.DIV, [x, apply(Op.ADD, [one, apply(Op.ABS, [x])])])


@symbolic
def silu(x: Tensor) -> Tensor:
    """``x * sigmoid(x)``."""
    x = to_float(x)
    return apply(Op.MUL, [x, apply(Op.SIGMOID, [x])])


swish = silu


@symbolic
def mish(x: Tensor) -> Tensor:
    """``x * tanh(softplus(x))``."""
    x = to_float(x)
    return apply(Op.MUL, [x, apply(Op.TANH, [_softplus(x)])])


@symbolic
def log_sigmoid(x: Tensor) -> Tensor:
    """``-softplus(-x)``."""
    x = to_float(x)
    return apply(Op.NEG, [_softplus(apply(Op.NEG, [x]))])


@symbolic
def squareplus(x: Tensor, b: float = 4) -> Tensor:
    """``(x + sqrt(x**2 + b)) / 2``."""
    x = to_float(x)
    bb, two = _consts(x, b, 2.0)
    root = apply(Op.SQRT, [apply(Op.ADD, [apply(Op.MUL, [x, x]), bb])])
    return apply(Op.DIV, [apply(Op.ADD, [x, root]), two])


@symbolic
def sparse_plus(x: Tensor) -> Tensor:
    """0 for ``x <= -1``, ``(x + 1)**2 / 4`` for ``|x| < 1``, ``x`` above."""
    x = to_float(x)
    m1, one, quarter, zero = _consts(x, -1.0, 1.0, 0.25, 0.0)
    xp1 = apply(Op.ADD, [x, one])
    mid = _where(apply(Op.LESS, [x, one]), apply(Op.MUL, [quarter, apply(Op.MUL, [xp1, xp1])]), x)
    return _where(apply(Op.LESS_EQUAL, [x, m1]), zero, mid)


@symbolic
def sparse_sigmoid(x: Tensor) -> Tensor:
    """0 for ``x <= -1``, 1 for ``x >= 1``, ``(x + 1) / 2`` between."""
    x = to_float(x)
    m1, one, half, zero = _consts(x, -1.0, 1.0, 0.5, 0.0)
    mid = _where(apply(Op.GREATER_EQUAL, [x, one]), one, apply(Op.MUL, [half, apply(Op.ADD, [x, one])]))
    return _where(apply(Op.LESS_EQUAL, [x, m1]), zero, mid)


@symbolic
def softmax(x: Tensor, axis: int | tuple[int, ...] = -1) -> Tensor:
    """``exp(x - max) / sum(exp(x - max))`` over ``axis``."""
    x = to_float(x)
    e = apply(Op.EXP, [apply(Op.SUB, [x, reduce(Op.REDUCE_MAX, x, axis, True)])])
    return apply(Op.DIV, [e, reduce(Op.REDUCE_SUM, e, axis, True)])


@symbolic
def log_softmax(x: Tensor, axis: int | tuple[int, ...] = -1) -> Tensor:
    """``x - max - log(sum(exp(x - max)))`` over ``axis``."""
    x = to_float(x)
    shifted = apply(Op.SUB, [x, reduce(Op.REDUCE_MAX, x, axis, True)])
    lse = apply(Op.LOG, [reduce(Op.REDUCE_SUM, apply(Op.EXP, [shifted]), axis, True)])
    return apply(Op.SUB, [shifted, lse])


@symbolic
def one_hot(x: Tensor, num_classes: int, axis: int = -1, dtype=None, sparse: bool = False) -> Tensor:
    """Class indices to one-hot vectors (negative and too-large indices give all zeros)."""
    if sparse:
        raise ValueError("Unsupported value `sparse=True`: Horn tensors are dense")
    from frontend.backend import standardize_dtype
    x = tensor(x)
    if not dtype_of(x).is_integer:
        x = core.cast(x, DType.int32)
    classes = np.arange(int(num_classes), dtype=dtype_of(x).numpy)
    hot = apply(Op.EQUAL, [expand_dims(x, -1), classes])
    out = core.cast(hot, DType.from_any(standardize_dtype(dtype)))
    rank = len(ir_shape(out))
    return out if normalize_axis(axis, rank) == rank - 1 else moveaxis(out, -1, axis)


@symbolic
def normalize(x: Tensor, axis: int = -1, order: int = 2, epsilon: float | None = None) -> Tensor:
    """``x / max(norm(x), epsilon)``; L2 as Keras: ``x * min(rsqrt(sum(x**2)), 1 / epsilon)``."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    x = to_float(x)
    if not ir_shape(x):
        x = expand_dims(x, 0)
    eps = 1e-7 if epsilon is None else epsilon
    if order == 2:
        inv = apply(Op.RSQRT, [reduce(Op.REDUCE_SUM, apply(Op.MUL, [x, x]), axis, True)])
        return apply(Op.MUL, [x, apply(Op.MINIMUM, [inv, *_consts(x, 1.0 / eps)])])
    a = apply(Op.ABS, [x])
    if order == 1:
        norm = reduce(Op.REDUCE_SUM, a, axis, True)
    else:
        p, inv_p = _consts(x, float(order), 1.0 / order)
        norm = apply(Op.POW, [reduce(Op.REDUCE_SUM, apply(Op.POW, [a, p]), axis, True), inv_p])
    return apply(Op.DIV, [x, apply(Op.MAXIMUM, [norm, *_consts(x, eps)])])


# -- crossentropies (keras.ops.nn): per-sample values, no reduction -----------------------------
def _keras_shape(x: Tensor) -> tuple:
    return tuple(None if not isinstance(d, int) else d for d in ir_shape(x))


def _same_shape(a: tuple, b: tuple) -> bool:
    """Shapes agree, a symbolic (None) dim matching anything."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _log_probs(output: Tensor, from_logits: bool, axis: int) -> Tensor:
    """``log_softmax(output)``, or the log of ``output`` renormalized along ``axis`` and clipped."""
    if from_logits:
        return log_softmax(output, axis=axis)
    output = apply(Op.DIV, [output, reduce(Op.REDUCE_SUM, output, axis, True)])
    lo, hi = _consts(output, fuzz_factor(), 1.0 - fuzz_factor())
    return apply(Op.LOG, [apply(Op.MINIMUM, [apply(Op.MAXIMUM, [output, lo]), hi])])


@symbolic
def binary_crossentropy(target: Tensor, output: Tensor, from_logits: bool = False) -> Tensor:
    """Elementwise ``-(t log p + (1 - t) log(1 - p))``; ``target`` takes ``output``'s dtype.

    Probabilities are clipped to ``[eps, 1 - eps]`` as in every Keras backend.
    Logits use ``log_sigmoid`` directly, as Keras' JAX, TensorFlow and torch
    backends do (its numpy backend takes ``sigmoid`` and clips instead), so a
    confident wrong logit costs its true, unbounded loss and a finite gradient.
    """
    output = to_float(output)
    target = core.cast(tensor(target), dtype_of(output))
    if not _same_shape(_keras_shape(target), _keras_shape(output)):
        raise ValueError("Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={_keras_shape(target)}, output.shape={_keras_shape(output)}")
    (one,) = _consts(output, 1.0)
    not_target = apply(Op.SUB, [one, target])
    if from_logits:
        pos = log_sigmoid(output)
        neg = log_sigmoid(apply(Op.NEG, [output]))
    else:
        lo, hi = _consts(output, fuzz_factor(), 1.0 - fuzz_factor())
        p = apply(Op.MINIMUM, [apply(Op.MAXIMUM, [output, lo]), hi])
        pos, neg = apply(Op.LOG, [p]), apply(Op.LOG, [apply(Op.SUB, [one, p])])
    bce = apply(Op.ADD, [apply(Op.MUL, [target, pos]), apply(Op.MUL, [not_target, neg])])
    return apply(Op.NEG, [bce])


@symbolic
def categorical_crossentropy(target: Tensor, output: Tensor, from_logits: bool = False,
                             axis: int = -1) -> Tensor:
    """``-sum(target * log_probs, axis)`` for one-hot (or soft) ``target``."""
    output = to_float(output)
    target = core.cast(tensor(target), dtype_of(output))
    ts, os_ = _keras_shape(target), _keras_shape(output)
    if not _same_shape(ts, os_):
        raise ValueError("Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={ts}, output.shape={os_}")
    if not os_:
        raise ValueError("Arguments `target` and `output` must be at least rank 1. Received: "
                         f"target.shape={ts}, output.shape={os_}")
    prod = apply(Op.MUL, [target, _log_probs(output, from_logits, axis)])
    return apply(Op.NEG, [reduce(Op.REDUCE_SUM, prod, axis, False)])


def check_sparse_labels(target, num_classes: int) -> None:
    """Raises when integer labels fall outside ``[0, num_classes)`` (numpy labels only).

    A compiled graph cannot raise, so the runtime calls this on each batch of
    numpy labels before the compiled step; the graph itself turns an
    out-of-range label into an all-zero one-hot row.
    """
    labels = np.asarray(target)
    if labels.dtype.kind == "f":
        labels = labels.astype(np.int64)    # Keras casts float labels to int32: truncation
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        values = " ".join(str(int(v)) for v in np.unique(labels[bad])[:10])
        raise ValueError(f"Received a label value of {int(labels[bad].flat[0])} which is outside the "
                         f"valid range of [0, {num_classes}). Out-of-range label values: {values}. "
                         "Sparse categorical labels are class indices: check the labels, or the "
                         "number of units of the last layer.")


@symbolic
def sparse_categorical_crossentropy(target: Tensor, output: Tensor, from_logits: bool = False,
                                    axis: int = -1) -> Tensor:
    """Categorical crossentropy with integer class ``target`` (``output.shape[:-1]``).

    Eager (numpy labels): labels outside ``[0, num_classes)`` raise ValueError.
    Compiled: nothing can raise inside the graph, so such a label selects no
    class and that sample's loss is 0 (as Keras on JAX); the trainer checks
    batches with :func:`check_sparse_labels` before running the step.
    """
    output = to_float(output)
    target = tensor(target)
    ts, os_ = _keras_shape(target), _keras_shape(output)
    if len(ts) == len(os_) and ts and ts[-1] == 1:
        from frontend.ops.movement import squeeze
        target, ts = squeeze(target, -1), ts[:-1]
    if not os_:
        raise ValueError(f"Argument `output` must be at least rank 1. Received: output.shape={os_}")
    if not _same_shape(ts, os_[:-1]):
        raise ValueError("Arguments `target` and `output` must have the same shape up until the last "
                         f"dimension: target.shape={ts}, output.shape={os_}")
    num_classes = os_[normalize_axis(axis, len(os_))]
    if num_classes is None:
        raise ValueError("sparse_categorical_crossentropy needs a static number of classes; the class "
                         f"axis of output.shape={os_} is the symbolic batch")
    if not isinstance(target, TracedTensor):
        check_sparse_labels(target, num_classes)
    if not dtype_of(target).is_integer:
        target = core.cast(target, DType.int32)
    hot = one_hot(target, num_classes, axis=axis, dtype=dtype_of(output).name)
    prod = apply(Op.MUL, [hot, _log_probs(output, from_logits, axis)])
    return apply(Op.NEG, [reduce(Op.REDUCE_SUM, prod, axis, False)])


# keras.ops.nn also holds the convolution and pooling ops; they live in their own module.
if find_spec("frontend.ops.conv") is not None:
    from frontend.ops import conv as _conv
    globals().update({_n: getattr(_conv, _n) for _n in _conv.__all__})
    __all__ += list(_conv.__all__)

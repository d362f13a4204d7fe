"""Activation functions, each composed from core elementwise ops with the
constants (alpha, beta, ...) in the input's dtype, so float16 and float64
graphs stay in their precision.
"""
from __future__ import annotations

import math

from frontend.onnx_import.context import NodeContext
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import (add, binary, const, div, maximum, minimum, mul, sub, unary,
                                         where)
from ir.opcodes import Op


def _less(a, b):
    return binary(Op.LESS, a, b)


def softplus(x):
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``."""
    return add(maximum(x, const(0, x)), unary(Op.LOG1P, unary(Op.EXP, unary(Op.NEG, unary(Op.ABS, x)))))


def hard_sigmoid(x, alpha: float, beta: float):
    return maximum(const(0, x), minimum(const(1, x), add(mul(const(alpha, x), x), const(beta, x))))


@importer("Relu")
def _relu(n: NodeContext):
    x = n.input(0)
    return maximum(x, const(0, x))


@importer("LeakyRelu")
def _leaky_relu(n: NodeContext):
    x = n.input(0)
    return where(_less(x, const(0, x)), mul(const(n.attr("alpha", 0.01), x), x), x)


@importer("PRelu")
def _prelu(n: NodeContext):
    x, slope = n.input(0), n.input(1)
    return where(_less(x, const(0, x)), mul(slope, x), x)


@importer("Elu")
def _elu(n: NodeContext):
    x = n.input(0)
    return where(_less(x, const(0, x)), mul(const(n.attr("alpha", 1.0), x), unary(Op.EXPM1, x)), x)


@importer("Celu")
def _celu(n: NodeContext):
    x = n.input(0)
    alpha = const(n.attr("alpha", 1.0), x)
    neg = mul(alpha, unary(Op.EXPM1, div(x, alpha)))
    return add(maximum(x, const(0, x)), minimum(const(0, x), neg))


@importer("Selu")
def _selu(n: NodeContext):
    x = n.input(0)
    alpha = const(n.attr("alpha", 1.67326319217681884765625), x)
    gamma = const(n.attr("gamma", 1.05070102214813232421875), x)
    neg = mul(alpha, unary(Op.EXPM1, x))
    return mul(gamma, where(binary(Op.LESS_EQUAL, x, const(0, x)), neg, x))


@importer("ThresholdedRelu")
def _thresholded_relu(n: NodeContext):
    x = n.input(0)
    return where(binary(Op.GREATER, x, const(n.attr("alpha", 1.0), x)), x, const(0, x))


@importer("Softplus")
def _softplus(n: NodeContext):
    return softplus(n.input(0))


@importer("Softsign")
def _softsign(n: NodeContext):
    x = n.input(0)
    return div(x, add(const(1, x), unary(Op.ABS, x)))


@importer("HardSigmoid")
def _hard_sigmoid(n: NodeContext):
    return hard_sigmoid(n.input(0), n.attr("alpha", 0.2), n.attr("beta", 0.5))


@importer("HardSwish")
def _hard_swish(n: NodeContext):
    x = n.input(0)
    return mul(x, hard_sigmoid(x, 1 / 6, 0.5))


@importer("Mish")
def _mish(n: NodeContext):
    x = n.input(0)
    return mul(x, unary(Op.TANH, softplus(x)))


@importer("Swish")
def _swish(n: NodeContext):
    x = n.input(0)
    return mul(x, unary(Op.SIGMOID, mul(const(n.attr("alpha", 1.0), x), x)))


@importer("Shrink")
def _shrink(n: NodeContext):
    x = n.input(0)
    lambd, bias = const(n.attr("lambd", 0.5), x), const(n.attr("bias", 0.0), x)
    low = where(_less(x, unary(Op.NEG, lambd)), add(x, bias), const(0, x))
    return where(binary(Op.GREATER, x, lambd), sub(x, bias), low)


@importer("Gelu")
def _gelu(n: NodeContext):
    x = n.input(0)
    half = mul(const(0.5, x), x)
    if n.attr("approximate", "none") == "tanh":
        inner = mul(const(math.sqrt(2 / math.pi), x),
                    add(x, mul(const(0.044715, x), mul(x, mul(x, x)))))
        return mul(half, add(const(1, x), unary(Op.TANH, inner)))
    return mul(half, add(const(1, x), unary(Op.ERF, mul(x, const(1 / math.sqrt(2), x)))))

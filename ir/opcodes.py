"""The core op set. Every facet of an op (shape rule, reference, VJP, CPU and
GPU lowering, ONNX mapping) is keyed by a member of :class:`Op`.

High-level layers lower to these in the frontend, so each later facet only
has to cover this list.
"""
from __future__ import annotations

import enum


class Op(enum.Enum):
    # elementwise unary
    NEG = "neg"
    ABS = "abs"
    EXP = "exp"
    EXPM1 = "expm1"
    LOG = "log"
    LOG1P = "log1p"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    ERF = "erf"
    SIN = "sin"
    COS = "cos"
    FLOOR = "floor"
    CEIL = "ceil"
    ROUND = "round"
    SIGN = "sign"
    RECIPROCAL = "reciprocal"
    LOGICAL_NOT = "logical_not"
    # elementwise binary (numpy broadcasting, equal dtypes)
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    POW = "pow"
    MOD = "mod"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    LOGICAL_AND = "logical_and"
    LOGICAL_OR = "logical_or"
    # comparisons (-> bool)
    EQUAL = "equal"
    NOT_EQUAL = "not_equal"
    LESS = "less"
    LESS_EQUAL = "less_equal"
    GREATER = "greater"
    GREATER_EQUAL = "greater_equal"
    # other elementwise
    SELECT = "select"
    CAST = "cast"
    # reductions
    REDUCE_SUM = "reduce_sum"
    REDUCE_MAX = "reduce_max"
    REDUCE_MIN = "reduce_min"
    REDUCE_MEAN = "reduce_mean"
    ARGMAX = "argmax"
    ARGMIN = "argmin"
    # linear algebra and windows
    MATMUL = "matmul"
    CONV = "conv"
    POOL = "pool"
    POOL_GRAD = "pool_grad"    # the adjoint of POOL: (x, dy) -> dx, for reverse-mode autodiff
    # data movement
    RESHAPE = "reshape"
    TRANSPOSE = "transpose"
    BROADCAST_TO = "broadcast_to"
    SLICE = "slice"
    CONCAT = "concat"
    PAD = "pad"
    GATHER = "gather"
    SCATTER_ADD = "scatter_add"  # the adjoint of GATHER: (updates, indices) -> sums per index
    # randomness (counter-based: a pure function of key, stream and element index)
    RANDOM_UNIFORM = "random_uniform"
    # control flow (ops with a region: a nested Graph in their attributes)
    SCAN = "scan"
    # leaves
    CONSTANT = "constant"
    # a kernel group formed by passes.fusion: a nested graph run as one kernel
    FUSED = "fused"

    def __str__(self) -> str:
        return self.value


UNARY_OPS = frozenset({
    Op.NEG, Op.ABS, Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.SQRT, Op.RSQRT, Op.TANH,
    Op.SIGMOID, Op.ERF, Op.SIN, Op.COS, Op.FLOOR, Op.CEIL, Op.ROUND, Op.SIGN,
    Op.RECIPROCAL, Op.LOGICAL_NOT,
})
BINARY_OPS = frozenset({
    Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MOD, Op.MAXIMUM, Op.MINIMUM,
    Op.LOGICAL_AND, Op.LOGICAL_OR,
})
COMPARE_OPS = frozenset({
    Op.EQUAL, Op.NOT_EQUAL, Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL,
})
ELEMENTWISE_OPS = UNARY_OPS | BINARY_OPS | COMPARE_OPS | {Op.SELECT, Op.CAST}
REDUCE_OPS = frozenset({Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_MEAN})
ARG_REDUCE_OPS = frozenset({Op.ARGMAX, Op.ARGMIN})

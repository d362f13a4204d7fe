"""MatMul (numpy's matmul, 1-D operands included) and Gemm."""
from __future__ import annotations

from frontend.onnx_import.context import NodeContext, NodeView
from frontend.onnx_import.registry import importer
from frontend.onnx_import.values import add, binary, const, mul, rank, shape
from frontend.ops.core import apply
from frontend.ops.movement import reshape_to
from ir.attrs import TransposeAttrs
from ir.opcodes import Op


def matmul(a, b):
    """``numpy.matmul``: a 1-D operand is a row (left) or column (right) and that axis is dropped."""
    a_vec, b_vec = rank(a) == 1, rank(b) == 1
    if a_vec:
        a = reshape_to(a, (1,) + shape(a))
    if b_vec:
        b = reshape_to(b, shape(b) + (1,))
    out = binary(Op.MATMUL, a, b)
    s = shape(out)
    if a_vec and b_vec:
        return reshape_to(out, s[:-2])
    if a_vec:
        return reshape_to(out, s[:-2] + s[-1:])
    if b_vec:
        return reshape_to(out, s[:-1])
    return out


def _transpose2d(x):
    return apply(Op.TRANSPOSE, [x], TransposeAttrs((1, 0)))


@importer("MatMul")
def _matmul(n: NodeContext):
    return matmul(n.input(0), n.input(1))


def _gemm_b_layout(b, view: NodeView):
    """Gemm's B as (K, N): PyTorch's Linear exports (N, K) with transB=1."""
    return _transpose2d(b) if view.attr("transB", 0) else b


@importer("Gemm", layouts={1: _gemm_b_layout})
def _gemm(n: NodeContext):
    a, b = n.input(0), n.weight(1)
    if n.attr("transA", 0):
        a = _transpose2d(a)
    y = binary(Op.MATMUL, a, b)
    alpha, beta = n.attr("alpha", 1.0), n.attr("beta", 1.0)
    if alpha != 1.0:
        y = mul(y, const(alpha, y))
    c = n.input(2)
    if c is not None and beta != 0.0:
        y = add(y, c if beta == 1.0 else mul(const(beta, c), c))
    return y

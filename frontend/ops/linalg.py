"""Products: ``matmul``, ``dot``, ``tensordot``, ``outer``, ``inner``, all on
the IR's one batched MATMUL (numpy broadcasting over leading dims).

``tensordot`` moves the contracted axes together, keeps ``x1``'s free axes
as MATMUL's leading (batch) dims, and flattens only ``x2``: that way a
symbolic batch among ``x1``'s free axes never has to be merged into another
dim, which the IR could not express.
"""
from __future__ import annotations

from frontend.ops.core import Tensor, apply, prepare, symbolic
from frontend.ops.movement import expand_dims, ravel, reshape_to, squeeze, transpose
from frontend.ops.reductions import sum as reduce_sum
from frontend.ops.util import ir_shape, normalize_axis, static_product
from ir.dtypes import DType
from ir.opcodes import Op

__all__ = ["matmul", "dot", "tensordot", "outer", "inner"]


def _operands(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    (a, b), dt = prepare(x1, x2)
    if dt is DType.bool:
        (a, b), _ = prepare(a, b, dtype=DType.int32)
    return a, b


@symbolic
def matmul(x1: Tensor, x2: Tensor) -> Tensor:
    """numpy.matmul: rank-1 operands get a unit axis that is removed again."""
    a, b = _operands(x1, x2)
    ra, rb = len(ir_shape(a)), len(ir_shape(b))
    if ra == 0 or rb == 0:
        raise ValueError("matmul: operands must not be scalars; use multiply")
    if ra == 1:
        a = expand_dims(a, 0)
    if rb == 1:
        b = expand_dims(b, -1)
    y = apply(Op.MATMUL, [a, b])
    drop = ([-2] if ra == 1 else []) + ([-1] if rb == 1 else [])
    return squeeze(y, drop) if drop else y


@symbolic
def tensordot(x1: Tensor, x2: Tensor, axes=2) -> Tensor:
    """Sums products over ``axes`` (an int: last n of x1 with first n of x2; or two lists)."""
    a, b = _operands(x1, x2)
    sa, sb = ir_shape(a), ir_shape(b)
    if isinstance(axes, int):
        if axes < 0 or axes > min(len(sa), len(sb)):
            raise ValueError(f"tensordot: axes={axes} is out of range for shapes {sa} and {sb}")
        ax_a, ax_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        ax_a, ax_b = ([x] if isinstance(x, int) else list(x) for x in axes)
        ax_a = [normalize_axis(i, len(sa)) for i in ax_a]
        ax_b = [normalize_axis(i, len(sb)) for i in ax_b]
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(f"tensordot: shape-mismatch for sum over axes {ax_a} of {sa} and {ax_b} of {sb}")
    free_a = [i for i in range(len(sa)) if i not in ax_a]
    free_b = [j for j in range(len(sb)) if j not in ax_b]
    k = static_product(sa[i] for i in ax_a)
    fb = static_product(sb[j] for j in free_b)
    a2 = transpose(a, free_a + ax_a)
    a2 = reshape_to(a2, tuple(sa[i] for i in free_a) + (k,))
    if not free_a:
        a2 = reshape_to(a2, (1, k))
    b2 = reshape_to(transpose(b, ax_b + free_b), (k, fb))
    y = apply(Op.MATMUL, [a2, b2])
    return reshape_to(y, tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


@symbolic
def dot(x1: Tensor, x2: Tensor) -> Tensor:
    """numpy.dot: a product for scalars, matmul up to rank 2, else sum over x1's last and x2's
    second-to-last axis."""
    a, b = _operands(x1, x2)
    ra, rb = len(ir_shape(a)), len(ir_shape(b))
    if ra == 0 or rb == 0:
        return apply(Op.MUL, list(prepare(a, b)[0]))
    if rb <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([ra - 1], [rb - 2]))


@symbolic
def outer(x1: Tensor, x2: Tensor) -> Tensor:
    """``ravel(x1)[:, None] * ravel(x2)[None, :]``."""
    a, b = _operands(x1, x2)
    return apply(Op.MUL, [expand_dims(ravel(a), 1), expand_dims(ravel(b), 0)])


@symbolic
def inner(x1: Tensor, x2: Tensor) -> Tensor:
    """Sum of products over the last axes (a product for scalars)."""
    a, b = _operands(x1, x2)
    if len(ir_shape(a)) == 0 or len(ir_shape(b)) == 0:
        return apply(Op.MUL, [a, b])
    if len(ir_shape(a)) == 1 and len(ir_shape(b)) == 1:
        return reduce_sum(apply(Op.MUL, [a, b]))
    return tensordot(a, b, axes=([-1], [-1]))


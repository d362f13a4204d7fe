"""VJP rules of the reductions (sum, mean, max, min; argmax/argmin have none) and matmul.

Ties of reduce_max / reduce_min follow JAX and TensorFlow: the cotangent is
split equally among all positions equal to the result (``jax.lax.reduce_max``'s
JVP divides by the count of maximal locations). Finite-difference checks
must therefore avoid ties, where the function is not differentiable.
"""
from __future__ import annotations

from ir.attrs import ReduceAttrs
from ir.graph import Graph, Node, Value
from ir.opcodes import Op
from ir.ops.reduction import reduced_shape
from ir.shapes import SymDim, is_static
from passes.vjp.emit import Emit, VjpRule, no_gradient, swap_last_two


def _spread(e: Emit, ct: Value, x: Value, a: ReduceAttrs) -> Value:
    """``ct`` (the reduced shape) with the reduced axes put back as size 1."""
    return e.reshape(ct, reduced_shape(x.shape, a.axes, True))


def _reduce_sum(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,), (x,) = cts, node.inputs
    e = Emit(graph, node)
    return [e.broadcast(_spread(e, ct, x, node.attrs), x.shape)]


def _count(e: Emit, x: Value, axes: tuple[int, ...]) -> Value:
    """How many elements the reduction averages, as a scalar of ``x``'s dtype.

    A symbolic dim (the batch) among the axes is only known at run time: its
    size is computed in the graph as the sum of a broadcast 1, so the gradient
    of a batch mean stays right for every batch size without a recompile.
    """
    static = 1
    symbolic = []
    for i in axes:
        d = x.shape[i]
        if isinstance(d, SymDim):
            symbolic.append(d)
        else:
            static *= d
    count = e.const(static, x.dtype)
    if symbolic:
        ones = e.broadcast(e.const(1, x.dtype), tuple(symbolic))
        count = e.mul(e.sum(ones, range(len(symbolic))), count)
    return count


def _reduce_mean(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    (ct,), (x,) = cts, node.inputs
    e = Emit(graph, node)
    a: ReduceAttrs = node.attrs
    share = e.div(ct, _count(e, x, a.axes)) if a.axes else ct
    return [e.broadcast(_spread(e, share, x, a), x.shape)]


def _reduce_chooser(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """reduce_max / reduce_min: ``ct / k`` to each of the ``k`` positions equal to the result."""
    (ct,), (x,) = cts, node.inputs
    e = Emit(graph, node)
    a: ReduceAttrs = node.attrs
    hit = e.op(Op.EQUAL, [x, _spread(e, node.output, x, a)])
    count = e.sum(e.cast(hit, x.dtype), a.axes, keepdims=True)
    return [e.select(hit, e.div(_spread(e, ct, x, a), count), e.const(0, x.dtype))]


def _matmul(graph: Graph, node: Node, cts: tuple[Value | None, ...]) -> list[Value | None]:
    """``da = ct @ b^T`` and ``db = a^T @ ct``, summed over broadcast batch dims.

    When ``b`` is one matrix applied to a stack of static shape (a Dense layer on
    a sequence with a fixed batch), ``db`` contracts the whole stack in one
    matrix product instead of one product per stack entry followed by a sum.
    """
    (ct,) = cts
    a, b = node.inputs
    e = Emit(graph, node)
    ra, rb = a.type.rank, b.type.rank
    da = e.unbroadcast(e.op(Op.MATMUL, [ct, e.transpose(b, swap_last_two(rb))]), a.shape)
    if rb == 2 and ra > 2 and is_static(a.shape[:-1]):
        rows = 1
        for d in a.shape[:-1]:
            rows *= d
        a2 = e.reshape(a, (rows, a.shape[-1]))
        ct2 = e.reshape(ct, (rows, ct.shape[-1]))
        db = e.op(Op.MATMUL, [e.transpose(a2, (1, 0)), ct2])
    else:
        db = e.unbroadcast(e.op(Op.MATMUL, [e.transpose(a, swap_last_two(ra)), ct]), b.shape)
    return [da, db]


RULES: dict[Op, VjpRule] = {
    Op.REDUCE_SUM: _reduce_sum,
    Op.REDUCE_MEAN: _reduce_mean,
    Op.REDUCE_MAX: _reduce_chooser,
    Op.REDUCE_MIN: _reduce_chooser,
    Op.ARGMAX: no_gradient,
    Op.ARGMIN: no_gradient,
    Op.MATMUL: _matmul,
}

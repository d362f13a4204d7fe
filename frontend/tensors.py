"""The two symbolic tensor kinds.

``KerasTensor`` is what functional model construction passes around
(``Input`` returns one): a shape, a dtype and the history of which layer made
it. ``TracedTensor`` is an IR proxy used while tracing a model into a graph:
every ``horn.ops`` function given one emits an IR node instead of computing.
Both support Python operators by routing them to ``horn.ops``.
"""
from __future__ import annotations

from typing import Any

from ir.graph import Value
from ir.shapes import SymDim


class _ArithmeticMixin:
    """Python arithmetic routed to ``horn.ops``: for symbolic tensors and Variables alike."""

    def _ops(self):
        from frontend import ops
        return ops

    def __add__(self, o): return self._ops().add(self, o)
    def __radd__(self, o): return self._ops().add(o, self)
    def __sub__(self, o): return self._ops().subtract(self, o)
    def __rsub__(self, o): return self._ops().subtract(o, self)
    def __mul__(self, o): return self._ops().multiply(self, o)
    def __rmul__(self, o): return self._ops().multiply(o, self)
    def __truediv__(self, o): return self._ops().divide(self, o)
    def __rtruediv__(self, o): return self._ops().divide(o, self)
    def __pow__(self, o): return self._ops().power(self, o)
    def __rpow__(self, o): return self._ops().power(o, self)
    def __matmul__(self, o): return self._ops().matmul(self, o)
    def __rmatmul__(self, o): return self._ops().matmul(o, self)
    def __neg__(self): return self._ops().negative(self)
    def __abs__(self): return self._ops().abs(self)
    def __lt__(self, o): return self._ops().less(self, o)
    def __le__(self, o): return self._ops().less_equal(self, o)
    def __gt__(self, o): return self._ops().greater(self, o)
    def __ge__(self, o): return self._ops().greater_equal(self, o)
    def __getitem__(self, key): return self._ops().getitem(self, key)


class _OperatorMixin(_ArithmeticMixin):
    """Arithmetic plus the guards that only make sense for values unknown until run time."""

    def __bool__(self):
        raise TypeError(
            "A symbolic tensor cannot be used as a Python bool: control flow on tensor values "
            "is not traceable. Use horn.ops.where / horn.ops.cond-free formulations instead.")

    def __len__(self):
        d = self.shape[0] if self.shape else None
        if d is None:
            raise TypeError("len() of a symbolic tensor whose first dimension is not static")
        return d

    def __iter__(self):
        raise TypeError("Iterating over a symbolic tensor is not supported; index it instead.")

    @property
    def ndim(self) -> int:
        return len(self.shape)


class KerasTensor(_OperatorMixin):
    """A symbolic tensor of functional model construction."""

    def __init__(self, shape, dtype: str = "float32", name: str | None = None, sparse: bool = False):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        self.sparse = sparse
        self._keras_history: Any = None     # (operation, node_index, tensor_index)
        self._keras_mask: Any = None

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    # Hashable by identity (functional graphs key dicts on tensors).
    __hash__ = object.__hash__
    def __eq__(self, other):  # noqa: D105 - symbolic equality is an op, as in Keras
        return self._ops().equal(self, other)
    def __ne__(self, other):
        return self._ops().not_equal(self, other)


class TracedTensor(_OperatorMixin):
    """An IR value being traced, with the tracer that owns its graph."""

    def __init__(self, value: Value, tracer):
        self.value = value
        self.tracer = tracer
        self._keras_mask: Any = None

    @property
    def shape(self) -> tuple[int | None, ...]:
        return tuple(None if isinstance(d, SymDim) else d for d in self.value.shape)

    @property
    def dtype(self) -> str:
        return self.value.dtype.name

    def __repr__(self) -> str:
        return f"<TracedTensor %{self.value.name}: {self.value.type}>"

    __hash__ = object.__hash__
    def __eq__(self, other):
        return self._ops().equal(self, other)
    def __ne__(self, other):
        return self._ops().not_equal(self, other)


def is_symbolic(x: Any) -> bool:
    return isinstance(x, (KerasTensor, TracedTensor))

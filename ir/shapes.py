"""Shapes with symbolic dimensions, and the tensor type built from them.

A dimension is either a non-negative ``int`` or a :class:`SymDim`, a named
size known only at run time. The batch dimension of a model is ``BATCH``
(printed ``N``); later issues add more (sequence length). Everything that
computes a size works on symbolic dims too, and :func:`evaluate_shape` turns a
shape into concrete ints once the run-time sizes are known.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Union

from ir.dtypes import DType


@dataclass(frozen=True, slots=True)
class SymDim:
    """A dimension whose size is a run-time argument, identified by its name."""

    name: str

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


BATCH = SymDim("N")

Dim = Union[int, SymDim]
Shape = tuple  # tuple[Dim, ...]; an alias so signatures read as what they mean


def normalize_shape(dims: Iterable[object]) -> Shape:
    """Turns ``None`` into the batch dim and checks every dim is a size or a SymDim."""
    out: list[Dim] = []
    for d in dims:
        if d is None:
            out.append(BATCH)
        elif isinstance(d, SymDim):
            out.append(d)
        elif isinstance(d, bool) or not isinstance(d, (int,)) and not hasattr(d, "__index__"):
            raise TypeError(f"A shape dimension must be an int, None or SymDim. Received: {d!r}")
        else:
            i = int(d)  # type: ignore[arg-type]
            if i < 0:
                raise ValueError(f"A shape dimension must be non-negative. Received: {i}")
            out.append(i)
    return tuple(out)


def is_static(shape: Shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def symbols(shape: Shape) -> tuple[SymDim, ...]:
    return tuple(d for d in shape if isinstance(d, SymDim))


@dataclass(frozen=True, slots=True)
class Size:
    """A product ``coef * sym_1 * ... * sym_k``: the element count of a shape."""

    coef: int
    syms: tuple[str, ...] = ()

    def evaluate(self, bindings: Mapping[str, int]) -> int:
        n = self.coef
        for s in self.syms:
            n *= bindings[s]
        return n

    def __str__(self) -> str:
        return "*".join([str(self.coef), *self.syms]) if self.syms else str(self.coef)


def element_count(shape: Shape) -> Size:
    coef, syms = 1, []
    for d in shape:
        if isinstance(d, SymDim):
            syms.append(d.name)
        else:
            coef *= d
    return Size(coef, tuple(sorted(syms)))


def evaluate_shape(shape: Shape, bindings: Mapping[str, int]) -> tuple[int, ...]:
    """Concrete shape once every SymDim has a value."""
    try:
        return tuple(bindings[d.name] if isinstance(d, SymDim) else d for d in shape)
    except KeyError as exc:
        raise ValueError(f"No run-time size given for dimension {exc.args[0]} of shape "
                         f"{format_shape(shape)}") from None


def bind_symbols(shape: Shape, concrete: tuple[int, ...], bindings: dict[str, int], what: str) -> None:
    """Matches a concrete shape against a declared one, recording sizes of SymDims.

    Raises ValueError naming ``what`` when rank or a static dim differs, or a
    SymDim would take two different sizes.
    """
    if len(shape) != len(concrete):
        raise ValueError(f"{what}: expected shape {format_shape(shape, none_for_sym=True)} "
                         f"(rank {len(shape)}), received shape {tuple(concrete)} (rank {len(concrete)})")
    for d, c in zip(shape, concrete):
        if isinstance(d, SymDim):
            prev = bindings.setdefault(d.name, int(c))
            if prev != c:
                raise ValueError(f"{what}: dimension {d.name} is {c} here but {prev} elsewhere")
        elif d != c:
            raise ValueError(f"{what}: expected shape {format_shape(shape, none_for_sym=True)}, "
                             f"received shape {tuple(concrete)}")


def broadcast_shapes(*shapes: Shape) -> Shape:
    """Numpy broadcasting over shapes that may hold SymDims.

    A SymDim broadcasts against 1 and against itself; against any other size
    the result would depend on a run-time value, so it is an error.
    """
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        result: Dim = 1
        for d in dims:
            if d == 1:
                continue
            if result == 1:
                result = d
            elif result != d:
                raise ValueError("Shapes cannot be broadcast together: "
                                 + ", ".join(format_shape(s, none_for_sym=True) for s in shapes))
        out.append(result)
    return tuple(out)


def format_shape(shape: Shape, none_for_sym: bool = False) -> str:
    """``(None, 28, 28)`` in Keras' style when ``none_for_sym``, else ``[N,28,28]``."""
    if none_for_sym:
        parts = ["None" if isinstance(d, SymDim) else str(d) for d in shape]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    return "[" + ",".join(str(d) for d in shape) + "]"


@dataclass(frozen=True, slots=True)
class TensorType:
    """dtype and shape of an IR value."""

    dtype: DType
    shape: Shape

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, DType):
            object.__setattr__(self, "dtype", DType.from_any(self.dtype))
        object.__setattr__(self, "shape", normalize_shape(self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> Size:
        return element_count(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}{format_shape(self.shape)}"

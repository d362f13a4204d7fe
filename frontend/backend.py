"""Process-wide naming and defaults, as in ``keras.backend``."""
from __future__ import annotations

import collections
import re

_UIDS: collections.Counter[str] = collections.Counter()
_FLOATX = "float32"
_EPSILON = 1e-7


def get_uid(prefix: str = "") -> int:
    """1, 2, 3... per prefix; Keras names the first layer ``dense``, the next ``dense_1``."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def unique_name(prefix: str) -> str:
    n = get_uid(prefix)
    return prefix if n == 1 else f"{prefix}_{n - 1}"


def clear_session() -> None:
    """Resets layer-name counters."""
    _UIDS.clear()


def floatx() -> str:
    return _FLOATX


def epsilon() -> float:
    """The fuzz factor losses and metrics clip with (Keras' ``backend.epsilon()``, 1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor; graphs traced afterwards use the new value."""
    global _EPSILON
    _EPSILON = float(value)


def snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def standardize_dtype(dtype) -> str:
    """Keras' dtype names: ``"float32"`` etc."""
    from ir.dtypes import DType
    if dtype is None:
        return _FLOATX
    return DType.from_any(dtype).name

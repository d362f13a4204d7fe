"""Argument validation shared by the layer families, with Keras 3's messages.

Mirrors ``keras/src/utils/argument_validation.py`` so a bad argument reads the
same under Horn as under Keras ("Received: ...").
"""
from __future__ import annotations

from typing import Any, Sequence


def standardize_tuple(value: int | Sequence[int], n: int, name: str,
                      allow_zero: bool = False) -> tuple[int, ...]:
    """An int or ``n`` ints as a tuple of ``n`` non-negative (or positive) ints."""
    error_msg = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, int):
        value_tuple = (value,) * n
    else:
        try:
            value_tuple = tuple(value)
        except TypeError:
            raise ValueError(error_msg) from None
        if len(value_tuple) != n:
            raise ValueError(error_msg)
        for single in value_tuple:
            try:
                int(single)
            except (ValueError, TypeError):
                raise ValueError(error_msg + f"including element {single} of type "
                                 f"{type(single)}") from None
        value_tuple = tuple(int(v) for v in value_tuple)
    bad = {v for v in value_tuple if (v < 0 if allow_zero else v <= 0)}
    if bad:
        req = ">= 0" if allow_zero else "> 0"
        raise ValueError(error_msg + f", including values {bad} that do not satisfy `value {req}`")
    return value_tuple


def standardize_padding(value: str, allow_causal: bool = False) -> str:
    """'valid' / 'same' (/ 'causal'), case-insensitive, as Keras checks them."""
    padding = value.lower()
    allowed = {"valid", "same", "causal"} if allow_causal else {"valid", "same"}
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be a list/tuple or one of {allowed}. "
                         f"Received: {padding}")
    return padding


def standardize_data_format(data_format: str | None, layer: str) -> str:
    """Horn layers are channels-last only; 'channels_first' is refused, naming what works."""
    if data_format is None:
        return "channels_last"
    fmt = str(data_format).lower()
    if fmt == "channels_last":
        return fmt
    if fmt == "channels_first":
        raise ValueError(
            f"{layer}: data_format='channels_first' is not supported by Horn; only "
            "'channels_last' (inputs shaped (batch, *spatial, channels)) is.")
    raise ValueError("The `data_format` argument must be one of {'channels_first', "
                     f"'channels_last'}}. Received: data_format={data_format}")


def pop_activity_regularizer(kwargs: dict[str, Any]) -> Any:
    """Keras' base Layer takes ``activity_regularizer``; Horn's Layer does not, so each
    family that Keras lets take it pops it here and keeps it for get_config."""
    return kwargs.pop("activity_regularizer", None)

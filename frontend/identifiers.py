"""Resolving a Keras identifier (name, config dict, class or callable) to an object."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping


def resolve_identifier(identifier: Any, table: Mapping[str, Any], deserialize: Callable[[dict], Any],
                       kind: str) -> Any:
    """``keras.losses.get`` / ``keras.metrics.get``: a class is instantiated, a callable returned.

    Raises Keras' ``Could not interpret {kind} identifier: ...`` otherwise.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = table.get(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj() if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret {kind} identifier: {identifier}")

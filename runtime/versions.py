"""Weight versions: how compiled code learns that weights changed without comparing arrays.

Every write to a weight through Horn bumps that weight's version and the
process-wide :data:`EPOCH` (``Variable.assign``, and the compiled steps that
update parameters in place: ``runtime.executable.Executable`` bumps the
bindings its graph updates after each call). An executable with a hoisted
prologue (``runtime.hoist``) compares one integer per call, the epoch, and
only when it moved compares the versions of the weights its prologue reads.
Writing into ``variable.numpy()`` directly bypasses this; use ``assign``.
"""
from __future__ import annotations

EPOCH = [0]     # a list so that readers holding the module see the live value cheaply


def bump() -> None:
    """Something somewhere changed a weight."""
    EPOCH[0] += 1

"""Keras' progress bar: ``3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 674us/step``."""
from __future__ import annotations

import os
import sys
import time


class Progbar:
    """Prints progress over ``target`` steps; verbose 0 silent, 1 bar, 2 one line at the end."""

    def __init__(self, target: int, width: int = 20, verbose: int = 1, unit_name: str = "step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.unit_name = unit_name
        self._start = time.perf_counter()
        # Redraw in place only on a terminal; elsewhere (CI logs, pipes) print the final line once.
        self._dynamic = (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules

    def _line(self, current: int) -> str:
        elapsed = time.perf_counter() - self._start
        per_step = elapsed / max(current, 1)
        filled = int(self.width * current / max(self.target, 1))
        bar = "━" * filled + ("━" * (self.width - filled) if self._dynamic else " " * (self.width - filled))
        if per_step >= 1:
            rate = f"{per_step:.0f}s/{self.unit_name}"
        elif per_step >= 1e-3:
            rate = f"{per_step * 1e3:.0f}ms/{self.unit_name}"
        else:
            rate = f"{per_step * 1e6:.0f}us/{self.unit_name}"
        digits = len(str(self.target))
        return f"{current:>{digits}}/{self.target} {bar} {elapsed:.0f}s {rate}"

    def update(self, current: int) -> None:
        if self.verbose == 0:
            return
        done = current >= self.target
        if self.verbose == 1 and self._dynamic:
            sys.stdout.write("\r" + self._line(current) + ("\n" if done else ""))
            sys.stdout.flush()
        elif done:
            sys.stdout.write(self._line(current) + os.linesep)
            sys.stdout.flush()

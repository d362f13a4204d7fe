"""Keras' progress bar: ``3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 674us/step - accuracy: 0.9000 - loss: 0.3000``.

verbose=1 redraws one line in place on a terminal (throttled to ``interval``
seconds, so a fast compiled step does not spend its time printing); anywhere
else (CI logs, pipes) it prints only the final line, so logs stay one line per
epoch. verbose=2 prints Keras' one-line summary at the end:
``1875/1875 - 3s - 2ms/step - accuracy: 0.9000 - loss: 0.3000``.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Iterable, Sequence


def _format_value(value) -> str:
    """Keras prints metrics with four decimals, or in scientific notation when tiny."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return f" {value}"
    return f" {v:.4f}" if abs(v) > 1e-3 else f" {v:.4e}"


def format_time_per_unit(seconds: float, unit_name: str) -> str:
    """``" 2ms/step"``: whole seconds, milliseconds or microseconds, as Keras chooses."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


class Progbar:
    """Prints progress over ``target`` steps (None: unknown); verbose 0 silent, 1 bar, 2 one line.

    ``values`` passed to :meth:`update` are ``(name, value)`` pairs. As in
    ``keras.utils.Progbar``, a metric is averaged over the steps seen unless it is
    stateful; by default every metric is stateless (averaged), ``stateful_metrics``
    lists exceptions, and ``stateless_metrics`` (exclusive with it) flips the
    default. Keras' ProgbarLogger passes ``stateless_metrics=set()`` because a
    trainer's logs are already running averages.
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics: Iterable[str] | None = None,
                 stateless_metrics: Iterable[str] | None = None, unit_name: str = "step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = None if stateless_metrics is not None else set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        # Redraw in place only on a terminal; elsewhere print the final line once.
        self._dynamic = (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules
        self._values: dict[str, list[float]] = {}
        self._order: list[str] = []
        self._seen = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._after_first_step: float | None = None
        self._prev_width = 0

    # -- bookkeeping --------------------------------------------------------
    def _is_stateless(self, name: str) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _record(self, current: int, values: Sequence[tuple[str, float]], finalize: bool) -> None:
        for name, value in values:
            if name not in self._order:
                self._order.append(name)
            if self._is_stateless(name) and not finalize:
                # Weight by the steps since the last update so sparse updates average right.
                steps = max(current - self._seen, 1)
                total, count = self._values.get(name, [0.0, 0])
                self._values[name] = [total + float(value) * steps, count + steps]
            else:
                # Stateful metrics, and the final (already aggregated) values, show as they are.
                self._values[name] = [value, 1]

    def _step_time(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the first step (it includes compiling) once there are more."""
        if not current:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_step = (now - self._after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1 and self._after_first_step is None:
            self._after_first_step = now
        return per_step

    def _metrics_text(self) -> str:
        parts = []
        for name in self._order:
            total, count = self._values[name]
            try:
                shown = _format_value(float(total) / max(1, count))
            except (TypeError, ValueError):
                shown = f" {total}"
            parts.append(f" - {name}:{shown}")
        return "".join(parts)

    # -- drawing ------------------------------------------------------------
    def _bar_line(self, current: int, now: float, per_step: float, finalize: bool) -> str:
        if self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            filled = min(int(self.width * current / self.target), self.width)
            rest = "━" if self._dynamic else " "
            head = f"{current:>{digits}}/{self.target} {'━' * filled}{rest * (self.width - filled)}"
        else:
            head = f"{current:7d}/Unknown"
        if self.target is not None and self.target > 0 and not finalize:
            eta = per_step * (self.target - current)
            if eta > 3600:
                when = f"{int(eta // 3600)}:{int(eta % 3600) // 60:02d}:{int(eta % 60):02d}"
            elif eta > 60:
                when = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                when = f"{int(eta)}s"
        else:
            when = f"{now - self._start:.0f}s"
        return f"{head} {when}{format_time_per_unit(per_step, self.unit_name)}{self._metrics_text()}"

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def update(self, current: int, values: Sequence[tuple[str, float]] | None = None,
               finalize: bool | None = None) -> None:
        """Records step ``current`` (1-based) with ``(name, value)`` pairs and redraws if due."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, list(values or ()), finalize)
        self._seen = current
        now = time.perf_counter()
        per_step = self._step_time(current, now)
        if self.verbose == 1:
            if self._dynamic:
                if not finalize and now - self._last_draw < self.interval:
                    return
                line = self._bar_line(current, now, per_step, finalize)
                pad = " " * max(self._prev_width - len(line), 0)  # erase a longer previous line
                self._prev_width = len(line)
                self._write("\r" + line + pad + ("\n" if finalize else ""))
            elif finalize:
                self._write(self._bar_line(current, now, per_step, True) + os.linesep)
        elif self.verbose == 2 and finalize:
            if self.target is not None and self.target > 0:
                digits = int(math.log10(self.target)) + 1
                count = f"{current:>{digits}}/{self.target}"
            else:
                count = f"{current}/Unknown"
            self._write(f"{count} - {now - self._start:.0f}s -"
                        f"{format_time_per_unit(per_step, self.unit_name)}{self._metrics_text()}"
                        + os.linesep)
        self._last_draw = now

    def add(self, n: int, values: Sequence[tuple[str, float]] | None = None) -> None:
        """Advances by ``n`` steps."""
        self.update(self._seen + n, values)

"""``model.summary()`` in Keras 3's table format, without a rendering dependency.

Column widths follow Keras (positions of ``line_length``); the box is the one
rich draws for Keras (heavy head, a rule between rows), and the table width
is fitted the way rich does it (the borders' room taken evenly from columns).
"""
from __future__ import annotations

import shutil
import textwrap

import numpy as np

from frontend.layer import Layer, flatten


def _fit(widths: list[int], total: int) -> list[int]:
    excess = sum(widths) + len(widths) + 1 - total
    out, remaining, n = [], excess, len(widths)
    for w in widths:
        take = round(remaining / n) if n else 0
        out.append(w - take)
        remaining -= take
        n -= 1
    return out


def _shape_text(layer: Layer) -> str:
    if not layer._inbound_nodes:
        return "?"
    outs = flatten(layer._inbound_nodes[-1].output_structure)
    texts = ["(" + ", ".join("None" if d is None else str(d) for d in t.shape) + ")" for t in outs]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _connections(layer: Layer, nodes) -> str:
    parts = []
    for node in layer._inbound_nodes:
        if nodes is not None and all(node is not n for n in nodes):
            continue
        for kt in node.inputs:
            src, ni, ti = kt._keras_history
            parts.append(f"{src.name}[{ni}][{ti}]")
    return ", ".join(parts) or "-"


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _memory(weights) -> str:
    size = float(sum(int(np.prod(w.shape)) * w.numpy().itemsize for w in weights))
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _sequential_like(model) -> bool:
    from frontend.models.sequential import Sequential
    from frontend.models.functional import Functional
    if isinstance(model, Sequential) or not isinstance(model, Functional):
        return True
    for node in model._nodes:
        if len(node.inputs) > 1 or len(node.layer._inbound_nodes) > 1:
            return False
    return len(model.inputs) == 1 and len(model.outputs) == 1


def render_summary(model, line_length: int | None = None, positions=None, show_trainable: bool = False) -> str:
    seq = _sequential_like(model)
    if seq:
        default, positions = 88, positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        align = ["left", "left", "right"]
    else:
        default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["left", "left", "right", "left"]
    if show_trainable:
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        align.append("left")
    # As Keras: never wider than the terminal (less a margin), so the table never wraps.
    line_length = line_length or min(default, shutil.get_terminal_size().columns - 4)
    widths, current = [], 0
    for pos in positions:
        w = int(pos * line_length) - current
        widths.append(w)
        current += w
    cells = _fit(widths, line_length)          # each cell includes one space of padding per side
    inner = [c - 2 for c in cells]

    def row(fields: list[str], bar: str) -> list[str]:
        wrapped = [_wrap(f, w) for f, w in zip(fields, inner)]
        height = max(len(w) for w in wrapped)
        lines = []
        for k in range(height):
            parts = []
            for col, w in enumerate(inner):
                text = wrapped[col][k] if k < len(wrapped[col]) else ""
                parts.append(" " + (text.rjust(w) if align[col] == "right" else text.ljust(w)) + " ")
            lines.append(bar + bar.join(parts) + bar)
        return lines

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * c for c in cells) + right

    from frontend.models.functional import Functional
    nodes = model._nodes if isinstance(model, Functional) else None
    layers = model.layers
    if isinstance(model, Functional):
        layers = model.layers
    lines = [f'Model: "{model.name}"', rule("┏", "┳", "┓", "━")]
    lines += row(header, "┃")
    lines.append(rule("┡", "╇", "┩", "━"))
    for i, layer in enumerate(layers):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        fields = [f"{layer.name} ({type(layer).__name__})", _shape_text(layer), params]
        if not seq:
            fields.append(_connections(layer, nodes))
        if show_trainable:
            fields.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        if i:
            lines.append(rule("├", "┼", "┤", "─"))
        lines += row(fields, "│")
    lines.append(rule("└", "┴", "┘", "─"))
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    t_count = sum(int(np.prod(w.shape)) for w in trainable)
    n_count = sum(int(np.prod(w.shape)) for w in non_trainable)
    lines.append(f" Total params: {t_count + n_count:,} ({_memory(trainable + non_trainable)})")
    lines.append(f" Trainable params: {t_count:,} ({_memory(trainable)})")
    lines.append(f" Non-trainable params: {n_count:,} ({_memory(non_trainable)})")
    return "\n".join(lines)


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False) -> None:
    text = render_summary(model, line_length, positions, show_trainable)
    (print_fn or print)(text)

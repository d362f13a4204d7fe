"""From the workers' results to tables of medians, Horn/peer ratios and the issue's goals.

``table_of`` gathers the headline figures per (model, threads) and system;
``goals`` checks issue 4's targets against them; ``text`` and ``markdown``
render the same tables for the terminal and for the README.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

SYSTEM_LABELS = {"horn": "Horn", "onnxruntime": "ORT", "keras-jax": "Keras-JAX", "pytorch": "PyTorch"}
MODEL_LABELS = {"mlp": "MLP", "convnet_s": "convnet-S", "convnet_l": "convnet-L"}
GEMM_GOAL_SIZES = (512, 1024, 2048)


def _get(d: dict | None, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def metrics(result: dict, batch: int) -> dict[str, float | None]:
    """The headline numbers of one worker's result (None where the system has no such figure)."""
    b1 = _get(result, "predict", "b1", "median_s")
    bn = _get(result, "predict", f"b{batch}", "median_s")
    return {
        "latency_ms": None if b1 is None else b1 * 1e3,
        "throughput": None if bn is None else batch / bn,
        "train_sps": _get(result, "train", "samples_per_s"),
        "compile_predict_s": _get(result, "compile", "predict", "total_s"),
        "compile_train_s": _get(result, "compile", "train_step", "total_s"),
        "compile_train_cold_s": _get(result, "compile", "cold", "train_step", "total_s"),
        "first_epoch_overhead_s": _get(result, "compile", "first_epoch_overhead_s"),
        "session_create_s": _get(result, "compile", "session_create_s"),
        "peak_rss_mb": _get(result, "memory", "peak_rss_mb"),
        **{f"compile_{g}_{p}_s": _get(result, "compile", graph, f"{p}_s")
           for g, graph in (("predict", "predict"), ("train", "train_step")) for p in ("trace", "passes", "codegen")},
        "arena_predict_mb": _mb(_get(result, "memory", "arena_predict_bytes")),
        "arena_train_mb": _mb(_get(result, "memory", "arena_train_bytes")),
        "bound_predict_mb": _mb(_get(result, "memory", "lower_bound_predict_bytes")),
        "bound_train_mb": _mb(_get(result, "memory", "lower_bound_train_bytes")),
    }


def _mb(nbytes):
    return None if nbytes is None else nbytes / 2 ** 20


def table_of(runs: list[dict], batch: int) -> dict[tuple[str, int], dict[str, dict]]:
    """{(model, threads): {system: metrics}} over the successful runs."""
    out: dict[tuple[str, int], dict[str, dict]] = {}
    for run in runs:
        if run.get("status") == "ok" and run["system"] in SYSTEM_LABELS:
            out.setdefault((run["model"], run["threads"]), {})[run["system"]] = metrics(run["result"], batch)
    return out


@dataclass(frozen=True)
class Goal:
    """One of issue 4's targets for one model (or GEMM size) at one thread count."""

    what: str
    subject: str
    threads: int
    value: float | None     # Horn's ratio to the reference (or seconds, for compile time)
    target: str
    met: bool | None        # None: not measurable in this run
    note: str = ""

    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "n/a"}[self.met]


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def goals(runs: list[dict], gemm: list[dict], batch: int) -> list[Goal]:
    """Issue 4's goals, each as measured with each thread count in this run."""
    table = table_of(runs, batch)
    out: list[Goal] = []
    keys = sorted(table, key=lambda k: (k[1], list(MODEL_LABELS).index(k[0]) if k[0] in MODEL_LABELS else 9))
    for model, threads in keys:
        row = table[(model, threads)]
        horn, ort = row.get("horn", {}), row.get("onnxruntime", {})
        label = MODEL_LABELS.get(model, model)
        limit = {"mlp": 0.5, "convnet_s": 0.8, "convnet_l": 1.1}.get(model)
        r = _ratio(horn.get("latency_ms"), ort.get("latency_ms"))
        if limit is not None:
            out.append(Goal("predict latency, batch 1 (Horn/ORT)", label, threads, r, f"<= {limit}x",
                            None if r is None else r <= limit, _missing(horn, ort, "latency_ms")))
        floor = {"mlp": 1.0, "convnet_s": 1.0, "convnet_l": 0.9}.get(model)
        r = _ratio(horn.get("throughput"), ort.get("throughput"))
        if floor is not None:
            out.append(Goal(f"predict throughput, batch {batch} (Horn/ORT)", label, threads, r,
                            f">= {floor}x", None if r is None else r >= floor, _missing(horn, ort, "throughput")))
        peers = [row.get(p, {}).get("train_sps") for p in ("pytorch", "keras-jax")]
        peers = [p for p in peers if p is not None]
        floor = {"mlp": 2.0, "convnet_s": 2.0, "convnet_l": 1.3}.get(model)
        r = _ratio(horn.get("train_sps"), max(peers) if peers else None)
        if floor is not None:
            out.append(Goal("training throughput (Horn/best of PyTorch, Keras-JAX)", label, threads, r,
                            f">= {floor}x", None if r is None else r >= floor,
                            "" if r is not None else "needs Horn" if horn.get("train_sps") is None
                            else "needs PyTorch or Keras-JAX"))
        if model == "convnet_s":
            c = horn.get("compile_train_s")
            out.append(Goal("compile time, train step: trace + passes + codegen (s)", label, threads, c,
                            "< 2 s", None if c is None else c < 2.0, "" if c is not None else "needs Horn"))
    for row in sorted(gemm, key=lambda g: (g["threads"], g["size"])):
        if row["size"] not in GEMM_GOAL_SIZES:
            continue
        r = _ratio(row.get("horn_gflops"), row.get("numpy_gflops"))
        out.append(Goal("GEMM GFLOP/s (Horn/numpy)", f"{row['size']}^3", row["threads"], r, ">= 0.8x",
                        None if r is None else r >= 0.8))
    return out


def _missing(horn: dict, ort: dict, key: str) -> str:
    missing = [name for name, m in (("Horn", horn), ("ORT", ort)) if m.get(key) is None]
    return f"needs {' and '.join(missing)}" if missing else ""


# -- rendering ---------------------------------------------------------------------------------

def fmt_ms(v):
    return "-" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}")


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e5:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_s(v):
    return "-" if v is None else f"{v:.2f}"


def fmt_x(v):
    return "-" if v is None else f"{v:.2f}x"


def fmt_mb(v):
    return "-" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


Cell = Callable[[dict], str]     # {system: metrics} of one (model, threads) -> the cell's text


@dataclass(frozen=True)
class Table:
    """Rows of one measure; its columns are the (model, threads) pairs of the run."""

    title: str
    rows: tuple[tuple[str, Cell], ...]


def _of(system: str, key: str, fmt) -> Cell:
    return lambda row: fmt(row.get(system, {}).get(key))


def _vs_ort(key: str) -> Cell:
    return lambda row: fmt_x(_ratio(row.get("horn", {}).get(key), row.get("onnxruntime", {}).get(key)))


def _phases(graph: str) -> Cell:
    def cell(row):
        h = row.get("horn", {})
        parts = [h.get(f"{graph}_{p}_s") for p in ("trace", "passes", "codegen")]
        return "-" if any(v is None for v in parts) else " / ".join(f"{v:.2f}" for v in parts)
    return cell


def _arena(graph: str) -> Cell:
    def cell(row):
        h = row.get("horn", {})
        arena, bound = h.get(f"arena_{graph}_mb"), h.get(f"bound_{graph}_mb")
        return fmt_mb(arena) + ("" if bound is None else f" ({fmt_mb(bound)})")
    return cell


def tables(batch: int) -> list[Table]:
    every = ("horn", "onnxruntime", "keras-jax", "pytorch")
    per_system = lambda key, fmt, systems=every: tuple(  # noqa: E731
        (SYSTEM_LABELS[s], _of(s, key, fmt)) for s in systems)
    return [
        Table("predict latency, batch 1 (ms; lower is better)",
              per_system("latency_ms", fmt_ms) + (("Horn/ORT (goal <= 0.5, 0.8, 1.1)", _vs_ort("latency_ms")),)),
        Table(f"predict throughput, batch {batch} (samples/s)",
              per_system("throughput", fmt_rate) + (("Horn/ORT (goal >= 1, 1, 0.9)", _vs_ort("throughput")),)),
        Table(f"training throughput, Adam, batch {batch} (samples/s, steady epoch)",
              per_system("train_sps", fmt_rate, ("horn", "keras-jax", "pytorch"))
              + (("Horn/best peer (goal >= 2, 2, 1.3)", lambda row: fmt_x(_best_trainer(row))),)),
        Table("compile time (s)", (
            ("Horn predict: trace + passes + codegen", _of("horn", "compile_predict_s", fmt_s)),
            ("  trace / passes / codegen", _phases("compile_predict")),
            ("Horn train step: trace + passes + codegen (goal < 2 for convnet-S)",
             _of("horn", "compile_train_s", fmt_s)),
            ("  trace / passes / codegen", _phases("compile_train")),
            ("  the first in its process (imports, LLVM start-up)", _of("horn", "compile_train_cold_s", fmt_s)),
            ("Keras-JAX: first-epoch overhead", _of("keras-jax", "first_epoch_overhead_s", fmt_s)),
            ("ORT: session creation", _of("onnxruntime", "session_create_s", fmt_s)))),
        Table("peak memory (MiB)",
              tuple((f"{SYSTEM_LABELS[s]} worker (ru_maxrss)", _of(s, "peak_rss_mb", fmt_mb)) for s in every) + (
                  (f"Horn arena, predict at batch {batch} (lower bound)", _arena("predict")),
                  (f"Horn arena, train step at batch {batch} (lower bound)", _arena("train")))),
    ]


def _best_trainer(row: dict) -> float | None:
    peers = [row.get(p, {}).get("train_sps") for p in ("pytorch", "keras-jax")]
    peers = [p for p in peers if p is not None]
    return _ratio(row.get("horn", {}).get("train_sps"), max(peers) if peers else None)


def _columns(table: dict) -> list[tuple[str, int]]:
    order = list(MODEL_LABELS)
    return sorted(table, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0], k[1]))


def _grid(t: Table, table: dict) -> tuple[list[str], list[list[str]]] | None:
    cols = _columns(table)
    header = [""] + [f"{MODEL_LABELS.get(m, m)}, {n} thread{'s' if n > 1 else ''}" for m, n in cols]
    body = []
    for label, cell in t.rows:
        cells = [cell(table[c]) for c in cols]
        if any(c.strip("- x") for c in cells):
            body.append([label] + cells)
    return (header, body) if body else None


def _gemm_grid(gemm: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["size", "threads", "Horn GFLOP/s", "numpy GFLOP/s", "Horn/numpy (goal >= 0.8)"]
    body = [[f"{g['size']}^3", str(g["threads"]), f"{g['horn_gflops']:.1f}", f"{g['numpy_gflops']:.1f}",
             fmt_x(_ratio(g["horn_gflops"], g["numpy_gflops"]))]
            for g in sorted(gemm, key=lambda g: (g["threads"], g["size"]))]
    return header, body


def _goal_grid(gl: list[Goal]) -> tuple[list[str], list[list[str]]]:
    header = ["goal", "subject", "threads", "measured", "target", "verdict"]
    body = [[g.what, g.subject, str(g.threads),
             (fmt_s(g.value) + " s" if "(s)" in g.what and g.value is not None else fmt_x(g.value)),
             g.target, g.verdict() + (f" ({g.note})" if g.note and g.met is None else "")] for g in gl]
    return header, body


def _all(runs, gemm, batch):
    table = table_of(runs, batch)
    out = []
    if table:
        for t in tables(batch):
            grid = _grid(t, table)
            if grid:
                out.append((t.title, *grid))
    if gemm:
        out.append(("GEMM, float32, square (GFLOP/s, median)", *_gemm_grid(gemm)))
    gl = goals(runs, gemm, batch)
    if gl:
        out.append(("issue 4 goals, as measured", *_goal_grid(gl)))
    return out


def text(runs: list[dict], gemm: list[dict], batch: int) -> str:
    """The tables as aligned plain text."""
    parts = []
    for title, header, body in _all(runs, gemm, batch):
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        parts.append("\n".join([title, line(header)] + [line(r) for r in body]))
    return "\n\n".join(parts)


def markdown(runs: list[dict], gemm: list[dict], batch: int, preamble: str) -> str:
    """The tables as GitHub markdown, after ``preamble`` (the machine and versions)."""
    parts = [preamble.strip()]
    for title, header, body in _all(runs, gemm, batch):
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"

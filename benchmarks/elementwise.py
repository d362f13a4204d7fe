"""Elementwise and reduction kernels, Horn against numpy, at a convnet activation's size.

    python benchmarks/elementwise.py [--shape 128,26,26,32] [--repeats 15] [--threads 1,2] [--json out.json]

Each row is one op compiled on its own (a one-node graph, the batch axis symbolic as
in a model) and called through ``Executable`` exactly as a user would (output
allocated per call, as numpy allocates its result). For each Horn thread count,
Horn and numpy are timed alternately, one call each per round, so load from other
processes hits them alike; the medians are printed with the traffic they imply
(bytes read + written / median time) and the speed ratio numpy time / Horn time
against the numpy calls of the same phase (> 1: Horn is faster). numpy is
single-threaded; the numpy column shows its median from the first phase.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ir import DType, Graph, Op, TensorType  # noqa: E402
from ir.attrs import ReduceAttrs  # noqa: E402
from runtime import threads  # noqa: E402
from runtime.executable import Executable  # noqa: E402

F32 = DType.float32


def _unary(op: Op) -> Callable[[tuple[int, ...]], Graph]:
    def make(shape: tuple[int, ...]) -> Graph:
        g = Graph(str(op))
        x = g.add_input(TensorType(F32, (None, *shape[1:])), "x")
        g.set_outputs([g.add_node(op, [x]).output])
        return g
    return make


def _bias_add(shape: tuple[int, ...]) -> Graph:
    g = Graph("bias_add")
    x = g.add_input(TensorType(F32, (None, *shape[1:])), "x")
    b = g.add_input(TensorType(F32, (shape[-1],)), "b")
    g.set_outputs([g.add_node(Op.ADD, [x, b]).output])
    return g


def _reduce(op: Op, axes: tuple[int, ...]) -> Callable[[tuple[int, ...]], Graph]:
    def make(shape: tuple[int, ...]) -> Graph:
        g = Graph(f"{op}{axes}")
        x = g.add_input(TensorType(F32, (None, *shape[1:])), "x")
        g.set_outputs([g.add_node(op, [x], ReduceAttrs(axes)).output])
        return g
    return make


def _sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cases(rank: int):
    """(name, graph maker, numpy function, uses the bias input)."""
    last = rank - 1
    return [
        ("exp", _unary(Op.EXP), np.exp, False),
        ("tanh", _unary(Op.TANH), np.tanh, False),
        ("sigmoid", _unary(Op.SIGMOID), _sigmoid_np, False),
        ("add bias (C,)", _bias_add, lambda x, b: x + b, True),
        ("sum last axis", _reduce(Op.REDUCE_SUM, (last,)), lambda x: x.sum(axis=last), False),
        ("sum batch axis", _reduce(Op.REDUCE_SUM, (0,)), lambda x: x.sum(axis=0), False),
        ("sum to (C,) (bias grad)", _reduce(Op.REDUCE_SUM, tuple(range(last))),
         lambda x: x.sum(axis=tuple(range(last))), False),
        ("mean spatial (GAP)", _reduce(Op.REDUCE_MEAN, tuple(range(1, last))),
         lambda x: x.mean(axis=tuple(range(1, last))), False),
        ("max last axis", _reduce(Op.REDUCE_MAX, (last,)), lambda x: x.max(axis=last), False),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="128,26,26,32")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", default="1,2", help="Horn thread counts to time, comma separated")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    counts = [int(t) for t in args.threads.split(",")]
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, shape).astype(np.float32)
    bias = rng.uniform(-1, 1, shape[-1]).astype(np.float32)
    before = threads.get_num_threads()
    rows = []
    print(f"shape {shape} float32, {args.repeats} rounds, medians")
    print(f"{'op':26s}" + "".join(f"{f'horn {t}T ms':>13s}{'GB/s':>7s}" for t in counts)
          + f"{'numpy ms':>10s}{'GB/s':>7s}" + "".join(f"{f'x np {t}T':>9s}" for t in counts)
          + "  (ratio of the fastest calls)")
    try:
        for name, make, ref, with_bias in cases(len(shape)):
            exe = Executable(make(shape))
            inputs = (x, bias) if with_bias else (x,)
            want = ref(*inputs)
            threads.set_num_threads(counts[0])
            got = exe(*inputs)[0]
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
            nbytes = sum(a.nbytes for a in inputs) + want.nbytes
            # One phase per thread count, Horn and numpy alternating within it: the OpenMP
            # team of a multi-threaded call keeps spinning for a while afterwards, which
            # would slow down whatever runs next on a 2-core machine.
            times: dict[str, list[float]] = {}
            for t in counts:
                threads.set_num_threads(t)
                hs, ns = times.setdefault(f"horn{t}", []), times.setdefault(f"numpy{t}", [])
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    exe(*inputs)
                    hs.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    ref(*inputs)
                    ns.append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            line = f"{name:26s}"
            for t in counts:
                line += f"{1e3 * med[f'horn{t}']:13.3f}{nbytes / med[f'horn{t}'] / 1e9:7.1f}"
            numpy_med = med[f"numpy{counts[0]}"]
            line += f"{1e3 * numpy_med:10.3f}{nbytes / numpy_med / 1e9:7.1f}"
            line += "".join(f"{med[f'numpy{t}'] / med[f'horn{t}']:9.2f}" for t in counts)
            line += "  min:" + "".join(f" {min(times[f'numpy{t}']) / min(times[f'horn{t}']):.2f}" for t in counts)
            print(line, flush=True)
            rows.append({"op": name, "bytes": nbytes, "median_s": med,
                         "min_s": {k: min(v) for k, v in times.items()}})
    finally:
        threads.set_num_threads(before)
    if args.json:
        args.json.write_text(json.dumps({"shape": shape, "repeats": args.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

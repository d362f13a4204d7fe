"""Per-kernel times of the seed convnets' convolutions at batch 128: forward, input and kernel grads.

    python benchmarks/conv.py [--model s|l|all] [--repeats 7] [--batch 128] [--threads 1,2]
                              [--clock wall|thread] [--json out.json]

Each row is a small graph compiled on its own: the forward CONV node; the input
gradient and the kernel gradient exactly as autodiff builds them (the VJP rule of
``passes/vjp/window.py`` applied to one conv node, so what is timed is what a
train step runs, transposes and reductions included). All rows are timed
round-robin, one call each per round and per thread count (``runtime.threads``); the
median and the fastest round are printed, with GFLOP/s of the median (2 * multiply-adds
of the convolution, whatever the formulation). On a shared machine the minimum is the
steadier figure, and ``--clock thread`` (CPU time of the calling thread, meaningful with
``--threads 1`` only) is steadier still.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ir import DType, Graph, Op, TensorType  # noqa: E402
from ir.attrs import ConvAttrs  # noqa: E402
from passes.vjp.emit import Emit  # noqa: E402
from passes.vjp.window import _conv_input_grad, _conv_kernel_grad  # noqa: E402
from runtime import threads  # noqa: E402
from runtime.executable import Executable  # noqa: E402


@dataclass(frozen=True)
class Layer:
    name: str
    hw: int          # input height = width
    cin: int
    cout: int
    k: int = 3


MODELS = {
    "s": [Layer("S conv1", 28, 1, 32), Layer("S conv2", 13, 32, 64)],
    "l": [Layer("L conv1", 28, 1, 64), Layer("L conv2", 26, 64, 64), Layer("L conv3", 12, 64, 128),
          Layer("L conv4", 10, 128, 128)],
}


def _graphs(layer: Layer, batch: int) -> dict[str, Graph]:
    """forward, input-grad and kernel-grad graphs of one valid, stride-1 conv layer."""
    attrs = ConvAttrs((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1)
    out_hw = layer.hw - layer.k + 1
    x_t = TensorType(DType.float32, (batch, layer.hw, layer.hw, layer.cin))
    w_t = TensorType(DType.float32, (layer.k, layer.k, layer.cin, layer.cout))
    ct_t = TensorType(DType.float32, (batch, out_hw, out_hw, layer.cout))
    graphs = {}
    g = Graph("fwd")
    x, w = g.add_input(x_t, "x"), g.add_input(w_t, "w")
    conv = g.add_node(Op.CONV, [x, w], attrs, name="conv")
    g.set_outputs([conv.output])
    graphs["forward"] = g
    for kind, rule in (("input-grad", _conv_input_grad), ("kernel-grad", _conv_kernel_grad)):
        g = Graph(kind)
        x, w, ct = g.add_input(x_t, "x"), g.add_input(w_t, "w"), g.add_input(ct_t, "ct")
        node = g.add_node(Op.CONV, [x, w], attrs, name="conv")   # rules read attrs and names only
        out = rule(Emit(g, node), x, w, ct, attrs)
        g.remove_node(node)
        g.set_outputs([out])
        graphs[kind] = g
    return graphs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["s", "l", "all"], default="all")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", default=str(threads.get_num_threads()),
                   help="comma-separated thread counts, interleaved (default: the current setting)")
    p.add_argument("--clock", choices=["wall", "thread"], default="wall")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    if args.clock == "thread" and args.threads != "1":
        p.error("--clock thread measures the calling thread only: use it with --threads 1")
    counts = [int(t) for t in args.threads.split(",")]
    rng = np.random.default_rng(0)
    layers = [l for m in ("s", "l") if args.model in (m, "all") for l in MODELS[m]]
    rows = []
    for layer in layers:
        out_hw = layer.hw - layer.k + 1
        flops = 2.0 * args.batch * out_hw * out_hw * layer.cout * layer.k * layer.k * layer.cin
        for kind, g in _graphs(layer, args.batch).items():
            if kind == "input-grad" and layer.cin == 1:
                continue          # a first layer's input gradient is never computed in training
            exe = Executable(g)
            inputs = [rng.standard_normal(tuple(v.shape)).astype(np.float32) for v in g.inputs]
            exe(*inputs)          # warm-up: page in the arena and the outputs
            for n in counts:
                rows.append({"layer": layer.name, "kind": kind, "flops": flops, "exe": exe, "threads": n,
                             "inputs": inputs, "times": [], "kernels": exe.kernel_count})
    for _ in range(args.repeats):
        for r in rows:
            threads.set_num_threads(r["threads"])
            t = clock()
            r["exe"](*r["inputs"])
            r["times"].append(clock() - t)
    print(f"{'layer':<9} {'kind':<12} {'threads':>7} {'kernels':>7} {'median ms':>10} {'min ms':>8} "
          f"{'GFLOP/s':>8}")
    report = []
    for r in rows:
        med, best = statistics.median(r["times"]), min(r["times"])
        print(f"{r['layer']:<9} {r['kind']:<12} {r['threads']:>7} {r['kernels']:>7} {med * 1e3:>10.2f} "
              f"{best * 1e3:>8.2f} {r['flops'] / med / 1e9:>8.1f}")
        report.append({"layer": r["layer"], "kind": r["kind"], "threads": r["threads"], "kernels": r["kernels"],
                       "median_ms": med * 1e3, "min_ms": best * 1e3, "gflops": r["flops"] / med / 1e9})
    if args.json:
        args.json.write_text(json.dumps({"batch": args.batch, "rows": report}, indent=1))


if __name__ == "__main__":
    main()

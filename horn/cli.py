"""The ``horn`` command line: compile, export, summary, bench.

MODEL is a ``.keras`` (or legacy ``.h5``) file, an ``.onnx`` file, or
``module:function`` (``path/to/file.py:function`` works too) naming a function
that returns a Horn model. Failures print one line on stderr and exit with a
non-zero status; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np


class CliError(Exception):
    """A problem the user can fix; printed as one line."""


# -- loading MODEL ---------------------------------------------------------------------------------

def load_model_arg(spec: str):
    """The model that ``spec`` names (see the module docstring)."""
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".keras", ".h5", ".hdf5", ".onnx") or path.exists():
        if not path.exists():
            raise CliError(f"no such file: {spec}")
        if path.is_dir():
            raise CliError(f"{spec} is a directory: expected a .keras or .onnx file")
        if suffix == ".onnx":
            return _load_onnx(path)
        if suffix not in (".keras", ".h5", ".hdf5"):
            raise CliError(f"unsupported model format {suffix or '(no extension)'!r} for {spec}: "
                           f"expected a .keras, .h5 or .onnx file, or module:function")
        from frontend.saving import load_model
        try:
            return load_model(path)
        except Exception as exc:   # a damaged file raises whatever its reader met first
            raise CliError(f"cannot load {spec} as a Keras model: {_one_line(exc)}") from exc
    if ":" in spec:
        return _call_factory(spec)
    raise CliError(f"no such file: {spec} (MODEL is a .keras or .onnx file, or module:function)")


def _load_onnx(path: Path):
    try:
        from frontend.onnx_import import load_onnx
    except ImportError:
        raise CliError("ONNX import is not available in this Horn (frontend.onnx_import is missing)") from None
    try:
        return load_onnx(str(path))
    except Exception as exc:
        raise CliError(f"cannot load {path} as an ONNX model: {_one_line(exc)}") from exc


def _call_factory(spec: str):
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise CliError(f"expected module:function, received {spec!r}")
    try:
        if target.endswith(".py"):
            if not Path(target).is_file():
                raise CliError(f"no such file: {target}")
            loader = importlib.util.spec_from_file_location(Path(target).stem, target)
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))     # as `python -m`: the current directory
            module = importlib.import_module(target)
    except ImportError as exc:
        raise CliError(f"cannot import module {target!r}: {_one_line(exc)}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise CliError(f"module {target!r} has no function {attr!r}")
    model = fn()
    from frontend.models.model import Model
    if not isinstance(model, Model):
        raise CliError(f"{spec} returned {type(model).__name__}, not a Horn model")
    return model


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"horn: warning: {_one_line(message) if isinstance(message, Exception) else message}",
          file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- commands ------------------------------------------------------------------------------------

def cmd_compile(args) -> int:
    from codegen.library import compile_library
    from runtime.compile import llvm_opt_level, optimization_level
    model = load_model_arg(args.model)
    train = {"auto": None, "yes": True, "no": False}[args.train_step]
    with optimization_level(args.opt_level):          # the passes; LLVM's level follows from it
        info = compile_library(model, args.output, name=args.name, target=args.target,
                               opt_level=llvm_opt_level(args.opt_level), train_step=train)
    size = info.library.stat().st_size
    print(f"wrote {info.library} ({size / 2**20:.2f} MiB, target {info.target.name} {info.target.triple}) "
          f"and {info.header}")
    print(f"  {len(info.inputs)} input(s), {len(info.outputs)} output(s), {len(info.weights)} weight(s), "
          f"{info.kernel_count} kernels, train step: {'yes' if info.has_train_step else 'no'}")
    return 0


def cmd_export(args) -> int:
    model = load_model_arg(args.model)
    try:
        from codegen.onnx.export import export_onnx
    except ImportError:
        raise CliError("ONNX export is not available in this Horn (codegen.onnx.export is missing)") from None
    export_onnx(model, args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_summary(args) -> int:
    from codegen.cpu.compiler import BufferRole, compile_graph
    from ir.shapes import evaluate_shape
    from runtime.compile import optimization_level
    model = load_model_arg(args.model)
    with optimization_level(args.opt_level):
        graph = _inference_graph(model)
    module = compile_graph(graph, reuse_memory=args.opt_level >= 1)
    if hasattr(model, "summary"):
        model.summary()
    temps = [b for b in module.buffers if b.role is BufferRole.TEMP]
    plan = module.plan
    arena = plan.at({s: 1 for s in module.sym_names}).arena_bytes
    params = sum(int(np.prod(evaluate_shape(b.shape, {}), dtype=np.int64)) * b.dtype.itemsize
                 for b in module.buffers if b.role is BufferRole.PARAM)
    print(f"Graph: {len(graph.nodes)} nodes, {len(graph.inputs)} input(s), {len(graph.outputs)} output(s)")
    print(f"Kernels: {module.kernel_count}")
    print(f"Planned memory at batch 1: {_bytes(arena)} of intermediates ({len(temps)} buffers), "
          f"{_bytes(params)} of parameters")
    big = {s: 128 for s in module.sym_names}
    at, bound = plan.at(big).arena_bytes, plan.lower_bound(big)
    print(f"Planned memory at batch 128: {_bytes(at)} of intermediates, lower bound {_bytes(bound)} "
          f"(the most bytes live at one step)")
    return 0


def cmd_bench(args) -> int:
    from runtime.compile import compile_graph_for_host, optimization_level
    model = load_model_arg(args.model)
    with optimization_level(args.opt_level):
        graph = _inference_graph(model)
    exe = compile_graph_for_host(graph, opt_level=args.opt_level, run_passes=False)
    rng = np.random.default_rng(0)
    print(f"{'batch':>8} {'median latency':>16} {'throughput':>18}   (repeats)")
    for batch in args.batch or [1, 128]:
        if batch < 1:
            raise CliError(f"--batch must be a positive integer; received {batch}")
        arrays = [_random_input(rng, v, batch) for v in graph.inputs]
        exe(*arrays)                                       # warm: arena, caches
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < args.min_repeats or (time.perf_counter() - start < args.seconds
                                                and len(times) < 10000):
            t0 = time.perf_counter()
            exe(*arrays)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        print(f"{batch:>8} {median * 1e3:>13.3f} ms {batch / median:>11.1f} samples/s   ({len(times)})")
    return 0


def _inference_graph(model):
    from ir.graph import Graph
    if isinstance(model, Graph):
        return model
    from frontend.models.export import library_graphs
    return library_graphs(model, train_step=False).forward


def _random_input(rng, v, batch: int) -> np.ndarray:
    from ir.shapes import evaluate_shape
    shape = evaluate_shape(v.shape, {"N": batch})
    if v.dtype.is_floating:
        return rng.random(shape).astype(v.dtype.numpy)
    return np.zeros(shape, v.dtype.numpy)               # valid for indices (Embedding) too


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit} ({n} bytes)"
    return f"{n} bytes"


# -- the parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from codegen.target import TARGETS
    from horn import __version__
    parser = argparse.ArgumentParser(
        prog="horn", description="Horn: an ahead-of-time compiler for Keras models.",
        epilog="MODEL is a .keras/.h5 file, an .onnx file, or module:function returning a Horn model.")
    parser.add_argument("--version", action="version", version=f"horn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback when a command fails")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("compile", help="compile MODEL into lib<NAME>.so and <NAME>.h (a C API)",
                       description="Compile MODEL ahead of time into OUT/lib<NAME>.so and OUT/<NAME>.h. "
                                   "Weights are embedded in the library; it needs libc and libm only.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory")
    p.add_argument("--name", help="C prefix of the API and library name (default: the model's name)")
    p.add_argument("--target", default=None,
                   help=f"target to compile for: {', '.join(sorted(TARGETS))} (default: host)")
    p.add_argument("--train-step", choices=("auto", "yes", "no"), default="auto",
                   help="include the train step (auto: when the model was compiled with a loss)")
    _add_opt_level(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("export", help="export MODEL to ONNX",
                       description="Export MODEL to an ONNX file.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the .onnx file to write")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("summary", help="layers, parameters, planned memory and kernel count of MODEL",
                       description="Print MODEL's layers and parameters, the memory its compiled inference "
                                   "plans at batch 1, and its kernel count.")
    p.add_argument("model", metavar="MODEL")
    _add_opt_level(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("bench", help="latency and throughput of compiled MODEL",
                       description="Time compiled inference of MODEL on random inputs: the median "
                                   "latency of repeated calls per batch size, and samples per second.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--batch", type=int, action="append", metavar="N",
                   help="batch size; repeat for several (default: 1 and 128)")
    p.add_argument("--seconds", type=float, default=1.0, help="time budget per batch size (default 1)")
    p.add_argument("--min-repeats", type=int, default=5, help="at least this many calls (default 5)")
    _add_opt_level(p)
    p.set_defaults(func=cmd_bench)
    return parser


def _add_opt_level(p: argparse.ArgumentParser) -> None:
    p.add_argument("-O", dest="opt_level", type=int, default=None, choices=range(4), metavar="LEVEL",
                   help="optimization level 0-3: the pass pipeline and LLVM's level (default: "
                        "$HORN_OPT_LEVEL, else 3). -O0 runs shape inference only")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "opt_level"):
            from runtime.compile import resolve_opt_level
            args.opt_level = resolve_opt_level(args.opt_level)    # -O, else $HORN_OPT_LEVEL, else 3
        with warnings.catch_warnings():
            # Warnings (e.g. from loading a file) stay visible, as one line each without source.
            warnings.showwarning = _show_warning
            return args.func(args)
    except KeyboardInterrupt:
        print("horn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        # Errors Horn raises for bad input carry their own explanation; anything else is
        # more likely a bug, so its type is kept to make the one line searchable.
        from codegen.library import LibraryBuildError
        expected = (CliError, ValueError, TypeError, OSError, LibraryBuildError)
        message = _one_line(exc) if isinstance(exc, expected) else f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"horn {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

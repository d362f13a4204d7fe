"""Horn from the current tree: compiled predict, fit, and where compile time goes.

Predict uses ``model.predict_on_batch``, the public call with the least Python
around the native step (``predict`` adds batching and callbacks; ``model(x)``
the same dispatch plus argument checks). Training uses ``fit``.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import horn as k  # noqa: E402
from tests.models import seed_models  # noqa: E402

from peers.common import Settings, fit_epochs, log, mnist_like, time_call, train_epochs  # noqa: E402

LOSS = "sparse_categorical_crossentropy"


def versions() -> dict:
    import llvmlite
    import numpy
    return {"horn": k.__version__, "llvmlite": llvmlite.__version__, "numpy": numpy.__version__}


def _phase_hooks() -> list[tuple[object, str, str]]:
    """(owner, attribute, phase) of the calls that make up compilation, as far as they exist.

    Tracing is ``Model._trace_graph`` (inference) and ``Trainer._trace_step_graph`` (train
    step, autodiff included); both end by running the pass pipeline, whose
    ``PassManager.run`` is timed on its own and subtracted. Codegen is
    ``runtime.compile.compile_graph_for_host`` (memory plan, kernel IR, LLVM IR, LLVM's
    optimizer and machine code, loading) and, for trees without it, building the
    ``Executable``. Phases nest: each is charged its own time only.
    """
    import importlib
    from frontend.models.model import Model
    from frontend.models.trainer import Trainer
    from passes.pass_manager import PassManager
    from runtime.executable import Executable
    wanted = [(Model, "_trace_graph", "trace"), (Trainer, "_trace_step_graph", "trace"),
              (PassManager, "run", "passes"), (Executable, "__init__", "codegen")]
    try:
        wanted.append((importlib.import_module("runtime.compile"), "compile_graph_for_host", "codegen"))
    except ImportError:
        pass
    return [(owner, name, phase) for owner, name, phase in wanted if name in vars(owner)]


@contextmanager
def compile_phases():
    """Seconds spent in trace / passes / codegen while the block runs, each exclusive of the others.

    Nested phases (passes inside a trace, or inside codegen should codegen ever run
    passes) are charged to the inner phase only, as a profiler's self time.
    """
    hooks = _phase_hooks()
    totals = {"trace_s": 0.0, "passes_s": 0.0, "codegen_s": 0.0}
    stack: list[list[float]] = []          # per active phase: [children's inclusive seconds]

    def wrap(fn, phase):
        def timed_phase(*args, **kwargs):
            stack.append([0.0])
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                inclusive = time.perf_counter() - t0
                children = stack.pop()[0]
                totals[f"{phase}_s"] += inclusive - children
                if stack:
                    stack[-1][0] += inclusive
        return timed_phase

    originals = [(owner, name, vars(owner)[name]) for owner, name, _ in hooks]
    for owner, name, phase in hooks:
        setattr(owner, name, wrap(vars(owner)[name], phase))
    try:
        yield totals
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
        totals["total_s"] = totals["trace_s"] + totals["passes_s"] + totals["codegen_s"]
        totals["complete"] = {"trace", "passes", "codegen"} <= {phase for _, _, phase in hooks}


def _compile_once(build, model_name: str, s: Settings) -> dict:
    x1, _ = mnist_like(1, model_name, s.seed)
    xb, yb = mnist_like(s.batch, model_name, s.seed)
    model = build(k)
    with compile_phases() as predict:
        model.predict_on_batch(x1)
    model.compile(optimizer="adam", loss=LOSS)
    with compile_phases() as train:
        model.train_on_batch(xb, yb)
    return {"predict": predict, "train_step": train}


def measure_compile(build, model_name: str, s: Settings) -> dict:
    """One cold compile (first in this process: imports, LLVM start-up), then medians of warm ones."""
    import statistics
    cold = _compile_once(build, model_name, s)
    warm = [_compile_once(build, model_name, s) for _ in range(s.compile_repeats)]
    out = {"cold": cold}
    for graph in ("predict", "train_step"):
        runs = [w[graph] for w in warm] or [cold[graph]]
        out[graph] = {key: statistics.median(r[key] for r in runs)
                      for key in ("trace_s", "passes_s", "codegen_s", "total_s")}
        out[graph]["complete"] = all(r["complete"] for r in runs)
        out[graph]["from"] = "warm" if warm else "cold"
    return out


def _arena(exe, batch: int) -> dict:
    """Horn's planned arena of intermediates at ``batch`` and its lower bound (the most bytes
    live at one step), from the executable's memory plan; else the arena it allocated."""
    plan = getattr(exe, "plan", None)
    if plan is not None and hasattr(plan, "at"):
        sizes = {sym: batch for b in plan.buffers for sym in b.size.syms}
        placed = plan.at(sizes)
        return {"arena_bytes": int(placed.arena_bytes), "lower_bound_bytes": int(placed.lower_bound_bytes)}
    arenas = getattr(exe, "_arenas", None)
    return {"arena_bytes": max(int(a.nbytes) for a, _ in arenas.values())} if arenas else {}


def measure(model_name: str, s: Settings) -> dict:
    # HORN_NUM_THREADS is set already; the call says the same through the public switch.
    if hasattr(getattr(k, "config", None), "set_num_threads"):
        k.config.set_num_threads(s.threads)
    build = getattr(seed_models, model_name)
    k.utils.set_random_seed(s.seed)
    log(f"horn {model_name}: compile")
    result = {"compile": measure_compile(build, model_name, s),
              "predict_path": "model.predict_on_batch"}
    model = build(k)
    x1, _ = mnist_like(1, model_name, s.seed)
    xb, _ = mnist_like(s.batch, model_name, s.seed + 1)
    log(f"horn {model_name}: predict")
    result["predict"] = {"b1": time_call(lambda: model.predict_on_batch(x1), s),
                         f"b{s.batch}": time_call(lambda: model.predict_on_batch(xb), s)}
    memory = {}
    exes = list(model._executables.values())
    if exes:
        memory.update({f"{name[:-6]}_predict_bytes": v for name, v in _arena(exes[0], s.batch).items()})
        result["kernels_predict"] = exes[0].kernel_count
    log(f"horn {model_name}: train")
    x, y = mnist_like(s.train_samples, model_name, s.seed + 2)
    model.compile(optimizer="adam", loss=LOSS)
    result["train"] = fit_epochs(k, model, x, y, s, train_epochs(model_name, s))
    steps = list(model._train_steps.values())
    if steps:
        memory.update({f"{name[:-6]}_train_bytes": v for name, v in _arena(steps[0].executable, s.batch).items()})
        result["kernels_train_step"] = steps[0].executable.kernel_count
    result["memory"] = memory
    return result

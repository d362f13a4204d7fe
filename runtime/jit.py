"""Loads LLVM IR into this process through llvmlite's MCJIT.

Optimization uses the new pass manager (llvmlite >= 0.49 has no legacy one),
with the target machine set to the host CPU and its features, so the loop
vectorizer sees the real vector width.
"""
from __future__ import annotations

import ctypes.util
import functools
import os
import re
import subprocess

import llvmlite.binding as llvm


class OpenMPNotFound(RuntimeError):
    """Generated code splits loops across threads, and the OpenMP runtime (libgomp) is missing."""


@functools.cache
def _openmp_runtime() -> str:
    """Loads libgomp into this process for MCJIT to resolve ``GOMP_parallel`` and ``omp_*``.

    Also makes ``horn_num_threads`` (``runtime.threads``) resolvable. Returns the
    library loaded; raises :class:`OpenMPNotFound` naming what is missing.
    """
    from codegen.cpu.parallel import NUM_THREADS_SYMBOL
    from runtime import threads
    candidates = [c for c in (ctypes.util.find_library("gomp"), "libgomp.so.1") if c]
    try:
        out = subprocess.run([os.environ.get("CC", "gcc"), "-print-file-name=libgomp.so"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        if os.path.isabs(out):
            candidates.append(out)
    except (OSError, subprocess.SubprocessError):
        pass
    errors = []
    for lib in candidates:
        try:
            llvm.load_library_permanently(lib)
        except RuntimeError as exc:
            errors.append(f"{lib}: {exc}")
            continue
        llvm.add_symbol(NUM_THREADS_SYMBOL, threads.symbol_address())
        return lib
    tried = "; ".join(errors) or "ctypes.util.find_library('gomp') and gcc -print-file-name found nothing"
    raise OpenMPNotFound(
        f"Compiled kernels use threads through the OpenMP runtime, but libgomp could not be loaded "
        f"({tried}). Install GCC's libgomp (Debian/Ubuntu: apt-get install libgomp1).")


def host_target_machine(opt_level: int = 3) -> llvm.TargetMachine:
    """A new target machine for the host CPU (``codegen.target.Target.host``).

    Not cached: ``create_mcjit_compiler`` takes ownership of the target machine
    and frees it with the engine, so a shared one would dangle once the first
    JitLibrary is collected (the next compile then crashes inside LLVM).
    """
    from codegen.target import Target
    return Target.host().target_machine(opt_level, jit=True)


PIPELINE_ENV = "HORN_LLVM_PIPELINE"
PIPELINES = ("lean", "full")


def llvm_pipeline() -> str:
    """``HORN_LLVM_PIPELINE``: ``lean`` (the default) or ``full`` (LLVM's own O<n>, for comparing)."""
    name = os.environ.get(PIPELINE_ENV, "").strip().lower() or "lean"
    if name not in PIPELINES:
        raise ValueError(f"{PIPELINE_ENV} must be one of {', '.join(PIPELINES)}. Received: {name!r}")
    return name


def optimize(module: llvm.ModuleRef, tm: llvm.TargetMachine, opt_level: int) -> None:
    """Runs LLVM's module pipeline in place: the lean one unless ``HORN_LLVM_PIPELINE=full``.

    The lean pipeline is LLVM's O2 (for levels 2 and 3) without heuristic loop unrolling.
    Measured on the seed models' train steps (benchmarks/compile_time.py, CPU seconds):
    LLVM's own unrolling of our loops (edge loops, strided copies, loops the vectorizer
    already interleaved) doubled machine-code generation (convnet-S: LLVM 3.3 s -> 2.2 s
    without it; one transpose alone took 0.9 s, unrolled into 484 AVX-512 scatters), and
    O3 over O2 cost another 10-20%, with no change in step time (train and predict of
    MLP, convnet-S, convnet-L; GEMM GFLOP/s at 512 and 1024 within noise). Loops whose
    emitter asks for unrolling through loop metadata (``llvm.loop.unroll.enable`` /
    ``.count`` / ``.full``) are still unrolled: the unroll passes stay in the pipeline in
    their "only when forced" mode. Vectorization and interleaving are unchanged.
    """
    if opt_level <= 0:
        return
    full = llvm_pipeline() == "full"
    pto = llvm.create_pipeline_tuning_options(speed_level=min(opt_level, 3 if full else 2))
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = full
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


_SHARED: dict[str, "JitLibrary"] = {}     # name -> the library holding its one compiled copy
_SHARED_DEFINE = re.compile(r'^define internal void @"(horn\.gemm\.[^"]+)"\((.*?)\)[^\n]*\n\{\n.*?\n\}\n',
                            re.M | re.S)


def _link_shared(llvm_ir: str, opt_level: int) -> str:
    """Replaces the shared functions ``llvm_ir`` defines (``codegen.cpu.lowerings.linalg.
    SHARED_FUNCTIONS``: the GEMM and its workers) by declarations of one copy per process.

    Every module that multiplies matrices defines the same GEMM; optimizing and compiling
    it once per process instead of once per model is most of a small model's compile time.
    """
    from codegen.cpu.lowerings.linalg import SHARED_FUNCTIONS, SHARED_PREFIX
    if SHARED_PREFIX not in llvm_ir:
        return llvm_ir
    names = {m.group(1) for m in _SHARED_DEFINE.finditer(llvm_ir) if m.group(1) in SHARED_FUNCTIONS}
    if not names:
        return llvm_ir

    def strip(match: re.Match) -> str:
        name = match.group(1)
        if name in names:
            params = ", ".join(p.split()[0] for p in match.group(2).split(",") if p.strip())
            return f'declare void @"{name}"({params})\n'
        if any(name.startswith(n + ".") for n in names):
            return ""                   # a worker of a shared function: goes with it
        return match.group(0)

    out = _SHARED_DEFINE.sub(strip, llvm_ir)
    for name in names:
        if name not in _SHARED:
            import llvmlite.ir as ll
            module = ll.Module(name)
            SHARED_FUNCTIONS[name](module)
            _SHARED[name] = JitLibrary(str(module), opt_level, link_shared=False)
        llvm.add_symbol(name, _SHARED[name].address(name))
    return out


class JitLibrary:
    """A compiled module living in this process; ``address(name)`` gives a function's entry point."""

    def __init__(self, llvm_ir: str, opt_level: int = 3, *, link_shared: bool = True):
        from codegen.cpu.parallel import uses_threads
        if uses_threads(llvm_ir):
            _openmp_runtime()
        if opt_level > 0 and link_shared:
            llvm_ir = _link_shared(llvm_ir, opt_level)
        tm = host_target_machine(opt_level)
        # The opt-in on-disk cache (runtime.compile_cache; off unless HORN_CACHE_DIR or
        # horn.config.set_cache_dir names a folder): a hit loads the object file MCJIT
        # made before instead of optimizing and generating code again.
        from runtime import compile_cache
        key = cached = None
        if compile_cache.get_cache_dir() is not None:
            key = compile_cache.cache_key(llvm_ir, opt_level, tm, f"pipeline={llvm_pipeline()}")
            cached = compile_cache.load(key)
        mod = llvm.parse_assembly(llvm_ir)
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        if cached is None:
            optimize(mod, tm, opt_level)
            self.optimized_ir = str(mod)
        else:
            self.optimized_ir = cached[1]
        self._engine = llvm.create_mcjit_compiler(mod, tm)
        if key is not None:
            made: list[bytes] = []
            self._engine.set_object_cache(
                notify_func=lambda _mod, obj: made.append(obj),
                getbuffer_func=lambda _mod: None if cached is None else cached[0])
        self._engine.finalize_object()
        if key is not None and cached is None and made:
            compile_cache.store(key, made[0], self.optimized_ir)
        self.from_cache = cached is not None
        self._engine.run_static_constructors()

    def address(self, name: str) -> int:
        addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"no function {name!r} in the compiled module")
        return addr

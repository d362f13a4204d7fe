"""Loads LLVM IR into this process through llvmlite's MCJIT.

Optimization uses the new pass manager (llvmlite >= 0.49 has no legacy one),
with the target machine set to the host CPU and its features, so the loop
vectorizer sees the real vector width.
"""
from __future__ import annotations

import llvmlite.binding as llvm


def host_target_machine(opt_level: int = 3) -> llvm.TargetMachine:
    """A new target machine for the host CPU (``codegen.target.Target.host``).

    Not cached: ``create_mcjit_compiler`` takes ownership of the target machine
    and frees it with the engine, so a shared one would dangle once the first
    JitLibrary is collected (the next compile then crashes inside LLVM).
    """
    from codegen.target import Target
    return Target.host().target_machine(opt_level, jit=True)


def optimize(module: llvm.ModuleRef, tm: llvm.TargetMachine, opt_level: int) -> None:
    """Runs LLVM's default O<n> module pipeline in place."""
    if opt_level <= 0:
        return
    pto = llvm.create_pipeline_tuning_options(speed_level=min(opt_level, 3))
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


class JitLibrary:
    """A compiled module living in this process; ``address(name)`` gives a function's entry point."""

    def __init__(self, llvm_ir: str, opt_level: int = 3):
        tm = host_target_machine(opt_level)
        mod = llvm.parse_assembly(llvm_ir)
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        optimize(mod, tm, opt_level)
        self.optimized_ir = str(mod)
        self._engine = llvm.create_mcjit_compiler(mod, tm)
        self._engine.finalize_object()
        self._engine.run_static_constructors()

    def address(self, name: str) -> int:
        addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"no function {name!r} in the compiled module")
        return addr

"""LLVM IR for the host CPU, through llvmlite."""
from codegen.cpu.compiler import BufferRole, BufferSpec, CompiledModule, compile_graph, missing_lowerings
from codegen.cpu.kernel import CPU_LOWERINGS, KernelContext, LoweringError, lowering

__all__ = ["BufferRole", "BufferSpec", "CompiledModule", "compile_graph", "missing_lowerings",
           "CPU_LOWERINGS", "KernelContext", "LoweringError", "lowering"]

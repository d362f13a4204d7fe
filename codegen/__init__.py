"""Code generation: LLVM IR for the host CPU (``codegen.cpu``)."""

"""The VJP rules of the core ops, one module per op family (as ir/ops and the CPU
lowerings are split). ``passes.autodiff`` merges their ``RULES`` tables into
``VJP_RULES`` and runs them."""

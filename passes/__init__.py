"""Graph -> Graph transforms and the pass manager that runs them in pipelines."""
from passes.pass_manager import (DISABLE_ENV, DUMP_ENV, Pass, PassManager, PassRecord, PassResult,
                                 make_pass)
from passes.shape_inference import shape_inference, specialize_inputs
from passes.constant_folding import constant_folding
from passes.dce import dce
from passes.canonicalize import canonicalize
from passes.cse import cse
from passes.pipeline import default_pipeline, pipeline

__all__ = ["DISABLE_ENV", "DUMP_ENV", "Pass", "PassManager", "PassRecord", "PassResult",
           "make_pass", "shape_inference", "specialize_inputs", "constant_folding", "dce",
           "default_pipeline", "canonicalize", "cse", "pipeline"]

"""Process-wide settings of Horn's compiled code (``horn.config.set_num_threads(2)``)."""
from runtime.threads import get_num_threads, set_num_threads
from runtime.compile import (get_dump_ir_dir, get_optimization_level, optimization_level, set_dump_ir_dir,
                             set_optimization_level)
from runtime.compile_cache import get_cache_dir, set_cache_dir

__all__ = ["get_num_threads", "set_num_threads"]
__all__ += ["get_optimization_level", "set_optimization_level", "optimization_level", "get_dump_ir_dir",
            "set_dump_ir_dir"]
__all__ += ["get_cache_dir", "set_cache_dir"]

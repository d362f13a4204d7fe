"""float32 GEMM GFLOP/s, Horn's MATMUL beside numpy's BLAS, through ``benchmarks/gemm.py``.

That module is the GEMM kernel's own benchmark (a one-node MATMUL graph and
``a @ b`` alternating call by call in a process with both libraries capped at
the same thread count); this wrapper runs it for one thread count and keeps the
rows ``benchmarks/run.py`` reports.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from peers.common import Settings, log

ROOT = Path(__file__).resolve().parents[2]
GEMM = ROOT / "benchmarks" / "gemm.py"


def versions() -> dict:
    out = {"numpy": np.__version__}
    try:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        out["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:                       # numpy < 1.26: show_config has no dict mode
        pass
    return out


def _gemm_module():
    if not GEMM.exists():
        raise FileNotFoundError(f"{GEMM.relative_to(ROOT)} is missing: it measures Horn's GEMM against numpy")
    spec = importlib.util.spec_from_file_location("horn_benchmarks_gemm", GEMM)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT))
    spec.loader.exec_module(module)
    return module


def measure(model_name: str, s: Settings) -> dict:
    """``model_name`` is ignored: GEMM is one measurement per thread count."""
    log(f"gemm: benchmarks/gemm.py sizes {list(s.gemm_sizes)}, {s.threads} thread(s)")
    raw = _gemm_module().run(list(s.gemm_sizes), [s.threads], s.gemm_repeats)
    rows = [r for r in raw["results"] if r["threads"] == s.threads]
    missing = set(s.gemm_sizes) - {r["size"] for r in rows}
    if missing:
        raise RuntimeError(f"benchmarks/gemm.py returned no row for size(s) {sorted(missing)}")
    keep = ("size", "horn_gflops", "numpy_gflops", "horn_ms", "numpy_ms", "cpu_ratio", "max_rel_error",
            "horn_compile_s", "repeats")
    return {"gemm": [{k: r[k] for k in keep if k in r} for r in rows],
            "gemm_loadavg": [raw.get("loadavg_before"), raw.get("loadavg_after")]}

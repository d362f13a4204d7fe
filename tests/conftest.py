"""Test-wide setup: real Keras (for parity tests) runs on its numpy backend, and
datasets come from the offline copies in ../shared/data when present."""
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")
# Tests compile cold: the on-disk compile cache (runtime.compile_cache) stays off even
# when the developer's shell sets it; tests/runtime/test_compile_cache.py turns it on.
os.environ.pop("HORN_CACHE_DIR", None)
_shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if _shared.is_dir():
    os.environ.setdefault("HORN_DATA_DIR", str(_shared))

"""Shared checks for ONNX export tests: exported graphs run in ONNX Runtime and give
Horn's numbers (the reference interpreter for op graphs, compiled code for models)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="ONNX export tests run exports in onnxruntime")


def session(model_or_path) -> "ort.InferenceSession":
    """An ONNX Runtime CPU session with its default optimizations (what users get)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run(sess: "ort.InferenceSession", feeds: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    if not isinstance(feeds, Mapping):
        feeds = {i.name: x for i, x in zip(sess.get_inputs(), feeds)}
    return sess.run(None, dict(feeds))


def assert_same(got: Sequence[np.ndarray], want: Sequence[np.ndarray], *, rtol: float = 1e-5,
                atol: float = 1e-6, what: str = "") -> None:
    """Same count, dtypes and shapes; floats within tolerance (NaN where NaN), the rest exactly."""
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype, f"{what} output {i}: dtype {g.dtype}, expected {w.dtype}"
        assert g.shape == w.shape, f"{what} output {i}: shape {g.shape}, expected {w.shape}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"{what} output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} output {i}")

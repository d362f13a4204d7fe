"""Loads a library made by ``horn.compile_library`` and runs it from Python through ctypes.

The same C API a C program uses: one context per :class:`NativeLibrary`,
inputs and outputs as numpy arrays. Useful to check a deployed ``.so``
against the model it came from, and to drive it from Python without LLVM.
"""
from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ir.dtypes import DType

_DTYPES = list(DType)      # the C API's dtype codes are indices into DType (codegen.capi)
_PTRS = ctypes.POINTER(ctypes.c_void_p)


class NativeLibraryError(RuntimeError):
    """A C API call failed; ``status`` is its code, the message the library's own."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TensorInfo:
    """An input, output, target or weight as the library declares it (``None`` is the batch)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]


class NativeLibrary:
    """``lib<name>.so`` loaded into this process, with a context of its own.

    ``name`` is the library's C prefix; by default it comes from the file name.
    A NativeLibrary, like a context, is for one thread at a time. The process
    loads a given path once (the dynamic loader keeps it), so a library rebuilt
    at the same path is seen by a new process, not by this one.
    """

    def __init__(self, path: str | Path, name: str | None = None):
        path = Path(path)
        if name is None:
            m = re.fullmatch(r"lib(.+)\.so", path.name)
            if m is None:
                raise ValueError(f"Cannot tell the library's name from {path.name!r}: pass name=")
            name = m.group(1)
        if not path.is_file():
            raise FileNotFoundError(f"No library at {path}")
        self.path, self.name = path, name
        self._lib = ctypes.CDLL(str(path.resolve()))
        self._declare()
        self.inputs = self._tensors("input")
        self.outputs = self._tensors("output")
        self.targets = self._tensors("target")
        self.weights = self._tensors("weight")
        # A library traced with a fixed batch (an ONNX file can fix it) runs whole inputs, batch 1.
        self.batched = all(t.shape and t.shape[0] is None for t in self.inputs)
        self.has_train_step = bool(self._fn("has_train_step")())
        self.default_learning_rate = float(self._fn("default_learning_rate")())
        self._ctx = ctypes.c_void_p()
        status = self._fn("create")(ctypes.byref(self._ctx))
        if status != 0:
            raise NativeLibraryError(status, f"{name}_create failed: "
                                             f"{self._fn('status_string')(status).decode()}")

    # -- calls --------------------------------------------------------------
    def predict(self, x, batch_size: int | None = None):
        """Outputs for inputs ``x`` (an array, or a list with one array per input)."""
        arrays = self._arrays(x, self.inputs, "input")
        if not self.batched:
            outs = [np.empty(t.shape, t.dtype) for t in self.outputs]
            self._check(self._fn("run")(self._ctx, 1, _pointers(arrays), _pointers(outs)))
            return outs[0] if len(outs) == 1 else outs
        n = arrays[0].shape[0]
        outs = [np.empty((n,) + t.shape[1:], t.dtype) for t in self.outputs]
        step = n if not batch_size else int(batch_size)
        for lo in range(0, n, max(step, 1)):
            hi = min(n, lo + step)
            self._check(self._fn("run")(self._ctx, hi - lo, _pointers(a[lo:hi] for a in arrays),
                                        _pointers(o[lo:hi] for o in outs)))
        return outs[0] if len(outs) == 1 else outs

    __call__ = predict

    def train_step(self, x, y, sample_weight=None, learning_rate: float | None = None) -> float:
        """One optimizer step on one batch in the library; returns the loss before the update."""
        if not self.has_train_step:
            raise NativeLibraryError(6, f"lib{self.name}.so was compiled without a train step")
        xs = self._arrays(x, self.inputs, "input")
        ys = self._arrays(y, self.targets, "target")
        n = xs[0].shape[0]
        if any(a.shape[0] != n for a in xs + ys):
            raise ValueError(f"All inputs and targets must have the same batch; received "
                             f"{[a.shape[0] for a in xs + ys]}")
        sw = None if sample_weight is None else np.ascontiguousarray(sample_weight, np.float32).reshape(n)
        lr = self.default_learning_rate if learning_rate is None else float(learning_rate)
        loss = ctypes.c_float()
        self._check(self._fn("train_step")(
            self._ctx, n, _pointers(xs), _pointers(ys),
            None if sw is None else sw.ctypes.data_as(ctypes.c_void_p), ctypes.c_float(lr),
            ctypes.byref(loss)))
        return float(loss.value)

    def get_weights(self) -> list[np.ndarray]:
        out = []
        for i, w in enumerate(self.weights):
            a = np.empty(w.shape, w.dtype)
            self._check(self._fn("get_weight")(self._ctx, i, a.ctypes.data_as(ctypes.c_void_p)))
            out.append(a)
        return out

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        if len(weights) != len(self.weights):
            raise ValueError(f"Expected {len(self.weights)} weight arrays; received {len(weights)}")
        for i, (w, a) in enumerate(zip(self.weights, weights)):
            a = np.ascontiguousarray(a, w.dtype)
            if a.shape != w.shape:
                raise ValueError(f"Weight {w.name!r}: expected shape {w.shape}, received {a.shape}")
            self._check(self._fn("set_weight")(self._ctx, i, a.ctypes.data_as(ctypes.c_void_p)))

    def set_seed(self, seed: int) -> None:
        self._check(self._fn("set_seed")(self._ctx, int(seed)))

    def close(self) -> None:
        if getattr(self, "_ctx", None):
            self._fn("destroy")(self._ctx)
            self._ctx = ctypes.c_void_p()

    def __enter__(self) -> "NativeLibrary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------
    def _fn(self, short: str):
        return getattr(self._lib, f"{self.name}_{short}")

    def _declare(self) -> None:
        c = ctypes
        sigs = {
            "create": (c.c_int, [c.POINTER(c.c_void_p)]), "destroy": (None, [c.c_void_p]),
            "last_error": (c.c_char_p, [c.c_void_p]), "status_string": (c.c_char_p, [c.c_int]),
            "run": (c.c_int, [c.c_void_p, c.c_int64, _PTRS, _PTRS]),
            "train_step": (c.c_int, [c.c_void_p, c.c_int64, _PTRS, _PTRS, c.c_void_p, c.c_float,
                                     c.POINTER(c.c_float)]),
            "has_train_step": (c.c_int, []), "default_learning_rate": (c.c_float, []),
            "set_seed": (c.c_int, [c.c_void_p, c.c_int64]),
            "get_weight": (c.c_int, [c.c_void_p, c.c_int, c.c_void_p]),
            "set_weight": (c.c_int, [c.c_void_p, c.c_int, c.c_void_p]),
            "weight_size": (c.c_int64, [c.c_int]),
        }
        for kind in ("input", "output", "target", "weight"):
            sigs[f"num_{kind}s"] = (c.c_int, [])
            sigs[f"{kind}_name"] = (c.c_char_p, [c.c_int])
            sigs[f"{kind}_dtype"] = (c.c_int, [c.c_int])
            sigs[f"{kind}_rank"] = (c.c_int, [c.c_int])
            sigs[f"{kind}_shape"] = (c.POINTER(c.c_int64), [c.c_int])
        for short, (res, args) in sigs.items():
            try:
                fn = self._fn(short)
            except AttributeError:
                raise ValueError(f"{self.path} is not a Horn library named {self.name!r}: it has no "
                                 f"{self.name}_{short}") from None
            fn.restype, fn.argtypes = res, args

    def _tensors(self, kind: str) -> list[TensorInfo]:
        out = []
        for i in range(self._fn(f"num_{kind}s")()):
            rank, dims = self._fn(f"{kind}_rank")(i), self._fn(f"{kind}_shape")(i)
            shape = tuple(None if dims[k] == -1 else int(dims[k]) for k in range(rank))
            out.append(TensorInfo(self._fn(f"{kind}_name")(i).decode(),
                                  _DTYPES[self._fn(f"{kind}_dtype")(i)].numpy, shape))
        return out

    def _arrays(self, x, specs: list[TensorInfo], what: str) -> list[np.ndarray]:
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(specs):
            raise ValueError(f"Expected {len(specs)} {what}(s); received {len(xs)}")
        out = []
        for a, t in zip(xs, specs):
            a = np.ascontiguousarray(a, dtype=t.dtype)
            if a.ndim != len(t.shape) or a.shape[0] < 1 or any(
                    d is not None and d != got for d, got in zip(t.shape, a.shape)):
                raise ValueError(f"{what.capitalize()} {t.name!r}: expected shape {t.shape} "
                                 f"(None is the batch), received {a.shape}")
            out.append(a)
        if any(a.shape[0] != out[0].shape[0] for a in out):
            raise ValueError(f"All {what}s must have the same batch; received {[a.shape[0] for a in out]}")
        return out

    def _check(self, status: int) -> None:
        if status != 0:
            message = self._fn("last_error")(self._ctx).decode() or \
                self._fn("status_string")(status).decode()
            raise NativeLibraryError(status, message)


def _pointers(arrays) -> ctypes.Array:
    arrays = list(arrays)
    return (ctypes.c_void_p * max(1, len(arrays)))(*(a.ctypes.data for a in arrays))

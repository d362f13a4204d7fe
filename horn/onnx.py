"""``horn.onnx``: ONNX models read into Horn.

``horn.onnx.load_model("m.onnx")`` returns a Horn model that compiles the ONNX
graph to native code (``model(x)``, ``predict``) and fine-tunes its float
initializers with ``compile`` / ``fit``. ``horn.saving.load_model`` reads
``.onnx`` files the same way. The importer (and the onnx package) load on
first use, so ``import horn`` stays quick.
"""
from __future__ import annotations

_LAZY = ("OnnxImportError", "OnnxModel", "UnsupportedOnnxError", "load_onnx", "supported_op_types")

__all__ = ["load_model", *_LAZY]


def load_model(model, **kwargs):
    """Reads an ONNX model (a path, bytes or an ``onnx.ModelProto``): see
    :func:`frontend.onnx_import.load_onnx` for ``static_inputs``, ``input_shapes`` and ``name``."""
    from frontend.onnx_import import load_onnx
    return load_onnx(model, **kwargs)


def __getattr__(name: str):
    if name in _LAZY:
        import frontend.onnx_import
        return getattr(frontend.onnx_import, name)
    raise AttributeError(f"module 'horn.onnx' has no attribute {name!r}")

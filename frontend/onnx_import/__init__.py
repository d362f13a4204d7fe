"""Reading ONNX models into Horn.

``load_onnx(path)`` returns an :class:`OnnxModel`: a Horn Model whose ``call``
replays the ONNX graph with Horn's ops, so Horn compiles it to native code
(``model(x)``, ``predict``) and can fine-tune its float initializers
(``compile`` / ``fit``). Everything the model uses that Horn cannot import is
listed in one :class:`UnsupportedOnnxError` before anything is compiled.
``supported_op_types()`` lists the ONNX ops Horn reads; ``docs/onnx_conformance.md``
reports how each fares on ONNX's own backend test cases
(``python -m frontend.onnx_import.conformance``).
"""
from frontend.onnx_import.errors import OnnxImportError, Problem, UnsupportedOnnxError
from frontend.onnx_import.loader import load_onnx
from frontend.onnx_import.model import OnnxModel
from frontend.onnx_import.registry import supported_op_types

__all__ = ["OnnxImportError", "OnnxModel", "Problem", "UnsupportedOnnxError", "load_onnx",
           "supported_op_types"]

"""ONNX export: one emitter per IR op (``ONNX_MAPPINGS``, the ONNX facet of the op
matrix), and the exporter that turns a model's inference graph into a ``.onnx``
file (opset 17 by default; 17 to 21 supported).

Importing the package registers every emitter family.
"""
from codegen.onnx.emitter import (DEFAULT_OPSET, ONNX_MAPPINGS, SUPPORTED_OPSETS, OnnxBuilder,
                                  OnnxExportError, onnx_mapping)
from codegen.onnx import elementwise, linalg, loop, movement, reduction, window  # noqa: F401  (register)
from codegen.onnx.export import export_model, export_onnx, graph_to_onnx, trace_inference_graph, validate

__all__ = ["DEFAULT_OPSET", "ONNX_MAPPINGS", "SUPPORTED_OPSETS", "OnnxBuilder", "OnnxExportError",
           "onnx_mapping", "export_model", "export_onnx", "graph_to_onnx", "trace_inference_graph",
           "validate"]

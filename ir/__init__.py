"""Horn's graph IR: types, graph, op registry, verifier, printer, interpreter."""
from ir.dtypes import DType
from ir.shapes import BATCH, Shape, SymDim, TensorType, format_shape
from ir.opcodes import Op
from ir import attrs
from ir.graph import Graph, Node, Value, ValueKind
from ir.registry import IRTypeError, op_def, registered_ops, infer_types
from ir.verifier import VerificationError, verify
from ir.printer import print_graph
from ir.parser import ParseError, parse_graph
from ir.interpreter import interpret

__all__ = ["DType", "BATCH", "Shape", "SymDim", "TensorType", "format_shape", "Op", "attrs",
           "Graph", "Node", "Value", "ValueKind", "IRTypeError", "op_def", "registered_ops",
           "infer_types", "VerificationError", "verify", "print_graph", "parse_graph", "ParseError",
           "interpret"]

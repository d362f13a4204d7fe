"""Importer families; importing this package registers every ONNX op Horn reads."""
from frontend.onnx_import.ops import (activations, conv, elementwise, linalg, logic, misc,  # noqa: F401
                                      normalization, pooling, reduction, shape)

"""What the ONNX importer raises.

Every refusal names the node (or graph input) and its op type, and carries a
*category* — why Horn cannot take it — so callers (and the conformance
report) can tell "Horn lacks this dtype" from "Horn lacks this attribute".
"""
from __future__ import annotations

from dataclasses import dataclass

# Why something cannot be imported. The conformance test accepts the first
# three without a per-case entry: they are things Horn lacks by design.
DTYPE = "dtype"            # an element type Horn has no equivalent for (string, uint16, bfloat16...)
VALUE_TYPE = "type"        # not a tensor (sequence, optional, map)
RANDOM = "random"          # the expected result depends on another framework's random stream
OP = "op"                  # no importer for the op type (or a custom domain)
ATTRIBUTE = "attribute"    # an attribute value or optional output the importer does not handle
DYNAMIC = "dynamic"        # a size or shape argument known only at run time


@dataclass(frozen=True)
class Problem:
    """One thing in an ONNX graph that Horn cannot import."""

    where: str          # "node 'conv1' (Conv)" or "input 'x'"
    reason: str
    category: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class OnnxImportError(ValueError):
    """An ONNX model Horn cannot read or trace: a bad file, or an error inside a node."""

    # Layer.__call__ prefixes errors raised inside call() with the layer's name; the
    # importer's messages already name the ONNX node, so they pass through untouched.
    _horn_layer_named = True


class UnsupportedOnnxError(OnnxImportError):
    """The model uses ops, dtypes or attributes Horn does not import; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem] | Problem, model: str = "the ONNX model"):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"Cannot import {model}: {n} unsupported item{'s' if n != 1 else ''} "
                         f"(nothing was compiled):\n{lines}")

    @property
    def categories(self) -> set[str]:
        return {p.category for p in self.problems}

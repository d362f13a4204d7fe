"""ONNX for scan: ONNX ``Scan`` (opset 9+), which has the IR's batch-major layout built in.

* carries are Scan's *state* variables and sequences its *scan inputs*, read along
  axis 1 (``scan_input_axes``); per-step outputs are stacked along axis 1
  (``scan_output_axes``), so no transpose enters the file;
* ``reverse`` sets every scan input and scan output direction to 1: ONNX then
  walks the inputs from the end and prepends the outputs, so ``stacked[:, t]`` is
  the output of the step that read ``sequences[:, t]``, as in the IR;
* invariants are not Scan operands (Scan has none): the body reads them by their
  outer names, as ONNX subgraphs may. The body's constants become initializers of
  the main graph for the same reason, and the exporter's pruning and renaming look
  into subgraphs (``export._node_inputs``).

The body is exported by the emitters themselves, with a builder of its own that
shares the outer builder's name space (ONNX forbids a subgraph name shadowing an
outer one).
"""
from __future__ import annotations

from onnx import helper

from codegen.onnx.emitter import DIM_NAMES, ONNX_MAPPINGS, OnnxBuilder, OnnxExportError, onnx_dtype, onnx_mapping
from ir.attrs import ScanAttrs
from ir.graph import Node, Value, ValueKind
from ir.opcodes import Op
from ir.ops.loop import split_operands
from ir.shapes import SymDim


def _value_info(name: str, value: Value):
    dims = [DIM_NAMES.get(d.name, d.name) if isinstance(d, SymDim) else int(d) for d in value.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(value.dtype), dims)


@onnx_mapping(Op.SCAN)
def _scan(b: OnnxBuilder, node: Node) -> None:
    a: ScanAttrs = node.attrs
    body = a.body
    nc, ns = a.num_carry, a.num_sequences
    missing = sorted({str(n.op) for n in body.nodes if n.op not in ONNX_MAPPINGS})
    if missing:
        raise OnnxExportError(f"scan {node.name}: its body uses op(s) with no ONNX mapping: "
                              f"{', '.join(missing)}")
    _, seqs, _ = split_operands(node.inputs, a)
    if any(isinstance(d, int) and d == 0 for d in (seqs[0].shape[1],)):
        raise OnnxExportError(f"scan {node.name}: a scan over zero steps has no ONNX Scan form")

    sub = OnnxBuilder(body, b.opset)
    sub._taken = b._taken                      # one name space with the enclosing graph
    sub._consts = b._consts                    # shared small constants live in the main graph
    sub.initializers = b.initializers
    sub.preferred = b.preferred
    sub.begin(f"{node.name}/body")
    in_names = []
    for i, v in enumerate(body.inputs):
        if i < nc + ns:
            name = b.fresh(f"{node.name}/body/{v.name}")
            sub.bind(v, name)
            in_names.append(name)
        else:                                  # an invariant: the outer value itself
            sub.bind(v, b.input(node, i))
    for n in body.nodes:
        sub.begin(n)
        ONNX_MAPPINGS[n.op](sub, n)
    sub.begin(f"{node.name}/body/output")
    out_names, seen = [], set()
    for v in body.outputs:
        name = sub.name_of(v)
        # A Scan body output must be produced inside the body, once: inputs, outer values,
        # constants and repeats go through an Identity.
        if name in seen or v.kind is not ValueKind.NODE or v.producer.op is Op.CONSTANT:
            name = sub.add("Identity", [name])
        seen.add(name)
        out_names.append(name)
    graph = helper.make_graph(
        sub.nodes, b.fresh(f"{node.name}/body"),
        [_value_info(n, v) for n, v in zip(in_names, body.inputs[:nc + ns])],
        [_value_info(n, v) for n, v in zip(out_names, body.outputs)])
    n_out = len(body.outputs) - nc
    direction = 1 if a.reverse else 0
    # An empty list attribute has no type ONNX can infer: a scan with no stacked outputs
    # (an RNN returning only its last state) leaves the output attributes out.
    axes = {"scan_input_axes": [1] * ns, "scan_input_directions": [direction] * ns}
    if n_out:
        axes.update(scan_output_axes=[1] * n_out, scan_output_directions=[direction] * n_out)
    b.add("Scan", [b.input(node, i) for i in range(nc + ns)],
          [b.output(node, j) for j in range(len(node.outputs))],
          body=graph, num_scan_inputs=ns, **axes)

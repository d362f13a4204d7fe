"""BatchNorm folding for inference: a per-channel scale after a conv or matmul moves into its weights.

In inference BatchNormalization is an affine map per channel, which the frontend
emits as ``y = x * inv + res`` with ``inv = gamma / sqrt(var + eps)`` and
``res = beta - mean * inv``, all computed from parameters. After a conv or
matmul (optionally with a bias add)::

    (conv(x, w) [+ b]) * s  ==  conv(x, w * s) [+ b * s]

because ``s`` varies along the output channels only (the last axis of the
result, of the conv kernel ``(*window, C/groups, O)`` and of the matmul's
``(K, N)`` weights). The rewrite makes the scaled weights and bias *param-only*
values: nothing in them depends on a graph input, so the runtime computes them
once per weight version, and the per-call graph is conv + bias add (+ the BN
shift add), which fusion turns into one conv-epilogue kernel.

Only graphs without state updates are rewritten: in a train step the weights
change every step and BN uses batch statistics.
"""
from __future__ import annotations

from ir.attrs import ReshapeAttrs
from ir.graph import Graph, Node, Value, ValueKind
from ir.opcodes import Op
from passes.pass_manager import PassResult

_ANCHORS = (Op.MATMUL, Op.CONV)


def fold_batchnorm(graph: Graph) -> PassResult:
    """Folds ``(conv|matmul (+ bias)) * per-channel param-only scale`` into scaled weights, in place."""
    if graph.updates:
        return PassResult(graph, False)
    param_only: dict[int, bool] = {}
    removed: set[int] = set()
    for node in graph.nodes:
        if node.op is not Op.MUL or id(node) in removed:
            continue
        match = _match(graph, node, param_only)
        if match is not None:
            removed |= _rewrite(graph, node, *match)
    changed = bool(removed)
    return PassResult(graph, changed)


def _is_param_only(v: Value, memo: dict[int, bool]) -> bool:
    """Whether ``v`` is computed from parameters and constants alone (no graph input, no draw)."""
    stack = [(v, False)]
    while stack:
        u, expanded = stack.pop()
        if id(u) in memo:
            continue
        if u.kind is ValueKind.INPUT or u.kind is ValueKind.NODE and u.producer.op is Op.RANDOM_UNIFORM:
            memo[id(u)] = False
        elif u.kind is ValueKind.PARAM or u.producer.op is Op.CONSTANT:
            memo[id(u)] = True
        elif expanded:
            memo[id(u)] = all(memo[id(w)] for w in u.producer.inputs)
        else:
            stack.append((u, True))
            stack.extend((w, False) for w in u.producer.inputs if id(w) not in memo)
    return memo[id(v)]


def _per_channel(v: Value, out_shape: tuple) -> bool:
    """``v`` broadcasts against ``out_shape`` along its last axis only, without growing it."""
    if not v.shape:
        return True
    if len(v.shape) > len(out_shape):
        return False
    return all(d == 1 for d in v.shape[:-1]) and v.shape[-1] in (1, out_shape[-1])


def _single_use(graph: Graph, v: Value) -> bool:
    return len(v.uses) == 1 and not any(o is v for o in graph.outputs)


def _match(graph: Graph, mul: Node, memo: dict[int, bool]):
    """(anchor, bias or None, bias add or None, scale) when ``mul`` scales a conv/matmul result."""
    for k in (0, 1):
        a, s = mul.inputs[k], mul.inputs[1 - k]
        if a.kind is not ValueKind.NODE or not _single_use(graph, a):
            continue
        if not _per_channel(s, a.shape) or not _is_param_only(s, memo):
            continue
        bias, add = None, None
        if a.producer.op is Op.ADD:
            add = a.producer
            for j in (0, 1):
                c, bb = add.inputs[j], add.inputs[1 - j]
                if (c.kind is ValueKind.NODE and c.producer.op in _ANCHORS and _single_use(graph, c)
                        and c.shape == a.shape and _per_channel(bb, c.shape) and _is_param_only(bb, memo)):
                    bias = bb
                    a = c
                    break
            else:
                continue
        anchor = a.producer
        if anchor.op not in _ANCHORS or not anchor.output.dtype.is_floating:
            continue
        w = anchor.inputs[1]
        if not _is_param_only(w, memo) or a.shape != mul.output.shape:
            continue
        return anchor, bias, add, s
    return None


def _rewrite(graph: Graph, mul: Node, anchor: Node, bias: Value | None, add: Node | None,
             s: Value) -> set[int]:
    """Scales the weights (and bias), reroutes ``mul``'s readers; returns the removed nodes' ids."""
    w = anchor.inputs[1]
    # The scale as a vector along the weights' last axis (the output channels).
    channels = s.shape[-1] if s.shape else 1
    s_w = graph.add_node(Op.RESHAPE, [s], ReshapeAttrs((1,) * (len(w.shape) - 1) + (channels,)),
                         f"{anchor.name}/bn_scale", before=mul).output
    w2 = graph.add_node(Op.MUL, [w, s_w], name=f"{anchor.name}/bn_folded_weights", before=mul).output
    out = graph.add_node(anchor.op, [anchor.inputs[0], w2], anchor.attrs, f"{anchor.name}/bn_folded",
                         before=mul).output
    if bias is not None:
        b2 = graph.add_node(Op.MUL, [bias, s], name=f"{anchor.name}/bn_folded_bias", before=mul).output
        out = graph.add_node(Op.ADD, [out, b2], name=f"{anchor.name}/bn_folded_add", before=mul).output
    graph.replace_all_uses(mul.output, out)
    gone = [mul, *([add] if add is not None else []), anchor]
    for n in gone:
        graph.remove_node(n)
    return {id(n) for n in gone}

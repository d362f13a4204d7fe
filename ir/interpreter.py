"""The reference interpreter: what a graph means, computed with numpy.

Every pass and kernel test compares against this. It checks inputs against
the declared types (binding symbolic dims), runs each node's registered
reference, and checks each result against the node's inferred type.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from ir.graph import Graph, Value
from ir.registry import evaluate
from ir.shapes import SymDim, bind_symbols, evaluate_shape


def interpret(graph: Graph, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray],
              params: Mapping[str, np.ndarray] | None = None, *, return_updates: bool = False):
    """Runs ``graph`` on ``inputs`` (positional, or by input name).

    Parameters are read from their bindings unless ``params`` gives an array
    by parameter name. The interpreter never writes state: with
    ``return_updates`` it returns ``(outputs, {param name: new value})`` for the
    graph's updates instead of applying them.
    """
    if isinstance(inputs, Mapping):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        if missing:
            raise ValueError(f"missing inputs: {', '.join(missing)}")
        inputs = [inputs[v.name] for v in graph.inputs]
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph @{graph.name} expects {len(graph.inputs)} inputs, received {len(inputs)}")

    env: dict[int, np.ndarray] = {}
    sizes: dict[str, int] = {}
    for v, x in zip(graph.inputs, inputs):
        x = np.asarray(x)
        if x.dtype != v.dtype.numpy:
            raise TypeError(f"input %{v.name}: expected dtype {v.dtype.name}, received {x.dtype}")
        bind_symbols(v.shape, x.shape, sizes, f"input %{v.name}")
        env[id(v)] = x
    params = params or {}
    for p in graph.params:
        # asarray: an override may be a list or a scalar, as inputs may.
        # A copy: results must not alias live weights that a later step overwrites.
        arr = np.array(params[p.name] if p.name in params else _bound_array(p), copy=True)
        if arr.dtype != p.dtype.numpy or tuple(arr.shape) != tuple(p.shape):
            raise ValueError(f"param %{p.name}: expected {p.type}, received {arr.dtype}{list(arr.shape)}")
        env[id(p)] = arr

    for node in graph.nodes:
        results = evaluate(node.op, tuple(env[id(v)] for v in node.inputs), _bind_attrs(node.attrs, sizes))
        for v, r in zip(node.outputs, results):
            r = np.asarray(r)
            want = evaluate_shape(v.shape, sizes)
            if r.dtype != v.dtype.numpy or r.shape != want:
                raise AssertionError(f"reference of {node.op} at {node.name} returned "
                                     f"{r.dtype}{list(r.shape)}, its type says {v.dtype.numpy}{list(want)}")
            env[id(v)] = r
    outputs = [env[id(v)] for v in graph.outputs]
    if return_updates:
        return outputs, {p.name: env[id(v)] for p, v in graph.updates}
    return outputs


def _bind_attrs(attrs, sizes: dict[str, int]):
    """Attributes with symbolic target shapes (reshape, broadcast_to) made concrete.

    References see arrays, so a target dim ``N`` must become the run-time size
    here; nothing else in the attributes depends on run-time sizes.
    """
    shape = getattr(attrs, "shape", None)
    if shape is not None and any(isinstance(d, SymDim) for d in shape):
        return dataclasses.replace(attrs, shape=evaluate_shape(shape, sizes))
    return attrs


def _bound_array(p: Value) -> np.ndarray:
    if p.binding is None:
        raise ValueError(f"param %{p.name} has no binding and no value was given")
    return np.asarray(p.binding.numpy())

"""``emit_conv_into`` with an epilogue, the contract fusion builds on.

The CONV lowering is swapped, for the test, for one that calls ``emit_conv_into`` with an
inline epilogue ``relu(acc + bias[col] + row / 1024)``: ``bias`` is an LLVM global, and the
row term checks that ``row`` is the flattened (batch, spatial...) output position. The
result is compared with the interpreter's conv followed by the same arithmetic in numpy,
over ragged channel counts (masked vector tails split into power-of-two pieces), borders,
strides, lhs dilation, depthwise and grouped convs, 1-D to 3-D, the symbolic batch at 1,
a prime and a larger size, float64, and the compact generic path.
"""
from __future__ import annotations

import llvmlite.ir as ll
import numpy as np
import pytest

from codegen.cpu.kernel import CPU_LOWERINGS, I32, KernelContext, lltype
from codegen.cpu.lowerings import window
from ir import DType, Graph, Op, TensorType, interpret
from runtime.executable import Executable
from tests.codegen.harness import random_array
from tests.codegen.test_window import ConvCase

CASES = [
    ConvCase("3x3 same, 37 -> 37 (16 + 16 + 4 + 1)", (None, 9, 11, 37), (3, 3, 37, 37),
             padding=((1, 1), (1, 1))),
    ConvCase("first layer 1 -> 32, valid", (None, 13, 12, 1), (3, 3, 1, 32)),
    ConvCase("5x5 s2 pad 2, 3 -> 7", (None, 13, 17, 3), (5, 5, 3, 7), strides=(2, 2), padding=((2, 2), (2, 2))),
    ConvCase("lhs 2 (input grad), 5 -> 66", (None, 7, 6, 5), (3, 3, 5, 66), padding=((2, 2), (2, 2)),
             lhs_dilation=(2, 2)),
    ConvCase("depthwise 19 channels", (None, 7, 9, 19), (3, 3, 1, 19), padding=((1, 1), (1, 1)), groups=19),
    ConvCase("groups 3, 5 out per group", (None, 6, 7, 6), (3, 3, 2, 15), groups=3),
    ConvCase("1d k5 pad 2, 3 -> 1", (None, 23, 3), (5, 3, 1), padding=((2, 2),)),
    ConvCase("3d same, 2 -> 18", (None, 3, 4, 5, 2), (3, 3, 3, 2, 18), padding=((1, 1),) * 3),
]


def _bias_relu_lowering(biases: dict[str, np.ndarray]):
    """A CONV emitter calling ``emit_conv_into`` with ``relu(acc + bias[col] + row / 1024)``."""
    def emit(ctx: KernelContext) -> None:
        node = ctx.node
        x, w = node.inputs
        out = node.output
        bias = biases[node.name]
        ty = lltype(out.dtype)
        arr = ll.ArrayType(ty, len(bias))
        g = ll.GlobalVariable(ctx.module, arr, name=f"bias_{node.name}")
        g.global_constant, g.linkage = True, "internal"
        g.initializer = ll.Constant(arr, [float(v) for v in bias])

        def epilogue(b: ll.IRBuilder, row: ll.Value, col: ll.Value, acc: ll.Value) -> ll.Value:
            vec = isinstance(acc.type, ll.VectorType)
            here = b.gep(g, [ll.Constant(ll.IntType(64), 0), col], inbounds=True)
            bv = b.load(here, typ=acc.type, align=out.dtype.itemsize)
            rv = b.fdiv(b.sitofp(row, ty), ll.Constant(ty, 1024.0))
            if vec:
                lanes = acc.type.count
                one = b.insert_element(ll.Constant(acc.type, None), rv, ll.Constant(I32, 0))
                rv = b.shuffle_vector(one, ll.Constant(acc.type, None),
                                      ll.Constant(ll.VectorType(I32, lanes), [0] * lanes))
            s = b.fadd(b.fadd(acc, bv), rv)
            zero = ll.Constant(acc.type, [0.0] * acc.type.count) if vec else ll.Constant(ty, 0.0)
            return b.select(b.fcmp_ordered(">", s, zero), s, zero)

        window.emit_conv_into(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], x.type, w.type,
                              out.type, node.attrs, epilogue)
    return emit


def _check(monkeypatch: pytest.MonkeyPatch, cases, dtype: DType, batches, atol: float) -> None:
    rng = np.random.default_rng(1)
    g = Graph("conv_epilogue")
    biases, outs = {}, []
    for i, c in enumerate(cases):
        x = g.add_input(TensorType(dtype, c.x), f"x{i}")
        w = g.add_constant(random_array(c.w, dtype, rng), name=f"w{i}")
        node = g.add_node(Op.CONV, [x, w], c.attrs(), name=f"conv{i}")
        biases[node.name] = random_array((c.w[-1],), dtype, rng)
        outs.append(node.output)
    g.set_outputs(outs)
    monkeypatch.setitem(CPU_LOWERINGS, Op.CONV, _bias_relu_lowering(biases))
    exe = Executable(g)
    for n in batches:
        inputs = [random_array(tuple(n if d is None else d for d in c.x), dtype, rng) for c in cases]
        convs = interpret(g, inputs)
        got = exe(*inputs)
        for i, (c, conv, y) in enumerate(zip(cases, convs, got)):
            rows = np.arange(int(np.prod(conv.shape[:-1]))).reshape(conv.shape[:-1] + (1,))
            want = np.maximum(conv + biases[f"conv{i}"] + (rows / 1024).astype(dtype.numpy), 0)
            np.testing.assert_allclose(y, want, rtol=1e-5, atol=atol,
                                       err_msg=f"{c.label} at batch {n} ({dtype.name})")


def test_epilogue_float32_symbolic_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    _check(monkeypatch, CASES, DType.float32, batches=(1, 7, 33), atol=2e-4)


def test_epilogue_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    _check(monkeypatch, CASES[:5], DType.float64, batches=(1, 3), atol=1e-12)


def test_epilogue_generic_loop_nest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window, "_UNROLL_BUDGET", 0)
    _check(monkeypatch, CASES, DType.float32, batches=(1, 5), atol=2e-4)

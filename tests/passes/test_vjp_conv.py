"""The conv VJP's kernel gradient (``passes.vjp.window._conv_kernel_grad``).

conv is linear in its kernel, so the exact kernel gradient is ``dw[j] = <ct, conv(x, e_j)>``
over the basis kernels ``e_j``: computed here with the reference conv in float64 and
compared with the gradient graph the rule builds, run by the interpreter and compiled.
Both patch layouts are checked (channels-last rows for dense convs with many channels,
channel-major for the rest) on every kind of ConvAttrs, with the symbolic batch; the
structure test pins the formulation (one gather, one batched matmul, no per-tap slices or
concat) and the graph verifies.
"""
from __future__ import annotations

import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType, interpret, verify
from ir.attrs import ConvAttrs
from ir.registry import evaluate
from passes.vjp import window as vjp_window
from passes.vjp.emit import Emit
from runtime.executable import Executable

F64 = DType.float64

# (x shape with None for the batch, kernel shape, strides, padding, dilation, lhs_dilation, groups)
CASES = [
    ("valid 3x3", (None, 6, 7, 3), (3, 3, 3, 2), (1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),
    ("same s2", (None, 7, 6, 2), (3, 3, 2, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), (1, 1), 1),
    ("dilation 2 asym pad", (None, 7, 7, 2), (3, 2, 2, 2), (1, 1), ((2, 1), (0, 1)), (2, 2), (1, 1), 1),
    ("lhs 2 s2 pad wider than kernel", (None, 4, 3, 2), (2, 2, 2, 1), (2, 1), ((3, 2), (2, 3)), (1, 2),
     (2, 2), 1),
    ("groups 2", (None, 5, 5, 4), (3, 3, 2, 4), (2, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 2),
    ("depthwise x2", (None, 5, 6, 3), (3, 3, 1, 6), (1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 3),
    ("1d s3", (None, 11, 2), (3, 2, 3), (3,), ((1, 0),), (1,), (1,), 1),
    ("3d", (None, 3, 4, 3, 2), (2, 2, 2, 2, 2), (1, 2, 1), ((0, 1), (1, 0), (1, 1)), (1, 1, 1),
     (1, 1, 1), 1),
]


def _attrs(case) -> ConvAttrs:
    return ConvAttrs(*case[3:8])


def _grad_graph(case) -> Graph:
    """Inputs x, w, ct; output the kernel gradient as the rule builds it."""
    _, xs, ws, *_ = case
    attrs = _attrs(case)
    g = Graph("dw")
    x = g.add_input(TensorType(F64, xs), "x")
    w = g.add_input(TensorType(F64, ws), "w")
    conv = g.add_node(Op.CONV, [x, w], attrs, name="conv")
    ct = g.add_input(conv.output.type, "ct")
    dw = vjp_window._conv_kernel_grad(Emit(g, conv), x, w, ct, attrs)
    g.remove_node(conv)
    g.set_outputs([dw])
    return g


def _exact_dw(x: np.ndarray, w_shape: tuple, ct: np.ndarray, attrs: ConvAttrs) -> np.ndarray:
    out = np.zeros(w_shape)
    for j in range(out.size):
        e = np.zeros(out.size)
        e[j] = 1.0
        (y,) = evaluate(Op.CONV, (x, e.reshape(w_shape)), attrs)
        out.flat[j] = np.sum(y * ct)
    return out


@pytest.fixture(params=["rows", "channel-major"])
def layout(request, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(vjp_window, "_ROWS_MIN_CHANNELS", 1 if request.param == "rows" else 10**9)
    return request.param


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kernel_grad_is_exact(case, layout: str) -> None:
    g = _grad_graph(case)
    verify(g)
    exe = Executable(g)
    rng = np.random.default_rng(0)
    for n in (1, 5):
        x = rng.standard_normal(tuple(n if d is None else d for d in case[1]))
        ct_shape = tuple(d if isinstance(d, int) else n for d in g.inputs[2].shape)
        ct = rng.standard_normal(ct_shape)
        w = np.zeros(case[2])
        want = _exact_dw(x, case[2], ct, _attrs(case))
        (got,) = interpret(g, [x, w, ct])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"interpreter, batch {n}")
        (compiled,) = exe(x, w, ct)
        np.testing.assert_allclose(compiled, want, rtol=1e-12, atol=1e-12, err_msg=f"compiled, batch {n}")


def test_kernel_grad_structure(layout: str) -> None:
    """One gather of the input's patches and one batched matmul against the cotangent: no
    per-tap slices, no concat, at most one pad (for taps that land in padding or holes)."""
    for case in CASES:
        ops = [n.op for n in _grad_graph(case).nodes]
        assert ops.count(Op.GATHER) == 1 and ops.count(Op.MATMUL) == 1, (case[0], ops)
        assert Op.SLICE not in ops and Op.CONCAT not in ops, (case[0], ops)
        assert ops.count(Op.PAD) <= 1, (case[0], ops)
        assert ops.count(Op.TRANSPOSE) <= 3, (case[0], ops)
    valid = [n.op for n in _grad_graph(CASES[0]).nodes]
    assert Op.PAD not in valid                      # every tap of a valid conv is real

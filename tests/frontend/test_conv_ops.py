"""frontend.ops.conv: padding arithmetic, eager values against Keras' ops, the
compiled graph against eager, parameters staying parameters, and errors."""
from __future__ import annotations

import importlib
import itertools
import math

import numpy as np
import pytest

from frontend.tensors import KerasTensor
from frontend.tracing import Tracer, tracing
from frontend.variables import Variable
from ir import verify
from ir.opcodes import Op
from runtime.executable import Executable
from tests.frontend.layer_harness import keras_or_skip

# The module, not the function: ``frontend.ops`` re-exports ``conv`` the op under that name.
C = importlib.import_module("frontend.ops.conv")
RNG = np.random.default_rng(1234)


def rand(*shape: int) -> np.ndarray:
    return RNG.uniform(-1, 1, size=shape).astype("float32")


def compiled(fn, x: np.ndarray):
    """Traces ``fn`` on a symbolic-batch input shaped like ``x[0]`` and compiles it."""
    tracer = Tracer("conv_ops")
    t = tracer.input((None,) + x.shape[1:], "float32", "x")
    out = fn(t)
    tracer.graph.set_outputs([out.value])
    return Executable(verify(tracer.graph)), tracer.graph


# -- padding arithmetic ---------------------------------------------------------------------
@pytest.mark.parametrize("size,window,stride,dilation", [
    (7, 3, 1, 1), (7, 3, 2, 1), (5, 2, 2, 1), (5, 4, 3, 1), (7, 3, 1, 2), (1, 3, 1, 1), (6, 1, 4, 1),
])
def test_same_padding_gives_ceil_output(size, window, stride, dilation):
    from ir.ops.window import window_output_size
    lo, hi = C.same_padding(size, window, stride, dilation)
    assert lo <= hi <= lo + 1          # the odd pad goes high, as XLA
    assert window_output_size(size, window, stride, (lo, hi), dilation) == math.ceil(size / stride)


def test_explicit_padding_modes():
    assert C.explicit_padding("valid", (7, 5), (3, 3), (1, 1), (1, 1)) == ((0, 0), (0, 0))
    assert C.explicit_padding("SAME", (7, 5), (3, 2), (2, 2), (1, 1)) == ((1, 1), (0, 1))
    assert C.explicit_padding("causal", (9,), (3,), (1,), (2,), allow_causal=True) == ((4, 0),)
    with pytest.raises(ValueError, match="Received: padding=causal"):
        C.explicit_padding("causal", (7, 5), (3, 3), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="only defined for 1-D"):
        C.explicit_padding("causal", (7, 5), (3, 3), (1, 1), (1, 1), allow_causal=True)


# -- eager values against keras.ops ---------------------------------------------------------
SPATIAL = {1: (7,), 2: (7, 5), 3: (5, 6, 5)}   # every case has a non-empty output


def _conv_cases():
    for n, k, s, d, pad in itertools.product((1, 2, 3), (1, 2, 3), (1, 2, 3), (1, 2), ("valid", "same")):
        if s > 1 and d > 1:
            continue
        yield n, k, s, d, pad


@pytest.mark.parametrize("n,k,s,d,pad", list(_conv_cases()))
def test_conv_family_matches_keras(n, k, s, d, pad):
    keras = keras_or_skip()
    # Sums of up to 3^3 taps x 4 channels = 108 float32 products of size ~1, added in a
    # different order than XLA's: ~1e-6 absolute rounding, so atol 1e-5 for the long
    # 3-D reductions (relative error is still checked at 1e-5 everywhere).
    atol = 1e-5 if k ** n * 4 > 32 else 1e-6
    x = rand(2, *SPATIAL[n], 4)
    w = rand(*(k,) * n, 2, 6)            # kernel in-channels 2 of 4: groups=2
    np.testing.assert_allclose(C.conv(x, w, s, pad, dilation_rate=d),
                               keras.ops.conv(x, w, s, pad, dilation_rate=d), rtol=1e-5, atol=atol)
    wd = rand(*(k,) * n, 4, 3)
    np.testing.assert_allclose(C.depthwise_conv(x, wd, s, pad, dilation_rate=d),
                               keras.ops.depthwise_conv(x, wd, s, pad, dilation_rate=d),
                               rtol=1e-5, atol=atol)
    for op in [None, *range(s)]:
        wt = rand(*(k,) * n, 5, 4)
        want = keras.ops.conv_transpose(x, wt, s, pad, output_padding=op, dilation_rate=d)
        got = C.conv_transpose(x, wt, s, pad, output_padding=op, dilation_rate=d)
        assert got.shape == want.shape, (op, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("n,k,s,pad", [(n, k, s, pad) for n, k, s, pad in itertools.product(
    (1, 2, 3), (1, 2, 3), (1, 2, 3), ("valid", "same")) if not (pad == "valid" and k > 3)])
def test_pooling_matches_keras(n, k, s, pad):
    keras = keras_or_skip()
    x = rand(2, *SPATIAL[n], 3)
    np.testing.assert_allclose(C.max_pool(x, k, s, pad), keras.ops.max_pool(x, k, s, pad), rtol=0, atol=0)
    np.testing.assert_allclose(C.average_pool(x, k, s, pad), keras.ops.average_pool(x, k, s, pad),
                               rtol=1e-5, atol=1e-6)


def test_separable_conv_and_causal_match_keras():
    keras = keras_or_skip()
    x = rand(3, 7, 5, 4)
    dw, pw = rand(3, 2, 4, 2), rand(1, 1, 8, 5)
    np.testing.assert_allclose(C.separable_conv(x, dw, pw, 2, "same"),
                               keras.ops.separable_conv(x, dw, pw, 2, "same"), rtol=1e-5, atol=1e-6)
    x1, w1 = rand(2, 9, 3), rand(3, 3, 4)
    want = keras.ops.conv(np.pad(x1, ((0, 0), (4, 0), (0, 0))), w1, 1, "valid", dilation_rate=2)
    np.testing.assert_allclose(C.conv(x1, w1, 1, "causal", dilation_rate=2), want, rtol=1e-5, atol=1e-6)


def test_strides_default_to_pool_size_and_sequences_accepted():
    x = rand(2, 7, 5, 3)
    assert C.max_pool(x, (3, 2)).shape == (2, 2, 2, 3)
    assert C.max_pool(x, [3, 2], strides=[1, 1]).shape == (2, 5, 4, 3)
    assert C.conv(x, rand(2, 2, 3, 4), strides=(2, 1)).shape == (2, 3, 4, 4)


# -- compiled against eager -----------------------------------------------------------------
COMPILED_CASES = {
    "conv_same_s2": lambda w: (lambda x: C.conv(x, w["c"], 2, "same")),
    "conv_groups_dilated": lambda w: (lambda x: C.conv(x, w["g"], 1, "same", dilation_rate=2)),
    "depthwise_m3": lambda w: (lambda x: C.depthwise_conv(x, w["d"], (2, 1), "valid")),
    "separable": lambda w: (lambda x: C.separable_conv(x, w["d"], w["p"], 1, "same")),
    "transpose_same_s2": lambda w: (lambda x: C.conv_transpose(x, w["t"], 2, "same")),
    "transpose_valid_s3_op": lambda w: (lambda x: C.conv_transpose(x, w["t"], 3, "valid",
                                                                   output_padding=(1, 2))),
    "max_same": lambda w: (lambda x: C.max_pool(x, 3, 2, "same")),
    "avg_same": lambda w: (lambda x: C.average_pool(x, (3, 2), (2, 1), "same")),
    "avg_valid": lambda w: (lambda x: C.average_pool(x, 2)),
}


@pytest.mark.parametrize("case", sorted(COMPILED_CASES))
def test_compiled_matches_eager(case):
    weights = {"c": rand(3, 3, 4, 6), "g": rand(3, 2, 2, 6), "d": rand(3, 3, 4, 3),
               "p": rand(1, 1, 12, 5), "t": rand(3, 2, 5, 4)}
    fn = COMPILED_CASES[case](weights)
    x = rand(7, 7, 5, 4)
    exe, _ = compiled(fn, x)
    want = fn(x)
    for b in (1, 7):
        np.testing.assert_allclose(exe(x[:b])[0], want[:b], rtol=1e-5, atol=1e-6)


def test_conv_1d_and_3d_compile():
    w1, w3 = rand(3, 3, 4), rand(2, 3, 2, 3, 2)
    x1 = rand(3, 9, 3)
    exe, _ = compiled(lambda t: C.conv(t, w1, 1, "causal", dilation_rate=2), x1)
    np.testing.assert_allclose(exe(x1)[0], C.conv(x1, w1, 1, "causal", dilation_rate=2), rtol=1e-5, atol=1e-6)
    x3 = rand(2, 4, 5, 3, 3)
    exe, _ = compiled(lambda t: C.conv(t, w3, 1, "same"), x3)
    np.testing.assert_allclose(exe(x3)[0], C.conv(x3, w3, 1, "same"), rtol=1e-5, atol=1e-6)


def test_kernel_variable_stays_a_parameter():
    """A kernel flipped/reshaped inside the op is still read from the live Variable."""
    kernel = Variable(rand(3, 3, 5, 4), name="kernel", path="ct/kernel")
    tracer = Tracer("params")
    t = tracer.input((None, 7, 5, 4), "float32", "x")
    with tracing(tracer):
        out = C.conv_transpose(t, kernel, 2, "same")
    tracer.graph.set_outputs([out.value])
    graph = verify(tracer.graph)
    assert [p.name for p in graph.params] == ["ct/kernel"]
    assert any(n.op is Op.SLICE for n in graph.nodes)
    exe = Executable(graph)
    x = rand(2, 7, 5, 4)
    np.testing.assert_allclose(exe(x)[0], C.conv_transpose(x, kernel.numpy(), 2, "same"), rtol=1e-5, atol=1e-6)
    kernel.assign(rand(3, 3, 5, 4))       # the same executable sees the new weights
    np.testing.assert_allclose(exe(x)[0], C.conv_transpose(x, kernel.numpy(), 2, "same"), rtol=1e-5, atol=1e-6)


# -- symbolic and errors --------------------------------------------------------------------
def test_keras_tensor_inputs_give_output_shapes():
    x = KerasTensor((None, 7, 5, 4))
    assert C.conv(x, rand(3, 3, 4, 6), 2, "same").shape == (None, 4, 3, 6)
    assert C.conv_transpose(x, rand(3, 3, 2, 4), 2, "valid").shape == (None, 15, 11, 2)
    assert C.max_pool(x, 2).shape == (None, 3, 2, 4)


def test_errors_speak():
    x = rand(2, 7, 5, 4)
    with pytest.raises(ValueError, match="channels_first.*not supported.*channels_last"):
        C.conv(x, rand(3, 3, 4, 2), data_format="channels_first")
    with pytest.raises(ValueError, match="channels_first"):
        C.max_pool(x, 2, data_format="channels_first")
    with pytest.raises(ValueError, match="must be one of 'valid', 'same'"):
        C.conv(x, rand(3, 3, 4, 2), padding="full")
    with pytest.raises(ValueError, match="Invalid padding 'full'"):
        C.average_pool(x, 2, padding="full")
    with pytest.raises(ValueError, match="evenly divisible by kernel's in_channels"):
        C.conv(x, rand(3, 3, 3, 2))
    with pytest.raises(ValueError, match="empty output"):
        C.conv(x, rand(9, 3, 4, 2))
    with pytest.raises(ValueError, match="must match the kernel's last axis"):
        C.conv_transpose(x, rand(3, 3, 4, 2))
    with pytest.raises(ValueError, match="rank 4"):
        C.conv(rand(2, 7, 4), rand(3, 3, 4, 2))
    with pytest.raises(TypeError, match="floating-point"):
        C.max_pool(np.ones((1, 4, 4, 1), np.int32), 2)

"""Accuracy of the float32 vector math (codegen/cpu/vecmath.py) against float64 references.

Each function runs compiled, as an elementwise op over a 1-d float32 array (so the
vector loop and the scalar tail both run), on a wide random sample (uniform and
log-uniform magnitudes of both signs), a dense sweep of the interval where the
argument reduction changes branch, and the special values. Errors are measured in
units in the last place of the float32 result, against the float64 function rounded
to float32; special values must match exactly (NaN for NaN, signed zeros included).

Max ulp measured on the dev box (Zen 4, FMA; ~2 M points per function), which the
bounds below leave a little room over:
    exp 0.99, expm1 1.66, log 0.79, log1p 1.43, tanh 1.30, sigmoid 2.25, erf 1.70,
    sin 1.52, cos 1.47
(printed by test_report_max_ulp; run it with -s). sigmoid composes exp, an add and a
divide, as the reference's stable formula does, and so carries their three roundings.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from ir import DType, Graph, Op, TensorType
from runtime.executable import Executable

F32 = DType.float32
_erf64 = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


# op -> (float64 reference, random sample range as (lo, hi) magnitudes, ulp bound)
FUNCS = {
    Op.EXP: (np.exp, (-104.0, 89.0), 2.0),
    Op.EXPM1: (np.expm1, (-20.0, 89.0), 2.0),
    Op.LOG: (np.log, None, 2.0),
    Op.LOG1P: (np.log1p, None, 2.0),
    Op.TANH: (np.tanh, (-10.0, 10.0), 2.0),
    Op.SIGMOID: (_sigmoid64, (-105.0, 105.0), 2.5),
    Op.ERF: (_erf64, (-5.0, 5.0), 2.0),
    # Beyond |x| = 8192 (and for inf / NaN) lanes go to libm: the range covers both paths.
    Op.SIN: (np.sin, (-2e4, 2e4), 2.0),
    Op.COS: (np.cos, (-2e4, 2e4), 2.0),
}

SPECIALS = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5,
                     2.0 ** -149, -(2.0 ** -149), 2.0 ** -126, 1e-30, -1e-30, 1e-10, -1e-10,
                     88.72283935546875, 88.72284, 88.7229, 89.0, -87.33654, -103.97208, -103.9721,
                     -104.0, -200.0, 3.4e38, -3.4e38, 0.625, -0.625, 0.921875, -0.921875, 3.92,
                     4.0, 9.0, -9.0, 20.0, -18.0, -17.0, 1e-7, -1e-7, 2.0 ** -24, -(2.0 ** -25),
                     -0.9999999, -1.0000001, 0.70710677, 1.4142135], np.float32)


def _compile(op: Op) -> Executable:
    g = Graph(f"vecmath_{op}")
    x = g.add_input(TensorType(F32, (None,)), "x")
    g.set_outputs([g.add_node(op, [x]).output])
    return Executable(g)


def _sample(op: Op, rng: np.random.Generator) -> np.ndarray:
    rng_lo_hi = FUNCS[op][1]
    parts = []
    if rng_lo_hi is None:                       # logarithms: positive, every binade, plus near 1
        parts.append(np.exp2(rng.uniform(-149, 128, 1_000_000)))
        parts.append(1.0 + rng.uniform(-0.5, 0.5, 200_000))
        if op is Op.LOG1P:
            parts.append(-np.exp2(rng.uniform(-149, 0, 300_000)))          # (-1, 0)
            parts.append(rng.uniform(-1.0, 1.0, 300_000))
    else:
        lo, hi = rng_lo_hi
        parts.append(rng.uniform(lo, hi, 1_000_000))
        mags = np.exp2(rng.uniform(-149, math.log2(max(abs(lo), abs(hi))), 600_000))
        parts.append(mags * rng.choice([-1.0, 1.0], mags.size))
        parts.append(np.linspace(-4.0, 4.0, 400_001))                     # branch boundaries
    with np.errstate(over="ignore"):
        x = np.concatenate(parts).astype(np.float32)
    return x[np.isfinite(x)]


def _ulp_error(got: np.ndarray, want64: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ulps of the correctly rounded result (subnormal ulp at the bottom)."""
    with np.errstate(over="ignore", invalid="ignore"):
        want32 = want64.astype(np.float32)
        ulp = np.spacing(np.abs(want32)).astype(np.float64)
        err = np.abs(got.astype(np.float64) - want64) / ulp
    both_inf = np.isinf(got) & np.isinf(want32) & (np.sign(got) == np.sign(want32))
    # Where the true result rounds to +-inf in float32, the largest float is within 1 ulp too.
    return np.where(both_inf, 0.0, err)


def _max_ulp(op: Op, exe: Executable) -> tuple[float, float]:
    ref = FUNCS[op][0]
    x = _sample(op, np.random.default_rng(int(op.value) if isinstance(op.value, int) else 7))
    (got,) = exe(x)
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
    err = _ulp_error(got, want)
    k = int(np.argmax(err))
    return float(err[k]), float(x[k])


@pytest.mark.parametrize("op", list(FUNCS), ids=str)
def test_accuracy(op: Op) -> None:
    exe = _compile(op)
    worst, at = _max_ulp(op, exe)
    assert worst <= FUNCS[op][2], f"{op}: {worst:.2f} ulp at x = {at!r}"


@pytest.mark.parametrize("op", list(FUNCS), ids=str)
def test_special_values(op: Op) -> None:
    """Exact on NaN, infinities, signed zeros, subnormals and the overflow/underflow edges."""
    exe = _compile(op)
    ref = FUNCS[op][0]
    x = SPECIALS
    (got,) = exe(x)
    with np.errstate(all="ignore"):
        want64 = ref(x.astype(np.float64))
        want = want64.astype(np.float32)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=f"{op}: NaN pattern, x = {x}")
    # Infinities, zeros (with their sign) and the tiny-argument identities (exp(x) = 1,
    # expm1(x) = log1p(x) = tanh(x) = sin(x) = x, sigmoid(x) = 1/2, cos(x) = 1 once
    # |x| < 2^-25) are exact.
    tiny = (np.abs(x) < 2.0 ** -25) if op is not Op.ERF else np.zeros(x.shape, bool)
    exact = ~nan & (np.isinf(want) | (want == 0) | tiny | np.isinf(x))
    np.testing.assert_array_equal(got[exact], want[exact], err_msg=f"{op} at {x[exact]}")
    np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(want[exact]),
                                  err_msg=f"{op}: sign of zero at {x[exact]}")
    rest = ~nan & ~exact
    assert _ulp_error(got[rest], want64[rest]).max() <= FUNCS[op][2], f"{op}: {x[rest]} -> {got[rest]}"


def test_report_max_ulp() -> None:
    """Prints the measured max ulp error of every function (run with -s to see it)."""
    for op in FUNCS:
        worst, at = _max_ulp(op, _compile(op))
        print(f"{op}: max {worst:.2f} ulp at x = {at!r}")
        assert worst <= FUNCS[op][2]

"""Branch-free float32 math in LLVM IR that works on scalars and vectors alike.

LLVM has no vector implementations of ``exp``, ``log``, ``tanh``, ``erf``...:
it scalarizes ``llvm.exp.v8f32`` into eight libm calls, so every loop that
touches them runs one element at a time. These emitters write the math out
as straight-line IR (integer bit tricks, ``select`` instead of branches,
polynomials through ``llvm.fmuladd``, never a libm call), so the same code
serves a scalar ``float`` and any ``<w x float>``, and a loop around it
vectorizes. (sin and cos alone branch, once per vector, to libm for lanes
beyond |x| = 8192 and for inf / NaN, where a float32 reduction by pi/4 runs
out of bits.)

Each function follows the classic recipe: reduce the argument to a small
interval exactly (Cody-Waite splitting of ln 2 or pi/4; the exponent field
for logarithms), evaluate a minimax polynomial there, reconstruct, then patch
the special values (NaN, +-inf, +-0, overflow and underflow thresholds) with
selects. Coefficients: ``exp``, ``log``, ``sin`` and ``cos`` are Cephes'
(``expf``, ``logf``, ``sinf``, ``cosf``), ``tanh`` on |x| < 0.625 is Cephes'
``tanhf``; ``expm1`` and ``erf`` were fitted for this module (iteratively
reweighted least squares towards minimax, in float64 on 2000 Chebyshev nodes
of the interval noted at each table, then rounded to float32). Measured
accuracy over wide random ranges against float64 references, special values
exact: tests/codegen/test_vecmath.py (at most 2.25 ulp, sigmoid; 1.7 or
less for the others).

float64 keeps LLVM intrinsics and libm (correctly rounded to ~0.5 ulp, which a
cheap polynomial would not match); these functions accept float32 only.
"""
from __future__ import annotations

from typing import Sequence

import llvmlite.ir as ll

from codegen.cpu.kernel import F32, I1, I32
from codegen.cpu.lowerings._support import call_intrinsic

_INF = float("inf")
_NAN = float("nan")
LOG2E = 1.44269504088896341
# ln 2 split so that n * LN2_HI is exact for |n| < 2^15 (LN2_HI has 9 significant bits).
LN2_HI = 0.693359375
LN2_LO = -2.12194440e-4
SQRT_HALF = 0.707106781186547524

_EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
          5.0000001201e-1)
_LOG_P = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
          -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1)
_TANH_P = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)
# expm1(r) = r + r^2/2 + r^3 * P(r) on |r| <= 0.7 (fit error of P: 4e-10).
_EXPM1_P = (2.783469653877546e-06, 2.5039020329131745e-05, 0.00019840287859551609, 0.0013888305984437466,
            0.00833333469927311, 0.0416666716337204, 0.1666666716337204)
# erf(x) = x * (c0 + t * R(t)), t = x^2, on |x| < ERF_SPLIT.
ERF_SPLIT = 0.921875
_ERF_R = (8.370692376047373e-05, -0.000814286817330867, 0.005201049614697695, -0.026859406381845474,
          0.11283695697784424, -0.37612634897232056)
_ERF_C0 = 1.128379225730896
# erfc(x) = exp(Q(x)) on ERF_SPLIT <= x <= 4 (erf(x) rounds to 1 in float32 beyond ~3.92).
_ERFC_Q = (1.6025281865950092e-06, -4.53553548140917e-05, 0.0005907219019718468, -0.004730313550680876,
           0.02633563242852688, -0.10992534458637238, -0.6319951415061951, -1.1301316022872925,
           0.0002942999708466232)


class _Emit:
    """The builder plus constants of the operand's shape (scalar or vector) in float and int."""

    def __init__(self, b: ll.IRBuilder, ty: ll.Type):
        base = ty.element if isinstance(ty, ll.VectorType) else ty
        if base != F32:
            raise TypeError(f"vecmath implements float32 only, received {ty}")
        self.b = b
        self.ty = ty
        self.ity = ll.VectorType(I32, ty.count) if isinstance(ty, ll.VectorType) else I32
        self.mty = ll.VectorType(I1, ty.count) if isinstance(ty, ll.VectorType) else I1

    def f(self, v: float) -> ll.Constant:
        return ll.Constant(self.ty, v)

    def i(self, v: int) -> ll.Constant:
        return ll.Constant(self.ity, v)

    def fma(self, a: ll.Value, x: ll.Value, y: ll.Value) -> ll.Value:
        """a * x + y, fused where the target has FMA (``llvm.fmuladd``): never a libm call."""
        return call_intrinsic(self.b, "fmuladd", a, x, y)

    def poly(self, x: ll.Value, coeffs: Sequence[float]) -> ll.Value:
        """Horner's rule, highest degree first."""
        y: ll.Value = self.f(coeffs[0])
        for c in coeffs[1:]:
            y = self.fma(y, x, self.f(c))
        return y

    def lt(self, x: ll.Value, c: float) -> ll.Value:
        return self.b.fcmp_ordered("<", x, self.f(c))

    def gt(self, x: ll.Value, c: float) -> ll.Value:
        return self.b.fcmp_ordered(">", x, self.f(c))

    def eq(self, x: ll.Value, c: float) -> ll.Value:
        return self.b.fcmp_ordered("==", x, self.f(c))

    def isnan(self, x: ll.Value) -> ll.Value:
        return self.b.fcmp_unordered("uno", x, x)

    def fabs(self, x: ll.Value) -> ll.Value:
        return call_intrinsic(self.b, "fabs", x)

    def copysign(self, x: ll.Value, sign: ll.Value) -> ll.Value:
        return call_intrinsic(self.b, "copysign", x, sign)

    def pow2(self, n: ll.Value) -> ll.Value:
        """2.0 ** n for an int32 n in [-126, 127], built in the exponent field."""
        return self.b.bitcast(self.b.shl(self.b.add(n, self.i(127)), self.i(23)), self.ty)


def _exp_core(e: _Emit, x: ll.Value) -> ll.Value:
    """exp(x) for x that is not NaN; +-inf and out-of-range x saturate to inf / 0 correctly."""
    b = e.b
    # Clamp so that n stays in [-150, 128]: beyond it the result is 0 or inf anyway, and the
    # scaling below reaches them by rounding, as a correctly rounded exp would.
    x = b.select(e.gt(x, 88.8), e.f(88.8), x)
    x = b.select(e.lt(x, -104.0), e.f(-104.0), x)
    n = call_intrinsic(b, "roundeven", b.fmul(x, e.f(LOG2E)))
    r = e.fma(n, e.f(-LN2_HI), x)          # exact: n * LN2_HI is exact and cancels with x
    r = e.fma(n, e.f(-LN2_LO), r)
    z = b.fmul(r, r)
    p = e.poly(r, _EXP_P)
    y = b.fadd(e.fma(p, z, r), e.f(1.0))
    # 2^n as 2^(n>>1) * 2^(n - (n>>1)): both halves are normal floats for n in [-150, 128],
    # so results in the subnormal range are rounded once, in the last multiply.
    ni = b.fptosi(n, e.ity)
    n1 = b.ashr(ni, e.i(1))
    return b.fmul(b.fmul(y, e.pow2(n1)), e.pow2(b.sub(ni, n1)))


def _exp_in_range(e: _Emit, x: ll.Value) -> ll.Value:
    """exp(x) for x known to lie in [-87, 88] (no NaN): no clamping, one scaling multiply."""
    b = e.b
    n = call_intrinsic(b, "roundeven", b.fmul(x, e.f(LOG2E)))
    r = e.fma(n, e.f(-LN2_HI), x)
    r = e.fma(n, e.f(-LN2_LO), r)
    y = b.fadd(e.fma(e.poly(r, _EXP_P), b.fmul(r, r), r), e.f(1.0))
    return b.fmul(y, e.pow2(b.fptosi(n, e.ity)))


def exp(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """e ** x (float32 or <w x float>); <= 1 ulp in the normal range."""
    e = _Emit(b, x.type)
    nan = e.isnan(x)
    y = _exp_core(e, b.select(nan, e.f(0.0), x))     # no NaN reaches fptosi (poison)
    return b.select(nan, x, y)


def expm1(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """e ** x - 1 without cancellation near 0: x = n ln2 + r, expm1 = 2^n expm1(r) + (2^n - 1)."""
    e = _Emit(b, x.type)
    nan = e.isnan(x)
    # Past -18 the result is -1 in float32; past 88.73 it is inf. Clamping keeps 2^(n-1) normal.
    xc = b.select(nan, e.f(0.0), x)
    xc = b.select(e.gt(xc, 88.75), e.f(88.75), xc)
    xc = b.select(e.lt(xc, -18.0), e.f(-18.0), xc)
    n = call_intrinsic(b, "roundeven", b.fmul(xc, e.f(LOG2E)))
    # No reduction for |x| < ln 2: there n = +-1 would meet r of the other sign, and
    # 2^n expm1(r) + (2^n - 1) would cancel (2+ ulp); the polynomial covers |r| <= 0.7.
    n = b.select(e.lt(e.fabs(xc), 0.6931471805599453), e.f(0.0), n)
    r = e.fma(n, e.f(-LN2_HI), xc)
    r = e.fma(n, e.f(-LN2_LO), r)
    z = b.fmul(r, r)
    em1 = e.fma(b.fmul(z, r), e.poly(r, _EXPM1_P), e.fma(z, e.f(0.5), r))   # expm1(r)
    # 2^n * em1 + (2^n - 1) = 2 * (t * em1 + (t - 1/2)) with t = 2^(n-1): n reaches 128 near
    # the overflow threshold, where 2^n itself is not a float; doubling at the end overflows
    # to inf exactly when the true result does.
    t = e.pow2(b.sub(b.fptosi(n, e.ity), e.i(1)))
    y = b.fmul(e.fma(t, em1, b.fsub(t, e.f(0.5))), e.f(2.0))
    y = b.select(b.fcmp_ordered("==", n, e.f(0.0)), em1, y)        # no rounding of 2 * (em1 / 2)
    y = b.select(e.gt(x, 88.72283935546875), e.f(_INF), y)
    # |x| < 2^-24: expm1(x) rounds to x (keeps -0.0 and subnormals exact).
    y = b.select(e.lt(e.fabs(x), 2.0 ** -24), x, y)
    return b.select(nan, x, y)


def log(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """Natural logarithm; log(0) = -inf, log(x < 0) = NaN, log(inf) = inf; subnormals exact."""
    e = _Emit(b, x.type)
    tiny = e.lt(x, 2.0 ** -126)                        # subnormal (or zero / negative)
    xs = b.select(tiny, b.fmul(x, e.f(2.0 ** 23)), x)
    bits = b.bitcast(xs, e.ity)
    ex = b.sub(b.lshr(bits, e.i(23)), b.select(tiny, e.i(126 + 23), e.i(126)))
    m = b.bitcast(b.or_(b.and_(bits, e.i(0x007FFFFF)), e.i(0x3F000000)), e.ty)   # [0.5, 1)
    low = e.lt(m, SQRT_HALF)
    ex = b.sub(ex, b.zext(low, e.ity))
    m = b.fsub(b.select(low, b.fadd(m, m), m), e.f(1.0))                          # [-0.29, 0.41]
    ef = b.sitofp(ex, e.ty)
    z = b.fmul(m, m)
    y = b.fmul(b.fmul(e.poly(m, _LOG_P), m), z)
    y = e.fma(ef, e.f(LN2_LO), y)
    y = e.fma(z, e.f(-0.5), y)
    y = e.fma(ef, e.f(LN2_HI), b.fadd(m, y))
    y = b.select(e.eq(x, _INF), x, y)
    y = b.select(e.eq(x, 0.0), e.f(-_INF), y)
    y = b.select(e.lt(x, 0.0), e.f(_NAN), y)
    return b.select(e.isnan(x), x, y)


def log1p(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """log(1 + x) accurate near 0: log(u) + (x - (u - 1)) / u with u = 1 + x rounded."""
    e = _Emit(b, x.type)
    u = b.fadd(x, e.f(1.0))
    y = b.fadd(log(b, u), b.fdiv(b.fsub(x, b.fsub(u, e.f(1.0))), u))
    y = b.select(e.eq(x, -1.0), e.f(-_INF), y)
    y = b.select(e.eq(x, _INF), x, y)
    y = b.select(e.lt(e.fabs(x), 2.0 ** -24), x, y)    # rounds to x (keeps -0.0)
    return b.select(e.isnan(x), x, y)


def tanh(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """Hyperbolic tangent, computed on |x| and given x's sign (so tanh(-0) = -0)."""
    e = _Emit(b, x.type)
    ax = e.fabs(x)
    z = b.fmul(ax, ax)
    small = e.fma(b.fmul(e.poly(z, _TANH_P), z), ax, ax)
    # 1 - 2 / (e^2|x| + 1): no cancellation to speak of for |x| >= 0.625. From |x| = 9.02 the
    # result rounds to 1, so |x| is clamped at 10 (NaN too: the select below drops it).
    a = b.select(b.fcmp_ordered("<", ax, e.f(10.0)), ax, e.f(10.0))
    big = b.fsub(e.f(1.0), b.fdiv(e.f(2.0), b.fadd(_exp_in_range(e, b.fadd(a, a)), e.f(1.0))))
    y = b.select(b.fcmp_ordered(">=", ax, e.f(0.625)), big, small)
    return e.copysign(y, x)


def sigmoid(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """1 / (1 + e^-x) in the reference's stable form: exp only ever sees -|x|."""
    e = _Emit(b, x.type)
    t = exp(b, b.fneg(e.fabs(x)))
    d = b.fadd(e.f(1.0), t)
    return b.select(b.fcmp_ordered(">=", x, e.f(0.0)), b.fdiv(e.f(1.0), d), b.fdiv(t, d))


def erf(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """The error function, computed on |x| and given x's sign."""
    e = _Emit(b, x.type)
    ax = e.fabs(x)
    t = b.fmul(ax, ax)
    small = e.fma(ax, e.f(_ERF_C0), b.fmul(b.fmul(ax, t), e.poly(t, _ERF_R)))
    # Clamped at 4, the tail formula gives 1 - 1.5e-8 = 1.0f for every larger x and for inf.
    xc = b.select(e.gt(ax, 4.0), e.f(4.0), ax)
    big = b.fsub(e.f(1.0), _exp_core(e, e.poly(xc, _ERFC_Q)))
    y = b.select(e.lt(ax, ERF_SPLIT), small, big)
    y = b.select(e.isnan(x), x, y)
    return e.copysign(y, x)


# sin / cos: Cephes sinf/cosf. Octant reduction by pi/4 in four parts (DP1 has 8 significant
# bits, DP2 11, so y * DP1 and y * DP2 are exact for |x| <= SINCOS_FAST; Cephes' three parts
# leave pi/4 off by 8.6e-16, 18 ulp near the zeros of sin at |x| ~ 2000), polynomials on
# |r| <= pi/4. Larger |x|, infinities and NaN go to libm lane by lane (one branch per
# vector, taken only when some lane needs it), so the result is accurate everywhere.
SINCOS_FAST = 8192.0
FOPI = 1.27323954473516
_DP = (0.78515625, 2.4187564849853515625e-4, 3.77489497744594108e-8, -8.575622550029409e-16)
_SIN_P = (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)
_COS_P = (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2)


def _sincos(b: ll.IRBuilder, x: ll.Value, cos: bool) -> ll.Value:
    e = _Emit(b, x.type)
    ax = e.fabs(x)
    slow = b.fcmp_unordered(">", ax, e.f(SINCOS_FAST))         # also NaN
    xs = b.select(slow, e.f(0.0), ax)                          # no NaN or inf reaches fptosi
    j = b.fptosi(b.fmul(xs, e.f(FOPI)), e.ity)
    j = b.and_(b.add(j, e.i(1)), e.i(-2))                      # the even octant at or above
    y = b.sitofp(j, e.ty)
    r = e.fma(y, e.f(-_DP[0]), xs)
    r = e.fma(y, e.f(-_DP[1]), r)
    r = e.fma(y, e.f(-_DP[2]), r)
    r = e.fma(y, e.f(-_DP[3]), r)
    z = b.fmul(r, r)
    ps = e.fma(b.fmul(e.poly(z, _SIN_P), z), r, r)
    pc = b.fadd(e.fma(b.fmul(e.poly(z, _COS_P), z), z, b.fmul(z, e.f(-0.5))), e.f(1.0))
    odd = b.icmp_signed("!=", b.and_(j, e.i(2)), e.i(0))      # octants 2 and 6 (mod 8)
    neg = b.icmp_signed("!=", b.and_(j, e.i(4)), e.i(0))      # octants 4 and 6
    if cos:
        res = b.select(odd, ps, pc)
        flip = b.xor(neg, odd)
    else:
        res = b.select(odd, pc, ps)
        flip = b.xor(neg, b.fcmp_ordered("<", x, e.f(0.0)))
    fast = b.select(flip, b.fneg(res), res)
    if not cos:
        fast = b.select(e.eq(x, 0.0), x, fast)                # sin(-0) = -0

    # Rare lanes: libm, for the whole vector, in a block entered only when needed.
    any_slow = slow if e.ty == F32 else call_intrinsic(b, "vector.reduce.or", slow, ret=I1)
    pre = b.block
    libm_block = b.append_basic_block("sincos.libm")
    done = b.append_basic_block("sincos.done")
    b.cbranch(any_slow, libm_block, done)
    b.position_at_end(libm_block)
    fn = b.module.globals.get("cosf" if cos else "sinf")
    if fn is None:
        fn = ll.Function(b.module, ll.FunctionType(F32, [F32]), "cosf" if cos else "sinf")
    if e.ty == F32:
        exact: ll.Value = b.call(fn, [x])
    else:
        exact = fast
        for k in range(e.ty.count):
            lane = ll.Constant(I32, k)
            exact = b.insert_element(exact, b.call(fn, [b.extract_element(x, lane)]), lane)
    patched = b.select(slow, exact, fast)
    from_libm = b.block
    b.branch(done)
    b.position_at_end(done)
    out = b.phi(e.ty)
    out.add_incoming(fast, pre)
    out.add_incoming(patched, from_libm)
    return out


def sin(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """Sine: the polynomial for |x| <= 8192, libm beyond (and for inf / NaN)."""
    return _sincos(b, x, cos=False)


def cos(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    """Cosine: the polynomial for |x| <= 8192, libm beyond (and for inf / NaN)."""
    return _sincos(b, x, cos=True)

"""Slow pure-Python reference of torch_photonic's quantizer, written from the format definitions.

It uses Python floats, fractions.Fraction and struct (float32 rounding) only: no torch casts and no
bit tricks shared with the C++ kernels. Element rounding is an explicit nearest-neighbour search
over the format's value grid (ties to the even code); fp32 arithmetic is emulated by rounding the
exact double result with struct (double rounding is innocuous for one +,-,*,/ of fp32 operands).
"""
from __future__ import annotations

import bisect
import math
import struct
from fractions import Fraction

FORMATS = ("fp8_e4m3", "fp8_e5m2", "fp4_e2m1")
SCALINGS = ("none", "tensor", "channel", "mx", "nvfp4", "block128", "block128_ue8m0")


def f32(v: float) -> float:
    """Round a Python float to the nearest float32 (RNE), overflowing to +-inf."""
    if math.isnan(v) or math.isinf(v):
        return v
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


def f32_bits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


class Fmt:
    def __init__(self, ebits, mbits, bias, kind):
        self.e, self.m, self.bias, self.kind = ebits, mbits, bias, kind  # kind: fn | ieee | none
        self.nbits = 1 + ebits + mbits
        grid = []
        for code in range(1 << (ebits + mbits)):
            v = self.value(code)
            if v is not None:
                grid.append((float(v), code))  # grid values are exact doubles
        grid.sort()
        self.grid_v = [g[0] for g in grid]
        self.grid_c = [g[1] for g in grid]
        self.max = self.grid_v[-1]
        self.max_code = self.grid_c[-1]
        self.emax = math.floor(math.log2(self.max))

    def value(self, code):
        """Exact Fraction value of a non-negative code; None for NaN/Inf codes."""
        e = code >> self.m
        mant = code & ((1 << self.m) - 1)
        if self.kind == "fn" and e == (1 << self.e) - 1 and mant == (1 << self.m) - 1:
            return None
        if self.kind == "ieee" and e == (1 << self.e) - 1:
            return None
        if e == 0:
            return Fraction(mant, 1 << self.m) * Fraction(2) ** (1 - self.bias)
        return (1 + Fraction(mant, 1 << self.m)) * Fraction(2) ** (e - self.bias)

    def rne(self, v: float) -> int:
        """Nearest grid code to v >= 0 (v <= max), ties to the even code. Neighbouring grid values
        are within a factor 2 of each other (or one is 0), so both differences are exact."""
        i = bisect.bisect_left(self.grid_v, v)
        if i < len(self.grid_v) and self.grid_v[i] == v:
            return self.grid_c[i]
        lo, hi = i - 1, i
        dl, dh = v - self.grid_v[lo], self.grid_v[hi] - v
        if dl < dh:
            return self.grid_c[lo]
        if dh < dl:
            return self.grid_c[hi]
        return self.grid_c[lo] if self.grid_c[lo] % 2 == 0 else self.grid_c[hi]

    def encode(self, x: float, saturate: bool) -> int:
        sign = 1 if math.copysign(1.0, x) < 0 else 0
        sbit = sign << (self.e + self.m)
        if math.isnan(x):
            if self.kind == "none":
                raise ValueError("x: NaN has no fp4_e2m1 code")
            return ((1 << (self.e + self.m)) - 1) | sbit
        a = abs(x)
        if self.kind == "ieee" and not saturate:
            inf_code = ((1 << self.e) - 1) << self.m
            if math.isinf(a):
                return inf_code | sbit
            # RNE with an unbounded exponent: the first value past max is 2^(emax+1)
            half_ulp = 2.0 ** (self.emax - self.m - 1)
            if a >= self.max + half_ulp:
                return inf_code | sbit
            if a > self.max:
                return self.max_code | sbit
            return self.rne(a) | sbit
        if math.isinf(a) or a > self.max:
            return self.max_code | sbit
        return self.rne(a) | sbit

    def decode(self, code: int) -> float:
        sign = -1.0 if (code >> (self.e + self.m)) & 1 else 1.0
        mag = code & ((1 << (self.e + self.m)) - 1)
        v = self.value(mag)
        if v is None:
            if self.kind == "ieee" and (mag & ((1 << self.m) - 1)) == 0:
                return sign * math.inf
            return math.copysign(math.nan, sign)
        return sign * float(v)


FMT = {
    "fp8_e4m3": Fmt(4, 3, 7, "fn"),
    "fp8_e5m2": Fmt(5, 2, 15, "ieee"),
    "fp4_e2m1": Fmt(2, 1, 1, "none"),
}
E4M3 = FMT["fp8_e4m3"]


def floor_log2_field(a: float) -> int:
    """floor(log2(a)) as the float32 exponent field gives it (zero and subnormals -> -127)."""
    if a < 2.0 ** -126:
        return -127
    return math.frexp(a)[1] - 1


def ceil_log2(a: float) -> int:
    """Exact ceil(log2(a)) for a > 0; -1000 for a == 0."""
    if a == 0:
        return -1000
    m, e = math.frexp(a)  # a = m * 2^e, m in [0.5, 1)
    return e - 1 if m == 0.5 else e


def _clamp(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


def _amax(vals):
    m = 0.0
    for v in vals:
        if math.isnan(v) or math.isinf(v):
            raise ValueError("x: NaN or Inf in a scale computation")
        m = max(m, abs(v))
    return m


def _fp32_scale(amax, fmt):
    s = f32(amax / float(fmt.max))
    return 1.0 if s == 0 else s


def _pow2_params(e):
    e = _clamp(e, -127, 127)
    return 2.0 ** -e, 2.0 ** e, e + 127


def _blocks(shape, scaling, weight):
    """Yield (scale_index, [flat element indices]) for every scale block, in scale order."""
    K = shape[-1] if len(shape) else 1
    R = 1
    for d in shape[:-1]:
        R *= d
    if scaling in ("tensor", "none"):
        yield 0, list(range(R * K))
        return
    if scaling in ("block128", "block128_ue8m0") and weight:
        N = shape[-2]
        B = R // N if N else 0
        nbr, nbc = -(-N // 128), -(-K // 128)
        idx = 0
        for b in range(B):
            for i in range(nbr):
                for j in range(nbc):
                    els = [(b * N + r) * K + c for r in range(i * 128, min(N, i * 128 + 128))
                           for c in range(j * 128, min(K, j * 128 + 128))]
                    yield idx, els
                    idx += 1
        return
    L = {"channel": max(K, 1), "mx": 32, "nvfp4": 16, "block128": 128, "block128_ue8m0": 128}[scaling]
    nb = 1 if scaling == "channel" else -(-K // L)
    idx = 0
    for r in range(R):
        for j in range(nb):
            yield idx, [r * K + c for c in range(j * L, min(K, j * L + L))]
            idx += 1


def quantize(xs, shape, fmt_name, scaling="none", rule="floor", weight=False):
    """xs: flat list of float32 values (row-major). Returns (codes, scales, tensor_scale, deq) where
    codes is the flat list of code bytes (fp4 packed per row), scales a flat list (floats for fp32
    scales, ints for E8M0/E4M3 bytes), deq the flat list of dequantized float32 values."""
    fmt = FMT[fmt_name]
    shape = tuple(shape)
    K = shape[-1] if len(shape) else 1
    n = len(xs)
    ecodes = [0] * n
    deq = [0.0] * n
    scales = []
    pts = 1.0
    sat = scaling != "none"
    if scaling == "nvfp4":
        assert fmt_name == "fp4_e2m1"
        amax_t = _amax(xs)
        pts = f32(amax_t / 2688.0)
        inv = f32(1.0 / pts) if pts != 0 else math.inf
        if pts == 0 or math.isinf(inv):
            pts, inv = 1.0, 1.0
    for si, els in _blocks(shape, scaling, weight):
        if scaling == "none":
            for i in els:
                c = fmt.encode(xs[i], saturate=False)
                ecodes[i] = c
                deq[i] = fmt.decode(c)
            continue
        amax = _amax([xs[i] for i in els])
        if scaling in ("tensor", "channel", "block128"):
            s = _fp32_scale(amax, fmt)
            scales.append(s)
            pre = lambda v: f32(v / s)  # noqa: E731
            d = s
        elif scaling == "mx" or scaling == "block128_ue8m0":
            if scaling == "block128_ue8m0":
                e = ceil_log2(f32(max(amax, f32(1e-4)) / float(fmt.max)))
            elif rule == "floor":
                e = floor_log2_field(amax) - fmt.emax
            else:
                e = ceil_log2(f32(amax / float(fmt.max)))
            a, d, code = _pow2_params(e)
            scales.append(code)
            pre = lambda v: f32(v * a)  # noqa: E731
        else:  # nvfp4
            sc = f32(f32(amax / 6.0) / pts)
            sc = _clamp(sc, 2.0 ** -6, 448.0)
            c8 = E4M3.encode(sc, saturate=True)
            s8 = E4M3.decode(c8)
            scales.append(c8)
            a = f32(inv / s8)
            d = f32(pts * s8)
            pre = lambda v: f32(v * a)  # noqa: E731
        for i in els:
            c = fmt.encode(pre(xs[i]), saturate=sat)
            ecodes[i] = c
            deq[i] = f32(fmt.decode(c) * d)
    if scaling == "none":
        scales = []
    codes = ecodes
    if fmt_name == "fp4_e2m1":
        R = n // K if K else 0
        if not len(shape):
            R = 1
        codes = []
        for r in range(R):
            row = ecodes[r * K:(r + 1) * K]
            for j in range(0, K, 2):
                lo = row[j]
                hi = row[j + 1] if j + 1 < K else 0
                codes.append(lo | (hi << 4))
    return codes, scales, pts, deq

"""Float helpers of the optical kernels in torch ops, step for step as csrc/optical/numerics.h
computes them in float32 (round_magic, fast_exp, fast_log, sqrt_nr), the std::min / std::max
selections, and a correctly rounded float32 fused multiply-add.

Every float32 constant is the value the C++ compiler gives its ``...f`` literal (the decimal
rounded once to float32), and every float32 expression is split into the same sequence of single
roundings; plain float32 ``+ - * /`` of torch tensors round exactly like the C++ operators, so the
results agree bit for bit.

Fused multiply-adds: ``readout.cpp``'s per-output loops are compiled for x86-64-v4 / v3 /
baseline and picked when the library loads; the v3 and v4 clones let the compiler contract
``a * b + c`` into one FMA (one rounding). :func:`cpp_fuses` tells whether this machine runs such
a clone, and :func:`fma` reproduces the single rounding (the exact product in float64; a sum
that float64 rounds onto a float32 midpoint is redone with round-to-odd). The other kernel files
are compiled for baseline x86-64, which has no FMA: nothing there is contracted.
"""
from __future__ import annotations

import functools
import os
import platform
import struct
from fractions import Fraction
from typing import Union

import torch

__all__ = ["f32", "f32_div", "cpp_fuses", "fma", "cmax", "cmin", "round_magic", "fast_exp",
           "fast_log", "sqrt_nr", "bits_to_float", "float_bits", "to_f32", "div"]

Num = Union[torch.Tensor, float]


def _to_f32(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def _f32_neighbours(v: float):
    b = struct.unpack("<I", struct.pack("<f", v))[0]
    out = [v]
    for d in (-1, 1):
        nb = b + d
        if 0 <= nb < 0xFFFFFFFF:
            out.append(struct.unpack("<f", struct.pack("<I", nb))[0])
    return out


def _round_f32(q: Fraction) -> float:
    """``q`` rounded once to the nearest float32 (ties to even), as a Python float."""
    cand = [c for c in _f32_neighbours(_to_f32(float(q))) if c == c and abs(c) != float("inf")]
    best = min(cand, key=lambda c: (abs(Fraction(c) - q),
                                     struct.unpack("<I", struct.pack("<f", c))[0] & 1))
    return best


@functools.lru_cache(maxsize=None)
def f32(literal: str) -> float:
    """The float32 value of the C++ literal ``<literal>f`` (decimal rounded once)."""
    return _round_f32(Fraction(literal))


@functools.lru_cache(maxsize=None)
def f32_div(a: float, b: float) -> float:
    """``a / b`` of two float32 values rounded once to float32 (a constant-folded
    ``1.f / 11.f``)."""
    return _round_f32(Fraction(a) / Fraction(b))


@functools.lru_cache(maxsize=1)
def cpp_fuses() -> bool:
    """True when the C++ read-out loops run as a clone that contracts ``a * b + c`` into FMAs:
    an x86-64 CPU with the x86-64-v3 features (the v4 clone fuses the same way). Override with
    ``TORCH_PHOTONIC_CPP_FMA=0/1``."""
    env = os.environ.get("TORCH_PHOTONIC_CPP_FMA")
    if env is not None:
        return env.strip() not in ("0", "", "false", "False")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    need = {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"}
                    return need <= flags and ("abm" in flags or "lzcnt" in flags)
    except OSError:
        pass
    return False


def fma(a: torch.Tensor, b: Num, c: Num) -> torch.Tensor:
    """float32 ``a * b + c`` rounded once. The product of two floats is exact in float64, so
    float32(float64(a b + c)) is the fused result unless the float64 sum is exactly halfway
    between two float32 values (or in their subnormal range): those few elements are redone
    with the sum's rounding error (TwoSum) and round-to-odd, which rounds to float32 correctly
    (53 >= 24 + 2 bits)."""
    a64 = a.double()
    b64 = b.double() if isinstance(b, torch.Tensor) else float(b)
    c64 = c.double() if isinstance(c, torch.Tensor) else float(c)
    s = a64 * b64 + c64
    out = s.float()
    low = s.view(torch.int64) & 0x1FFFFFFF
    suspect = (low == 0x10000000) | ((s.abs() < 2.0 ** -126) & (s != 0))
    pos = suspect.nonzero(as_tuple=True)
    if pos[0].numel() == 0:
        return out
    shape = s.shape

    def pick(v):
        if not isinstance(v, torch.Tensor):
            return torch.full((pos[0].numel(),), v, dtype=torch.float64, device=s.device)
        return v.expand(shape)[pos]

    p = pick(a64) * pick(b64)
    cc = pick(c64)
    ss = p + cc
    bb = ss - p
    err = (p - (ss - bb)) + (cc - bb)
    even = (ss.view(torch.int64) & 1) == 0
    toward = torch.where(err > 0, torch.full_like(ss, float("inf")),
                         torch.full_like(ss, -float("inf")))
    ss = torch.where((err != 0) & even, torch.nextafter(ss, toward), ss)
    out[pos] = ss.float()
    return out


def cmax(a: Num, b: Num) -> torch.Tensor:
    """``std::max(a, b)``: ``a < b ? b : a`` (NaN and signed zeros as the C++ picks them)."""
    if not isinstance(a, torch.Tensor):
        return torch.where(a < b, b, torch.full_like(b, a))
    return torch.where(a < b, b, a)


def cmin(a: Num, b: Num) -> torch.Tensor:
    """``std::min(a, b)``: ``b < a ? b : a``."""
    if not isinstance(a, torch.Tensor):
        return torch.where(b < a, b, torch.full_like(b, a))
    return torch.where(b < a, b, a)


_MAGIC = 12582912.0  # 1.5 * 2^23


def round_magic(v: torch.Tensor) -> torch.Tensor:
    """Round to nearest even for |v| < 2^22: ``(v + 1.5 * 2^23) - 1.5 * 2^23`` in float32."""
    return (v + _MAGIC) - _MAGIC


def float_bits(x: torch.Tensor) -> torch.Tensor:
    """The IEEE bits of float32 ``x`` as int64 in [0, 2^32)."""
    return x.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def bits_to_float(b: torch.Tensor) -> torch.Tensor:
    """float32 from int64 bits in [0, 2^32)."""
    b = b & 0xFFFFFFFF
    b = torch.where(b >= 0x80000000, b - (1 << 32), b)
    return b.to(torch.int32).view(torch.float32)


_LN2 = "0.6931471805599453"


def fast_exp(x: torch.Tensor) -> torch.Tensor:
    """numerics.h fast_exp: exp(x) for x in [-80, 80], float32, branch-free."""
    x = cmin(80.0, cmax(-80.0, x))
    t = x * f32("1.4426950408889634")
    n = round_magic(t)
    fr = (t - n) * f32(_LN2)
    p = torch.full_like(fr, f32_div(1.0, 720.0))
    for c in (f32_div(1.0, 120.0), f32_div(1.0, 24.0), f32_div(1.0, 6.0), 0.5, 1.0, 1.0):
        p = p * fr + c
    ni = n.to(torch.int64)
    sc = bits_to_float((ni + 127) << 23)
    return p * sc


def fast_log(x: torch.Tensor) -> torch.Tensor:
    """numerics.h fast_log: ln(x) for normal x > 0, float32, branch-free."""
    bits = float_bits(x)
    e = (bits >> 23) - 127
    m = bits_to_float((bits & 0x007FFFFF) | 0x3F800000)
    hi = m > f32("1.41421356")
    m = torch.where(hi, 0.5 * m, m)
    e = e + hi.to(torch.int64)
    fr = (m - 1.0) / (m + 1.0)
    f2 = fr * fr
    p = torch.full_like(fr, f32_div(1.0, 11.0))
    for c in (f32_div(1.0, 9.0), f32_div(1.0, 7.0), f32_div(1.0, 5.0), f32_div(1.0, 3.0), 1.0):
        p = p * f2 + c
    return e.to(torch.float32) * f32(_LN2) + (2.0 * fr) * p


def sqrt_nr(x: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """numerics.h sqrt_nr: sqrt of finite x >= 0 from the inverse-square-root bits and three
    Newton steps; ``fused``: each step's ``1.5 - h y y`` as the FMA a v3/v4 clone forms."""
    bits = float_bits(x)
    y = bits_to_float((0x5F3759DF - (bits >> 1)) & 0xFFFFFFFF)
    h = 0.5 * x
    for _ in range(3):
        hy = h * y
        if fused:
            y = y * fma(-hy, y, 1.5)
        else:
            y = y * (1.5 - hy * y)
    return x * y


def to_f32(v: float) -> float:
    """``static_cast<float>(v)`` of a double (round to nearest even), as a Python float."""
    return _to_f32(float(v))


def div(a: torch.Tensor, b: float) -> torch.Tensor:
    """``a / b`` for a float32 tensor and a float32-valued scalar, as a true division on every
    device (CUDA turns a division by a host scalar into a multiplication by its reciprocal)."""
    return a / torch.tensor(b, dtype=a.dtype, device=a.device)

"""The counter-based normals of the optical kernels (csrc/optical/rng.{h,cpp}) in integer tensor
ops: element i of a stream keyed ``key`` takes half ``i & 1`` of ``mix64(key + (i >> 1) * phi)``
(splitmix64), and its 32-bit uniform goes through the inverse normal CDF tabulated at 2^12 + 1
points and interpolated linearly in float32; the two outermost intervals (|z| > 3.35) are computed
exactly in double.

uint64 arithmetic runs on int64 tensors: addition and multiplication wrap like uint64 (two's
complement), right shifts are made logical with a mask. Keys are Python ints (exact uint64
arithmetic) or int64 tensors holding the uint64 bits.

The table and the outer intervals use Python's ``math`` (the platform libm, as the C++ std
functions do), in the C++ evaluation order. On CPU tensors the outer-interval elements (about 1
in 2048) are computed that way one by one; on other devices in float64 torch ops (the device's
log / erfc / exp may differ from libm in the last bit of a double, which the rounding to float32
almost always hides).
"""
from __future__ import annotations

import functools
import math
from typing import Union

import torch

__all__ = ["STREAM_PROGRAM", "STREAM_DRIFT", "STREAM_READ", "STREAM_READ_NOISE", "STREAM_TRAIN",
           "mix64", "stream_key", "mix64_t", "signed", "uniform_bits", "normals", "normals_range",
           "inv_norm_cdf", "table"]

STREAM_PROGRAM = 1
STREAM_DRIFT = 2
STREAM_READ = 3
STREAM_READ_NOISE = 4
STREAM_TRAIN = 5

_M64 = (1 << 64) - 1
_PHI = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_STREAM = 0xD1B54A32D192ED03

_TABLE_BITS = 12
_TABLE_N = 1 << _TABLE_BITS
_FRAC_BITS = 32 - _TABLE_BITS


def signed(v: int) -> int:
    """uint64 bits as the int64 value with the same bits."""
    v &= _M64
    return v - (1 << 64) if v >= (1 << 63) else v


def mix64(z: int) -> int:
    """splitmix64 finaliser on a Python int (uint64 arithmetic)."""
    z = (z + _PHI) & _M64
    z = ((z ^ (z >> 30)) * _C1) & _M64
    z = ((z ^ (z >> 27)) * _C2) & _M64
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int) -> int:
    """The key of ``stream`` for ``seed`` (uint64 as a Python int)."""
    return mix64(mix64(int(seed) & _M64) ^ ((stream * _STREAM) & _M64))


def _srl(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits."""
    return (z >> s) & ((1 << (64 - s)) - 1)


_SPHI, _SC1, _SC2 = signed(_PHI), signed(_C1), signed(_C2)


def mix64_t(z: torch.Tensor) -> torch.Tensor:
    """splitmix64 finaliser on int64 tensors holding uint64 bits."""
    z = z + _SPHI
    z = (z ^ _srl(z, 30)) * _SC1
    z = (z ^ _srl(z, 27)) * _SC2
    return z ^ _srl(z, 31)


Key = Union[int, torch.Tensor]


def _key_t(key: Key, device) -> Union[int, torch.Tensor]:
    if isinstance(key, torch.Tensor):
        return key.to(device=device, dtype=torch.int64)
    return signed(int(key))


def uniform_bits(key: Key, idx: torch.Tensor) -> torch.Tensor:
    """The 32-bit uniforms (int64 in [0, 2^32)) of element indices ``idx`` (int64, >= 0) of the
    stream ``key`` (a Python int, or int64 bits broadcastable with ``idx``)."""
    idx = idx.to(torch.int64)
    h = mix64_t(_key_t(key, idx.device) + (idx >> 1) * _SPHI)
    return torch.where((idx & 1) == 1, h & 0xFFFFFFFF, _srl(h, 32))


def inv_norm_cdf(p: float) -> float:
    """rng.cpp inv_norm_cdf in double: Acklam's rational approximation and one Halley step."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
         3.754408661907416e+00)
    plow = 0.02425
    if p < plow:
        q = math.sqrt(-2 * math.log(p))
        x = ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
             / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1))
    elif p > 1 - plow:
        q = math.sqrt(-2 * math.log1p(-p))
        x = -((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
              / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1))
    else:
        q = p - 0.5
        r = q * q
        x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
             / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


@functools.lru_cache(maxsize=1)
def _table_cpu() -> torch.Tensor:
    vals = [0.0] * (_TABLE_N + 1)
    for i in range(1, _TABLE_N):
        vals[i] = inv_norm_cdf(float(i) / _TABLE_N)
    return torch.tensor(vals, dtype=torch.float64).to(torch.float32)


_TABLES: dict = {}


def table(device) -> torch.Tensor:
    """The float32 inverse-CDF table [4097] on ``device`` (ends 0: unused)."""
    device = torch.device(device)
    t = _TABLES.get(device)
    if t is None:
        t = _TABLES[device] = _table_cpu().to(device)
    return t


@functools.lru_cache(maxsize=1 << 16)
def _exact(h: int) -> float:
    return inv_norm_cdf((float(h) + 0.5) * (1.0 / 4294967296.0))


def _inv_norm_cdf_t(p: torch.Tensor) -> torch.Tensor:
    """inv_norm_cdf on a float64 tensor of tail probabilities (p < 0.02425 or p > 0.97575)."""
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
         3.754408661907416e+00)
    low = p < 0.02425
    q = torch.sqrt(-2 * torch.where(low, torch.log(p), torch.log1p(-p)))
    num = c[0] * q + c[1]
    for ci in c[2:]:
        num = num * q + ci
    den = d[0] * q + d[1]
    for di in d[2:]:
        den = den * q + di
    den = den * q + 1
    x = torch.where(low, num / den, -(num / den))
    e = 0.5 * torch.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2 * math.pi) * torch.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


def _to_normals(u: torch.Tensor) -> torch.Tensor:
    """Normals (float32) of 32-bit uniforms ``u`` (int64 in [0, 2^32))."""
    tab = table(u.device)
    i = u >> _FRAC_BITS
    fr = (u & ((1 << _FRAC_BITS) - 1)).to(torch.float32) * (1.0 / float(1 << _FRAC_BITS))
    t0 = tab[i]
    t1 = tab[i + 1]
    z = t0 + fr * (t1 - t0)
    outer = (i == 0) | (i == _TABLE_N - 1)
    pos = outer.nonzero(as_tuple=True)
    if pos[0].numel():
        hs = u[pos]
        if u.device.type == "cpu":
            vals = torch.tensor([_exact(h) for h in hs.tolist()], dtype=torch.float64)
        else:
            vals = _inv_norm_cdf_t((hs.double() + 0.5) * (1.0 / 4294967296.0))
        z[pos] = vals.to(device=z.device, dtype=torch.float32)
    return z


def normals(key: Key, idx: torch.Tensor) -> torch.Tensor:
    """The standard normals (float32) of element indices ``idx`` (int64, >= 0) of stream ``key``
    (a Python int, or int64 bits broadcastable with ``idx``): the values of rng.cpp normal_at."""
    return _to_normals(uniform_bits(key, idx))


def normals_range(key: Key, i0: int, n: int, device=None) -> torch.Tensor:
    """The normals of the consecutive element indices [i0, i0 + n) (rng.cpp fill_normals): one
    hash per pair of elements. ``key``: a Python int (result [n]) or int64 bits of shape
    [..., 1] (result [..., n])."""
    if isinstance(key, torch.Tensor):
        device = key.device
    c0, c1 = i0 >> 1, (i0 + n + 1) >> 1
    counters = torch.arange(c0, max(c1, c0 + 1), dtype=torch.int64, device=device)
    h = mix64_t(_key_t(key, counters.device) + counters * _SPHI)
    u = torch.stack((_srl(h, 32), h & 0xFFFFFFFF), dim=-1).flatten(-2)
    off = i0 - 2 * c0
    return _to_normals(u[..., off:off + n])

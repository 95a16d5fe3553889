"""photonic::drift in torch ops (csrc/optical/drift.cpp): the cells of a programmed state at an
age. Per cell at g0: nu = |clamp(a ln g0 + b) + clamp(a2 ln g0 + b2) z1|, g = g0 (t / t0)^-nu,
accumulated 1/f read noise g += |g| min(q0 / max(g0^q_exp, 1e-3), q_max) r z2, g >= 0 (float32,
with numerics.h's fast_log / fast_exp); z1 from the seed's drift stream, z2 from a stream keyed by
(seed, age), both at element n * K + k. Optional compensation scales the conductances by
sum(s g0) / sum(s g), summed in double in the C++ order (per block, then per row over the
blocks, then over the rows for "global")."""
from __future__ import annotations

import math
import struct
from typing import Sequence

import torch

from . import rng
from .common import check, check_list, check_weight_state, per_element, tiled
from .numerics import cmax, cmin, fast_exp, fast_log, f32, to_f32

__all__ = ["drift"]

_OP = "photonic::drift"


def drift(weff: torch.Tensor, scales: torch.Tensor, cells_per_weight: int, tile_rows: int,
          nu_coeffs: Sequence[float], nu_range: Sequence[float],
          nu_std_coeffs: Sequence[float], nu_std_range: Sequence[float], t0: float,
          read_noise: Sequence[float], seconds: float, compensation: str, seed: int
          ) -> torch.Tensor:
    check_weight_state(weff, scales, tile_rows, _OP)
    check(cells_per_weight in (1, 2), _OP, ": cells_per_weight must be 1 or 2, got ",
          cells_per_weight)
    check_list(nu_coeffs, 2, _OP, "nu_coeffs")
    check_list(nu_range, 2, _OP, "nu_range")
    check_list(nu_std_coeffs, 2, _OP, "nu_std_coeffs")
    check_list(nu_std_range, 2, _OP, "nu_std_range")
    check_list(read_noise, 4, _OP, "read_noise")
    check(nu_range[0] <= nu_range[1], _OP, ": nu_range must have lo <= hi, got [", nu_range[0],
          ", ", nu_range[1], "]")
    check(nu_std_range[0] <= nu_std_range[1], _OP, ": nu_std_range must have lo <= hi, got [",
          nu_std_range[0], ", ", nu_std_range[1], "]")
    t0, seconds = float(t0), float(seconds)
    check(math.isfinite(t0) and t0 > 0, _OP, ": t0 must be > 0, got ", t0)
    check(math.isfinite(seconds) and seconds >= 0, _OP,
          ": seconds (time since programming) must be >= 0, got ", seconds)
    q0, t_read = float(read_noise[0]), float(read_noise[3])
    check(q0 >= 0, _OP, ": read_noise[0] (q0) must be >= 0, got ", q0)
    check(q0 == 0 or t_read > 0, _OP, ": read_noise[3] (t_read) must be > 0, got ", t_read)
    check(read_noise[2] >= 0, _OP, ": read_noise[2] (q_max) must be >= 0, got ", read_noise[2])
    check(compensation in ("none", "global", "per_column"), _OP,
          ": compensation must be 'none', 'global' or 'per_column', got '", compensation, "'")

    w = weff.contiguous()
    drift_on = any(float(v) != 0.0 for v in (*nu_coeffs, *nu_range, *nu_std_coeffs,
                                             *nu_std_range))
    if not drift_on and q0 == 0:
        return w.clone()

    t = seconds + t0
    a, b = to_f32(nu_coeffs[0]), to_f32(nu_coeffs[1])
    lo, hi = to_f32(nu_range[0]), to_f32(nu_range[1])
    a2, b2 = to_f32(nu_std_coeffs[0]), to_f32(nu_std_coeffs[1])
    lo2, hi2 = to_f32(nu_std_range[0]), to_f32(nu_std_range[1])
    neg_l = to_f32(-math.log(t / t0)) if t > t0 else 0.0
    sd_zero = (lo2 == 0.0 and hi2 == 0.0) or (a2 == 0.0 and min(hi2, max(lo2, b2)) == 0.0)
    spread = neg_l != 0.0 and not sd_zero
    qf0, q_exp, q_max = to_f32(q0), to_f32(read_noise[1]), to_f32(read_noise[2])
    r = to_f32(math.sqrt(max(0.0, math.log((t + t_read) / (2.0 * t_read))))) if q0 > 0 else 0.0
    read = r > 0.0 and q_max > 0.0
    if not read:
        r = 0.0

    n, k = w.shape
    if n * k == 0:
        return torch.empty_like(w)
    dev = w.device
    zero = torch.zeros((), dtype=torch.float32, device=dev)
    sc = scales.contiguous()
    s = per_element(sc, k, tile_rows)
    live = s > 0
    pair = cells_per_weight == 2
    if spread:
        z1 = rng.normals_range(rng.stream_key(seed, rng.STREAM_DRIFT), 0, n * k,
                               device=dev).reshape(n, k)
    else:
        z1 = torch.zeros_like(w)
    if read:
        # one age gives one reproducible draw of the accumulated read noise, another a fresh one
        sbits = struct.unpack("<Q", struct.pack("<d", seconds))[0]
        key2 = rng.stream_key(rng.signed(rng.mix64(int(seed) & ((1 << 64) - 1)) ^ rng.mix64(sbits)),
                              rng.STREAM_READ_NOISE)
        z2 = rng.normals_range(key2, 0, n * k, device=dev).reshape(n, k)
    else:
        z2 = torch.zeros_like(w)
    g0 = w.abs() / s if pair else 0.5 * (w / s + 1.0)
    g0 = torch.where(live, g0, zero)

    # the per-cell law (drift.cpp age_cells)
    lg = fast_log(cmax(g0, f32("1e-7")))
    mu = cmin(hi, cmax(lo, a * lg + b))
    sd = cmin(hi2, cmax(lo2, a2 * lg + b2))
    nu = (mu + sd * z1).abs()
    gd = g0 * fast_exp(neg_l * nu)
    den = cmax(fast_exp(q_exp * lg), f32("1e-3"))
    q = cmin(q_max, torch.full_like(den, qf0) / den)
    g = cmax(0.0, gd + ((gd.abs() * q) * r) * z2)

    if compensation == "none":
        out = torch.where(w < 0, -g, g) * s if pair else (2.0 * g - 1.0) * s
        return torch.where(live, out, zero).contiguous()

    # conductance sums in weight units, double, in the C++ order
    g0t = tiled(torch.where(live, g0, zero).double(), tile_rows)   # [N, T, tr]
    g1t = tiled(torch.where(live, g, zero).double(), tile_rows)
    tcount = g0t.shape[1]
    b0 = torch.zeros(n, tcount, dtype=torch.float64, device=dev)
    b1 = torch.zeros_like(b0)
    for j in range(tile_rows):
        b0 = b0 + g0t[:, :, j]
        b1 = b1 + g1t[:, :, j]
    sd64 = sc.double()
    a0 = torch.zeros(n, dtype=torch.float64, device=dev)
    a1 = torch.zeros_like(a0)
    for tt in range(tcount):
        on = sc[:, tt] > 0
        a0 = torch.where(on, a0 + b0[:, tt] * sd64[:, tt], a0)
        a1 = torch.where(on, a1 + b1[:, tt] * sd64[:, tt], a1)
    if compensation == "global":
        s0 = s1 = 0.0
        for v0, v1 in zip(a0.tolist(), a1.tolist()):
            s0 += v0
            s1 += v1
        al = to_f32(s0 / s1) if s1 > 0 else 1.0
        alpha = torch.full((n, 1), al, dtype=torch.float32, device=dev)
    else:
        ratio = (a0 / torch.where(a1 > 0, a1, torch.ones_like(a1))).float()
        alpha = torch.where(a1 > 0, ratio, torch.ones_like(ratio))[:, None]
    if pair:
        ga = alpha * g
        out = torch.where(w < 0, -ga, ga) * s
    else:
        out = ((2.0 * alpha) * g - 1.0) * s
    return torch.where(live, out, zero).contiguous()

"""The receiver and ADC of one k-tile of photonic::mvm in torch ops (csrc/optical/readout.cpp):
partial sums in y units, detector noise, clipping and rounding; and the one-pass products of the
few rows bound management reads again.

The per-output loops of readout.cpp (detect_row, row_products) run, on an x86-64-v3/v4 CPU, as
clones in which the compiler contracts ``a * b + c`` into FMAs; ``fused`` (default:
:func:`numerics.cpp_fuses`) reproduces those single roundings:

* detect_row: ``y * inv_s + noise`` as fma(y, inv_s, noise); the variance
  ``c * inv_photons + receiver_var`` as fma(c, inv_photons, receiver_var); for single cells
  ``cm * inv_s + xsum`` as fma(cm, inv_s, xsum); each Newton step of sqrt_nr as
  y * fma(-(h y), y, 1.5);
* row_products: each 16-lane accumulator as acc = fma(w, x, acc).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from . import rng
from .numerics import cmax, cmin, cpp_fuses, fma, round_magic, sqrt_nr

__all__ = ["Readout", "readout_tile", "tile_row_products", "DIRECT_ROWS"]

DIRECT_ROWS = 8


@dataclass
class Readout:
    N: int
    T: int
    scales: torch.Tensor                  # s [N, T]
    full_scale: Optional[torch.Tensor]    # FS [N, T] or one value
    fs_scalar: bool
    noisy: bool
    adc: bool
    single: bool
    inv_photons: float                    # float32 value
    receiver_var: float                   # float32 value
    Qa: float
    key: int                              # detector noise stream (uint64)
    tile_cols: int
    fused: bool


def _detect(ro: Readout, y: torch.Tensor, cm: Optional[torch.Tensor], z: torch.Tensor,
            ok: torch.Tensor, xsum: Optional[torch.Tensor], inv_s: torch.Tensor) -> torch.Tensor:
    """readout.cpp detect_row for outputs [nb] x columns [R]: y <- y / s + sqrt(var) z ok."""
    fused = ro.fused
    if cm is None:
        sd = sqrt_nr(torch.tensor(ro.receiver_var * (4.0 if ro.single else 1.0),
                                  dtype=torch.float32, device=y.device), fused)
        noise = (sd * z) * ok
    else:
        cmf = cm.to(torch.float32)
        if not ro.single:
            c = cmf * inv_s
            v = fma(c, ro.inv_photons, ro.receiver_var) if fused else \
                c * ro.inv_photons + ro.receiver_var
            var = cmax(0.0, v)
        else:
            cs = fma(cmf, inv_s, xsum) if fused else cmf * inv_s + xsum
            c = 0.5 * cs
            v = fma(c, ro.inv_photons, ro.receiver_var) if fused else \
                c * ro.inv_photons + ro.receiver_var
            var = 4.0 * cmax(0.0, v)
        noise = (sqrt_nr(var, fused) * z) * ok
    return fma(y, inv_s, noise) if fused else y * inv_s + noise


def readout_tile(ro: Readout, t: int, attempt: int, y: torch.Tensor, cm: Optional[torch.Tensor],
                 rows: torch.Tensor, gain_ok: torch.Tensor, xsum: Optional[torch.Tensor],
                 n0: int, n1: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reads out outputs [n0, n1) of k-tile t for the columns ``rows`` (row indices of the call,
    int64 [R]); y [n1 - n0, R]: the signal GEMM (original weight units); cm the common-mode
    GEMM (bfloat16) or None. Returns (the ADC output in y units [n1 - n0, R], the outputs each
    output tile clipped per column [J_local, R], J_local the output tiles n0 .. n1 - 1 touch).
    The detector noise of (t, row m, output n, attempt) is element m of the stream keyed
    mix64(key + mix64((attempt * T + t) * N + n))."""
    dev = y.device
    nb, r = y.shape
    s = ro.scales[n0:n1, t]
    live = (s > 0)[:, None]
    inv_s = (torch.ones_like(s) / s)[:, None]
    if ro.noisy:
        base = (attempt * ro.T + t) * ro.N
        ns = torch.arange(n0, n1, dtype=torch.int64, device=dev)
        keys = rng.mix64_t(rng.signed(ro.key) + rng.mix64_t(ns + base))[:, None]
        if rows.numel() and bool((rows == torch.arange(r, device=dev)).all()):
            z = rng.normals_range(keys, 0, r)
        else:
            z = rng.normals(keys, rows[None, :])
        shot = ro.inv_photons > 0.0
        y = _detect(ro, y, cm if shot else None, z, gain_ok[None, :],
                    None if xsum is None else xsum[None, :], inv_s)
    else:
        y = y * inv_s
    tc = ro.tile_cols
    jb = n0 // tc
    jl = (n1 - 1) // tc - jb + 1
    clips = torch.zeros(jl, r, dtype=torch.int64, device=dev)
    if ro.adc:
        if ro.fs_scalar:
            fs = ro.full_scale.reshape(()).expand(nb, 1)
        else:
            fs = ro.full_scale[n0:n1, t][:, None]
        clipped = (y.abs() > fs) & live
        step = fs / ro.Qa
        y = round_magic(cmin(fs, cmax(-fs, y)) * ro.Qa / fs) * step
        jidx = torch.arange(n0, n1, device=dev) // tc - jb
        clips.index_add_(0, jidx, clipped.to(torch.int64))
    y = torch.where(live, y, torch.zeros((), dtype=y.dtype, device=dev))
    return y, clips


def tile_row_products(w: torch.Tensor, xs: torch.Tensor, fused: Optional[bool] = None
                      ) -> torch.Tensor:
    """readout.cpp tile_row_products: y [N, R] = w [N, kl] x xs [R, kl]^T in float32 with 16
    lane accumulators per row (element k in lane k % 16, the tail zero-padded), the lanes summed
    in a fixed pairwise order."""
    if fused is None:
        fused = cpp_fuses()
    n, kl = w.shape
    r = xs.shape[0]
    pad = (-kl) % 16
    if pad:
        w = torch.nn.functional.pad(w, (0, pad))
        xs = torch.nn.functional.pad(xs, (0, pad))
    chunks = (kl + pad) // 16
    if not fused:
        wv = w.reshape(n, 1, chunks, 16)
        xv = xs.reshape(1, r, chunks, 16)
        acc = torch.zeros(n, r, 16, dtype=torch.float32, device=w.device)
        for c in range(chunks):
            acc = acc + wv[:, :, c, :] * xv[:, :, c, :]
    else:
        acc = _fused_lanes(w.double().reshape(n, 1, chunks, 16),
                           xs.double().reshape(1, r, chunks, 16))
    b8 = acc[..., :8] + acc[..., 8:]
    c4 = b8[..., :4] + b8[..., 4:]
    return (c4[..., 0] + c4[..., 2]) + (c4[..., 1] + c4[..., 3])


def _fused_lanes(w64: torch.Tensor, x64: torch.Tensor) -> torch.Tensor:
    """acc = fma(w, x, acc) over the chunks, per lane, in float32 (w64 [n, 1, C, 16] and
    x64 [1, r, C, 16] hold float32 values in float64). The exact product plus the float32
    accumulator is rounded to float64, then to float32: the fused result unless the float64 sum
    lies exactly halfway between two float32 values, or in their subnormal range, where the
    chunk is redone by :func:`fma`. When every nonzero |w|, |x| is >= 2^-20 every nonzero
    partial sum is a multiple of 2^-86 (products of floats of 24 bits), so none reaches the
    subnormal range and only the halfway test runs."""
    n, r, chunks = w64.shape[0], x64.shape[1], w64.shape[2]
    dev = w64.device

    def small(v):
        a = v.abs()
        return bool(((a < 2.0 ** -20) & (a != 0)).any())

    tiny = small(w64) or small(x64)
    acc = torch.zeros(n, r, 16, dtype=torch.float32, device=dev)
    acc64 = torch.zeros(n, r, 16, dtype=torch.float64, device=dev)
    s = torch.empty_like(acc64)
    low = torch.empty(n, r, 16, dtype=torch.int64, device=dev)
    hit = torch.empty(n, r, 16, dtype=torch.bool, device=dev)
    for c in range(chunks):
        wc, xc = w64[:, :, c, :], x64[:, :, c, :]
        torch.mul(wc, xc, out=s)
        s.add_(acc64)
        torch.bitwise_and(s.view(torch.int64), 0x1FFFFFFF, out=low)
        torch.eq(low, 0x10000000, out=hit)
        suspect = bool(hit.any())
        if tiny and not suspect:
            sa = s.abs()
            suspect = bool(((sa < 2.0 ** -126) & (sa != 0)).any())
        if suspect:
            acc = fma(wc.expand(n, r, 16).float(), xc.expand(n, r, 16).float(), acc)
        else:
            acc = s.float()
        acc64.copy_(acc)
    return acc



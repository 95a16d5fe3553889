"""photonic::mvm in torch ops (csrc/optical/mvm.cpp): the tiled optical matrix-vector product.

x -> activation format -> per (row, k-tile) input gain a (dynamic abs-max of the tile or a static
range, optionally rounded up to a power of two) -> DAC: x̂ = clip(x / a) (rounded to dac_bits)
-> per k-tile the signal GEMM weff_tile x̂^T and, with shot noise, the common-mode GEMM in
bfloat16 -> receiver and ADC (readout.py) -> bound management (a clipped (row, output tile) read
again at twice the gain, up to ``bound_management`` times) -> the digital accumulation of ŷ s a
over the tiles in float32, tile after tile. Without noise and ADC the product is one GEMM on the
inputs as the DAC leaves them.

The GEMMs are ``torch.mm`` on the same slices, with the same layouts, as the C++ passes to
``at::mm``: on the CPU the same BLAS call, so the same bits.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch

from . import rng
from .common import check, check_weight_state, fake_quant, tiled, untile
from .numerics import bits_to_float, cmax, cmin, cpp_fuses, float_bits, round_magic, to_f32
from .readout import DIRECT_ROWS, Readout, readout_tile, tile_row_products

__all__ = ["mvm"]

_OP = "photonic::mvm"


def _pow2_ceil(a: torch.Tensor) -> torch.Tensor:
    """2^ceil(log2(a)) for finite a > 0 (mvm.cpp pow2_ceil: frexp, then ldexp(1, e or e - 1))."""
    bits = float_bits(a)
    expf = (bits >> 23) & 0xFF
    mant = bits & 0x7FFFFF
    # normal a = 1.m x 2^(expf - 127): a power of two stays, else the next one up
    e = torch.where(mant == 0, expf - 127, expf - 126)
    # subnormal a = mant x 2^-149: 2^(bit length of mant - 149), or a itself for a power of two
    blen = torch.floor(torch.log2(mant.clamp(min=1).double())).to(torch.int64) + 1
    pow2 = (mant & (mant - 1)) == 0
    e_sub = torch.where(pow2, blen - 1, blen) - 149
    e = torch.where(expf == 0, e_sub, e)
    out = torch.where(e >= -126, bits_to_float(((e + 127).clamp(1, 255)) << 23),
                      bits_to_float(torch.ones_like(e) << (e + 149).clamp(0, 30)))
    return out


def _gains(xq: torch.Tensor, ir: Optional[torch.Tensor], tile_rows: int,
           block_exponent: bool) -> torch.Tensor:
    """The gain of each (row, k-tile) [M, T] (mvm.cpp tile_gain)."""
    m = xq.shape[0]
    if ir is not None:
        a = ir.reshape(1, -1).expand(m, ir.numel()).clone()
    else:
        xa = xq.abs()
        xa = torch.where(torch.isnan(xa), torch.zeros((), dtype=xa.dtype, device=xa.device), xa)
        a = tiled(xa, tile_rows).amax(dim=2)
    if block_exponent:
        ok = (a > 0) & torch.isfinite(a)
        a = torch.where(ok, _pow2_ceil(torch.where(ok, a, torch.ones_like(a))), a)
    return a


def _encode(x: torch.Tensor, a: torch.Tensor, dac_rounding: bool, qd: float,
            original: bool, need_sum: bool):
    """mvm.cpp encode on blocks: x [R, B, L] (a block per (R, B)), a [R, B]. Returns
    (x̂ times (a if original else 1) [R, B, L], inputs beyond the range [R, B] int64, sum of |x̂|
    per block in float32 summed in element order [R, B] or None). a == 0 gives zeros."""
    ab = a[:, :, None]
    zero = torch.zeros((), dtype=torch.float32, device=x.device)
    clipped = (x.abs() > ab).sum(dim=2)
    v = cmin(1.0, cmax(-1.0, x / ab))
    if dac_rounding:
        v = round_magic(v * qd) / torch.tensor(qd, dtype=torch.float32, device=x.device)
    dead = ab == 0
    v = torch.where(dead, zero, v)
    clipped = torch.where(a == 0, torch.zeros_like(clipped), clipped)
    sums = None
    if need_sum:
        av = v.abs()
        sums = torch.zeros(a.shape, dtype=torch.float32, device=x.device)
        for j in range(x.shape[2]):
            sums = sums + av[:, :, j]
    out = torch.where(dead, zero, v * ab) if original else v
    return out, clipped, sums


def _encode_rows(xq: torch.Tensor, a: torch.Tensor, tile_rows: int, dac_rounding: bool,
                 qd: float, original: bool, need_sum: bool):
    """encode_all: every (row, k-tile) of xq [M, K] with gains a [M, T]; padding positions
    (beyond K) are zeros and add nothing."""
    k = xq.shape[1]
    out, clipped, sums = _encode(tiled(xq, tile_rows), a, dac_rounding, qd, original, need_sum)
    return untile(out, k), clipped, sums


def mvm(x: torch.Tensor, weff: torch.Tensor, scales: torch.Tensor, full_scale: torch.Tensor,
        input_range: Optional[torch.Tensor], cm_weight: Optional[torch.Tensor],
        act_format: str, act_scaling: str, scale_rule: str, dac_bits: int, dac_rounding: bool,
        block_exponent: bool, adc_bits: int, adc_rounding: bool, photons_per_unit: float,
        receiver_sigma: float, bound_management: int, tile_rows: int, tile_cols: int,
        cells_per_weight: int, seed: int, bias: Optional[torch.Tensor] = None,
        fused: Optional[bool] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Returns (y [..., N] float32, stats int64 [5] = [input samples, inputs clipped, outputs
    converted, outputs clipped, bound-management retries]) on x's device. ``fused``: whether
    the read-out follows the FMA-contracted C++ clones (default: as this CPU runs them)."""
    check_weight_state(weff, scales, tile_rows, _OP)
    check(tile_cols >= 1, _OP, ": tile_cols must be >= 1, got ", tile_cols)
    check(cells_per_weight in (1, 2), _OP, ": cells_per_weight must be 1 or 2, got ",
          cells_per_weight)
    check(not dac_rounding or 2 <= dac_bits <= 23, _OP, ": dac_bits must be in [2, 23], got ",
          dac_bits)
    check(not adc_rounding or 2 <= adc_bits <= 23, _OP, ": adc_bits must be in [2, 23], got ",
          adc_bits)
    photons_per_unit, receiver_sigma = float(photons_per_unit), float(receiver_sigma)
    check(math.isfinite(photons_per_unit) and photons_per_unit >= 0, _OP,
          ": photons_per_unit must be >= 0, got ", photons_per_unit)
    check(math.isfinite(receiver_sigma) and receiver_sigma >= 0, _OP,
          ": receiver_sigma must be >= 0, got ", receiver_sigma)
    check(0 <= bound_management <= 64, _OP, ": bound_management must be in [0, 64], got ",
          bound_management)
    if fused is None:
        fused = cpp_fuses()
    dev = x.device
    n, k = weff.shape
    tcount = scales.shape[1]
    b32 = None
    if bias is not None:
        check(bias.dim() == 1 and bias.shape[0] == n, _OP, ": bias shape ", list(bias.shape),
              " does not match programmed weight shape ", list(weff.shape), " (expected [", n,
              "])")
        b32 = bias.to(device=dev, dtype=torch.float32).contiguous()
    ir = None
    if input_range is not None:
        check(input_range.numel() == tcount and input_range.is_floating_point(), _OP,
              ": input_range must hold one float per k-tile ([", tcount, "]), got shape ",
              list(input_range.shape))
        ir = input_range.to(device=dev, dtype=torch.float32).contiguous().reshape(tcount)
        check(bool((torch.isfinite(ir) & (ir >= 0)).all()), _OP,
              ": input_range must be finite and >= 0")
    check(x.dim() >= 1 and x.shape[-1] == k, _OP, ": input shape ", list(x.shape),
          " does not match programmed weight shape ", list(weff.shape))
    check(x.is_floating_point(), _OP, ": input must be floating point")
    x2 = x.reshape(-1, k).to(torch.float32).contiguous()
    m = x2.shape[0]
    out_shape = list(x.shape[:-1]) + [n]
    xq = fake_quant(x2, act_format, act_scaling, scale_rule, False).contiguous()
    W = weff.to(dev).contiguous()
    S = scales.to(dev).contiguous()
    qd = float((1 << (dac_bits - 1)) - 1) if dac_rounding else 1.0
    in_clips = torch.zeros((), dtype=torch.int64, device=dev)
    out_clips = torch.zeros((), dtype=torch.int64, device=dev)
    retries = 0

    def stats() -> torch.Tensor:
        vals = torch.stack([torch.tensor(m * k, device=dev), in_clips,
                            torch.tensor(m * n * tcount, device=dev), out_clips,
                            torch.tensor(retries, device=dev)])
        return vals.to(torch.int64)

    noisy = photons_per_unit > 0 or receiver_sigma > 0
    if not noisy and not adc_rounding:
        # exact path: inputs in original units as the DAC leaves them, one GEMM
        xe = xq
        if (dac_rounding or ir is not None) and k > 0:
            a = _gains(xq, ir, tile_rows, block_exponent)
            xe, icl, _ = _encode_rows(xq, a, tile_rows, dac_rounding, qd, True, False)
            in_clips = icl.sum()
        y = torch.addmm(b32, xe, W.t()) if b32 is not None else torch.mm(xe, W.t())
        return y.reshape(out_shape), stats()

    # tiled path: inputs kept transposed ([K, M]) so each k-tile's GEMMs give [N, M]
    shot = photons_per_unit > 0
    pair = cells_per_weight == 2
    need_sum = shot and not pair
    if k > 0:
        A = _gains(xq, ir, tile_rows, block_exponent)
        xh, icl, XS = _encode_rows(xq, A, tile_rows, dac_rounding, qd, False, need_sum)
        in_clips = icl.sum()
    else:
        A = torch.zeros(m, 0, device=dev)
        xh, XS = xq, None
    xT = xh.t().contiguous()
    axT = xT.abs().to(torch.bfloat16) if shot else None
    cmw = None
    if shot and cm_weight is not None:
        check(cm_weight.dim() == 2 and cm_weight.shape[0] == n and cm_weight.shape[1] == k, _OP,
              ": cm_weight shape ", list(cm_weight.shape), " does not match weff ",
              list(weff.shape))
        cmw = cm_weight.to(device=dev, dtype=torch.bfloat16)
    fsf = None
    qa = 1.0
    if adc_rounding:
        fsf = full_scale.to(device=dev, dtype=torch.float32).contiguous()
        check(fsf.numel() == 1 or (fsf.dim() == 2 and fsf.shape[0] == n
                                   and fsf.shape[1] == tcount), _OP,
              ": full_scale must be a scalar or [", n, ", ", tcount, "], got shape ",
              list(fsf.shape))
        used = fsf if fsf.numel() == 1 else fsf.masked_select(S > 0)
        check(bool((torch.isfinite(used) & (used > 0)).all()), _OP,
              ": full_scale must be finite and > 0")
        qa = float((1 << (adc_bits - 1)) - 1)
    ro = Readout(N=n, T=tcount, scales=S, full_scale=fsf,
                 fs_scalar=fsf is not None and fsf.numel() == 1, noisy=noisy, adc=adc_rounding,
                 single=not pair,
                 inv_photons=to_f32(1.0 / photons_per_unit) if photons_per_unit > 0 else 0.0,
                 receiver_var=to_f32(receiver_sigma * receiver_sigma), Qa=qa,
                 key=rng.stream_key(seed, rng.STREAM_READ), tile_cols=tile_cols, fused=fused)
    bm = bound_management if adc_rounding else 0

    if tcount == 0:  # no inputs: the product is 0
        out = torch.zeros(m, n, dtype=torch.float32, device=dev)
        if b32 is not None:
            out = out + b32
        return out.reshape(out_shape), stats()
    all_rows = torch.arange(m, dtype=torch.int64, device=dev)
    acc = None
    out = None
    for t in range(tcount):
        k0 = t * tile_rows
        kl = min(k, k0 + tile_rows) - k0
        Y = torch.empty(n, m, dtype=torch.float32, device=dev)
        torch.mm(W.narrow(1, k0, kl), xT.narrow(0, k0, kl), out=Y)
        cmt = C = None
        if shot:
            if cmw is not None:
                cmt = cmw.narrow(1, k0, kl)
            else:
                wt = W.narrow(1, k0, kl)
                cmt = (wt.abs() if pair else wt).to(torch.bfloat16).contiguous()
            C = torch.mm(cmt, axT.narrow(0, k0, kl)).contiguous()
        gain = A[:, t].contiguous()
        ok = (gain > 0).to(torch.float32)
        xs = XS[:, t].contiguous() if XS is not None else None
        y, clips = readout_tile(ro, t, 0, Y, C, all_rows, ok, xs, 0, n)
        y, clips, r = _manage_bounds(ro, xq, W, cmt, t, k0, kl, bm, gain, y, clips,
                                     dac_rounding, qd, need_sum)
        retries += r
        out_clips = out_clips + clips.sum()
        # digital accumulation in float32, tile after tile
        c = (y * S[:, t:t + 1]) * gain[None, :]
        if t > 0:
            c = acc + c
        if t == tcount - 1:
            if b32 is not None:
                c = c + b32[:, None]
            out = c.t().contiguous()
        else:
            acc = c
    return out.reshape(out_shape), stats()


def _manage_bounds(ro: Readout, xq: torch.Tensor, W: torch.Tensor, cmt: Optional[torch.Tensor],
                   t: int, k0: int, kl: int, bm: int, gain: torch.Tensor, y: torch.Tensor,
                   clips: torch.Tensor, dac_rounding: bool, qd: float, need_sum: bool):
    """mvm.cpp manage_bounds on k-tile t: a (row, output tile) whose read clipped is read again
    with the row's gain doubled (re-encoded, fresh detector noise), up to ``bm`` times; its
    values, in units of the first gain, replace that output tile's in y [N, M]; clips [J, M]
    ends as each pair's last read's. Returns (y, clips, retries)."""
    retries = 0
    if bm <= 0:
        return y, clips, retries
    n = ro.N
    tc = ro.tile_cols
    dev = y.device
    redo: List[Tuple[int, int]] = [tuple(p) for p in (clips > 0).nonzero().tolist()]
    if not redo:
        return y, clips, retries
    y = y.clone()
    clips = clips.clone()
    xt = xq.narrow(1, k0, kl)
    for attempt in range(1, bm + 1):
        if not redo:
            break
        retries += len(redo)
        factor = math.ldexp(1.0, attempt)
        nxt: List[Tuple[int, int]] = []
        i = 0
        while i < len(redo):  # one output tile at a time
            j = redo[i][0]
            rows: List[int] = []
            while i < len(redo) and redo[i][0] == j:
                rows.append(redo[i][1])
                i += 1
            r = len(rows)
            n0, n1 = j * tc, min(n, j * tc + tc)
            ridx = torch.tensor(rows, dtype=torch.int64, device=dev)
            g = gain[ridx] * factor
            sub, _, sxs = _encode(xt[ridx][:, None, :], g[:, None], dac_rounding, qd, False,
                                  need_sum)
            sub = sub[:, 0, :].contiguous()
            sxs = None if sxs is None else sxs[:, 0].contiguous()
            wt = W.narrow(0, n0, n1 - n0).narrow(1, k0, kl)
            if r <= DIRECT_ROWS:  # one pass over the output tile's weights
                ys = tile_row_products(wt, sub, ro.fused)
            else:
                ys = torch.mm(wt, sub.t()).contiguous()
            cs = None
            if cmt is not None:
                cs = torch.mm(cmt.narrow(0, n0, n1 - n0),
                              torch.abs(sub).t().to(torch.bfloat16).contiguous()).contiguous()
            ok1 = torch.ones(r, dtype=torch.float32, device=dev)
            ys, scl = readout_tile(ro, t, attempt, ys, cs, ridx, ok1, sxs, n0, n1)
            y[n0:n1, ridx] = ys * factor
            scl = scl[0]
            clips[j, ridx] = scl
            for rr, v in zip(rows, scl.tolist()):
                if v > 0:
                    nxt.append((j, rr))
        redo = nxt
    return y, clips, retries

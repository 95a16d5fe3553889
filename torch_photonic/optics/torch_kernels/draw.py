"""photonic::draw_cells in torch ops (csrc/optical/draw.cpp): the cells one training forward
sees. The weight is mapped as ``program`` maps it (format, block scales, levels); per cell
target + offset[level] * sign(w) + sigma[level] * z (pairs; single cells without the sign), z the
normal of element n * K + k of the seed's training stream, clipped to [-1, 1]; a zero weight of a
pair stays 0."""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from . import rng
from .common import check, check_cells, fake_quant, per_element
from .numerics import cmax, cmin, round_magic
from .program import block_scales

__all__ = ["draw_cells", "UNQUANTISED_BINS"]

_OP = "photonic::draw_cells"
UNQUANTISED_BINS = 64


def draw_cells(weight: torch.Tensor, offset: Optional[torch.Tensor],
               sigma: Optional[torch.Tensor], weight_format: str, weight_scaling: str,
               scale_rule: str, levels: int, cells_per_weight: int, quantize_levels: bool,
               tile_rows: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    check_cells(_OP, weight, levels, cells_per_weight, tile_rows)
    check((offset is None) == (sigma is None), _OP,
          ": offset and sigma come together (both or neither)")
    steps = levels - 1 if quantize_levels else UNQUANTISED_BINS
    noisy = offset is not None
    w = weight.detach().to(torch.float32).contiguous()
    if noisy:
        off = offset.to(device=w.device, dtype=torch.float32).contiguous()
        sig = sigma.to(device=w.device, dtype=torch.float32).contiguous()
        check(off.dim() == 1 and off.numel() == steps + 1 and sig.dim() == 1
              and sig.numel() == steps + 1, _OP, ": offset and sigma must be 1-D with ",
              steps + 1, " entries (one per level), got ", list(off.shape), " and ",
              list(sig.shape))
    w = fake_quant(w, weight_format, weight_scaling, scale_rule, True).contiguous()
    n, k = w.shape
    mx = block_scales(w, tile_rows, _OP)
    scales = mx.contiguous()
    if n * k == 0:
        return torch.empty(n, k, dtype=torch.float32, device=w.device), scales
    mxk = per_element(mx, k, tile_rows)
    zero = torch.zeros((), dtype=torch.float32, device=w.device)
    s_f = float(steps)
    pair = cells_per_weight == 2
    wn = w / mxk
    g = wn.abs() if pair else 0.5 * (wn + 1.0)
    if quantize_levels:
        r = round_magic(g * s_f)
        idx = r.to(torch.int64)
        gq = r / torch.tensor(s_f, device=w.device)
        target = torch.copysign(gq, wn) if pair else 2.0 * gq - 1.0
    else:
        idx = torch.clamp(torch.floor(g * s_f).to(torch.int64), max=steps - 1)
        target = wn
    if noisy:
        z = rng.normals_range(rng.stream_key(seed, rng.STREAM_TRAIN), 0, n * k,
                              device=w.device).reshape(n, k)
        if pair:
            sgn = torch.where(wn > 0, torch.ones_like(wn),
                              torch.where(wn < 0, -torch.ones_like(wn), torch.zeros_like(wn)))
            zz = torch.where(wn == 0, zero, z)
        else:
            sgn = torch.ones_like(wn)
            zz = z
        safe = idx.clamp(0, steps)
        target = (target + off[safe] * sgn) + sig[safe] * zz
        target = cmin(1.0, cmax(-1.0, target))
    out = target * mxk
    return torch.where(mxk == 0, zero, out).contiguous(), scales

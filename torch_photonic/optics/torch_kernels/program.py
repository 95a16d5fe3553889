"""photonic::program in torch ops (csrc/optical/program.cpp): weights -> PCM conductances.

Per block (output n, k-tile t): s = max |w| over the block; cells_per_weight 2 programs
g = |w / s| on one cell of a pair, 1 programs g = (w / s + 1) / 2; optional rounding onto the
levels; programming noise sigma(g) = max(c0 + c1 g + c2 g^2, 0) times the normal of element
(first_row + n) * K + k of the seed's program stream (a reset cell of a pair gets none); g
clipped to [0, 1]; the state is (s ĝ, s).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch

from . import rng
from .common import check, check_cells, check_list, fake_quant, per_element, tiled
from .numerics import cmax, cmin, div, round_magic, to_f32

__all__ = ["program", "block_scales"]

_OP = "photonic::program"


def block_scales(w: torch.Tensor, tile_rows: int, op: str) -> torch.Tensor:
    """max |w| of each (row, k-tile) block, [N, T] (NaN entries never win, as std::max skips
    them); non-finite maxima are an error."""
    a = w.abs()
    a = torch.where(torch.isnan(a), torch.zeros((), dtype=a.dtype, device=a.device), a)
    if w.shape[1] == 0:
        return torch.zeros(w.shape[0], 0, dtype=w.dtype, device=w.device)
    mx = tiled(a, tile_rows).amax(dim=2)
    if mx.numel() and not bool(torch.isfinite(mx).all()):
        row = int((~torch.isfinite(mx)).nonzero()[0, 0])
        raise RuntimeError(f"{op}: weight has non-finite values (row {row})")
    return mx


def program(weight: torch.Tensor, weight_format: str, weight_scaling: str, scale_rule: str,
            levels: int, cells_per_weight: int, quantize_levels: bool,
            program_noise_coeffs: Sequence[float], tile_rows: int, seed: int, first_row: int = 0
            ) -> Tuple[torch.Tensor, torch.Tensor]:
    check_cells(_OP, weight, levels, cells_per_weight, tile_rows)
    check(first_row >= 0, _OP, ": first_row must be >= 0, got ", first_row)
    check_list(program_noise_coeffs, 3, _OP, "program_noise_coeffs")
    w = weight.detach().to(torch.float32).contiguous()
    w = fake_quant(w, weight_format, weight_scaling, scale_rule, True).contiguous()
    n, k = w.shape
    mx = block_scales(w, tile_rows, _OP)
    scales = mx.contiguous()
    if n * k == 0:
        return torch.empty(n, k, dtype=torch.float32, device=w.device), scales
    c0, c1, c2 = (to_f32(c) for c in program_noise_coeffs)
    noisy = c0 != 0.0 or c1 != 0.0 or c2 != 0.0
    mxk = per_element(mx, k, tile_rows)
    zero = torch.zeros((), dtype=torch.float32, device=w.device)
    if not quantize_levels and not noisy:
        return torch.where(mxk == 0, zero, w).contiguous(), scales
    lm1 = float(levels - 1)
    inv = per_element(torch.ones_like(mx) / mx, k, tile_rows)
    if noisy:
        z = rng.normals_range(rng.stream_key(seed, rng.STREAM_PROGRAM), first_row * k, n * k,
                              device=w.device).reshape(n, k)
    else:
        z = torch.zeros_like(w)
    if cells_per_weight == 2:
        wn = w * inv
        g = wn.abs()
        if quantize_levels:
            g = div(round_magic(g * lm1), lm1)
        sg = cmax(0.0, c0 + g * (c1 + g * c2))
        gn = cmin(1.0, cmax(0.0, g + sg * z))
        g = torch.where(g > 0, gn, zero)  # a reset cell (weight 0) gets no programming noise
        out = torch.where(wn < 0, -g, g) * mxk
    else:
        g = 0.5 * (w * inv + 1.0)
        if quantize_levels:
            g = div(round_magic(g * lm1), lm1)
        sg = cmax(0.0, c0 + g * (c1 + g * c2))
        g = cmin(1.0, cmax(0.0, g + sg * z))
        out = (2.0 * g - 1.0) * mxk
    return torch.where(mxk == 0, zero, out).contiguous(), scales

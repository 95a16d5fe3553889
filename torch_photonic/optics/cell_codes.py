"""Level codes: one byte per weight from which ``program`` writes the same cells again.

A programmed weight is, before its noise, a level per cell: the cell's conductance target
``g = L / (levels - 1)`` (a differential pair also records which cell of the pair holds it, the
weight's sign). The noise is a pure function of the seed and the cell's index, and the block
scale is the largest weight of the block, whose cell always sits at an end level. So the cells at
t0 follow from (level, sign) per weight, the block scales and the seed: programming the decoded
weight ``sign * g * s`` with the weight format ``"none"`` gives the same float32 cells, bit for
bit. A state that drops its digital weight keeps these codes instead of a float32 copy of its
t0 cells, 1 byte per weight instead of 4.

Codes exist when the config rounds conductances onto levels (``pcm.quantize_levels``) with at most
128 levels for pairs (7 bits of level and a sign bit) or 256 for single cells. Codes are trusted
only once :func:`rebuilds` has found that they give the programmed cells back, bit for bit.
Every step works a block of rows at a time (rows are mapped independently, and ``program``'s
``first_row`` draws a block's own noise), so temporaries stay bounded.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..hardware.config import HardwareConfig
from .backend import ops_for

__all__ = ["encode", "decode", "program_codes", "rebuilds", "supported", "same_bits"]

_SIGN = 0x80           # the sign bit of a pair's code
_LEVEL = 0x7F          # its level bits
_RESET_NEGATIVE = 0.25  # a negative weight on level 0, in levels: rounds to 0, keeps the sign
_ROWS_ELEMENTS = 1 << 20  # weights handled at once


def supported(config: HardwareConfig) -> bool:
    """True if ``config``'s cells can be recorded as one-byte level codes."""
    p, a = config.pcm, config.array
    if not p.quantize_levels:
        return False
    return p.levels <= (128 if a.cells_per_weight == 2 else 256)


def _block_scales(scales: torch.Tensor, k: int, tile_rows: int) -> torch.Tensor:
    """The scale of each weight's block, [N, K] from [N, T]."""
    return scales.repeat_interleave(tile_rows, dim=1)[:, :k]


def _program(weight: torch.Tensor, config: HardwareConfig, seed: int, weight_format: str,
             noise, first_row: int = 0) -> tuple:
    f, a, p = config.formats, config.array, config.pcm
    return ops_for(weight.device).program(weight, weight_format, f.weight_scaling, f.scale_rule,
                                          p.levels, a.cells_per_weight, p.quantize_levels,
                                          list(noise), a.tile_rows, int(seed), int(first_row))


def encode(weight: torch.Tensor, config: HardwareConfig) -> Optional[torch.Tensor]:
    """uint8 level codes [N, K] of ``weight`` ([N, K] float32) on ``config``, or None if the
    config's cells have no one-byte code (see :func:`supported`)."""
    if not supported(config):
        return None
    out = torch.empty(weight.shape, dtype=torch.uint8, device=weight.device)
    for r0, r1 in _row_blocks(weight):
        out[r0:r1] = _encode_rows(weight[r0:r1], config)
    return out


def _row_blocks(matrix: torch.Tensor):
    """(first, end) of the blocks of rows of ``matrix`` handled at once."""
    n, k = matrix.shape
    step = max(1, _ROWS_ELEMENTS // max(1, k))
    return ((r, min(n, r + step)) for r in range(0, n, step))


def _encode_rows(weight: torch.Tensor, config: HardwareConfig) -> torch.Tensor:
    a, p = config.array, config.pcm
    target, scales = _program(weight, config, 0, config.formats.weight_format, (0.0, 0.0, 0.0))
    s = _block_scales(scales, target.shape[1], a.tile_rows)
    lm1 = float(p.levels - 1)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    if a.cells_per_weight == 2:
        level = torch.round(target.abs() / safe * lm1).to(torch.uint8)
        level = torch.where(s > 0, level, torch.zeros_like(level))
        return level | (torch.signbit(target).to(torch.uint8) * _SIGN)
    level = torch.round((target / safe + 1.0) * 0.5 * lm1).to(torch.uint8)
    return torch.where(s > 0, level, torch.zeros_like(level))


def decode(codes: torch.Tensor, scales: torch.Tensor, config: HardwareConfig) -> torch.Tensor:
    """The float32 weight ([N, K]) whose programming (format ``"none"``) gives the coded
    cells."""
    out = torch.empty(codes.shape, dtype=torch.float32, device=codes.device)
    for r0, r1 in _row_blocks(codes):
        out[r0:r1] = _decode_rows(codes[r0:r1], scales[r0:r1], config)
    return out


def _decode_rows(codes: torch.Tensor, scales: torch.Tensor, config: HardwareConfig
                 ) -> torch.Tensor:
    a, p = config.array, config.pcm
    lm1 = float(p.levels - 1)
    s = _block_scales(scales, codes.shape[1], a.tile_rows)
    if a.cells_per_weight == 2:
        level = (codes & _LEVEL).to(torch.float32)
        negative = (codes & _SIGN) != 0
        level = torch.where(negative & (level == 0), torch.full_like(level, _RESET_NEGATIVE),
                            level)
        g = level / lm1
        return torch.where(negative, -g, g) * s
    g = codes.to(torch.float32) / lm1
    return (2.0 * g - 1.0) * s


def _program_rows(codes: torch.Tensor, scales: torch.Tensor, config: HardwareConfig, seed: int,
                  r0: int, r1: int) -> torch.Tensor:
    """The t0 cells of rows [r0, r1) (their own noise: ``program``'s ``first_row``)."""
    w = _decode_rows(codes[r0:r1], scales[r0:r1], config)
    return _program(w, config, seed, "none", config.pcm.program_noise_coeffs, r0)[0]


def program_codes(codes: torch.Tensor, scales: torch.Tensor, config: HardwareConfig,
                  seed: int) -> torch.Tensor:
    """The cells at t0 (float32 [N, K], as ``program`` wrote them) from their codes."""
    out = torch.empty(codes.shape, dtype=torch.float32, device=codes.device)
    for r0, r1 in _row_blocks(codes):
        out[r0:r1] = _program_rows(codes, scales, config, seed, r0, r1)
    return out


def rebuilds(codes: torch.Tensor, scales: torch.Tensor, config: HardwareConfig, seed: int,
             cells: torch.Tensor) -> bool:
    """True if ``codes`` rebuild ``cells`` (the t0 cells) bit for bit."""
    if codes.shape != cells.shape:
        return False
    return all(same_bits(_program_rows(codes, scales, config, seed, r0, r1), cells[r0:r1])
               for r0, r1 in _row_blocks(codes))


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if ``a`` and ``b`` hold the same float32 bits (signed zeros and NaNs included)."""
    return a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))

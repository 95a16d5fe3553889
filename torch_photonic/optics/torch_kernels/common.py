"""Pieces shared by the torch optical kernels (csrc/optical/common.{h,cpp}): argument checks, the
digital formats, and the (row, k-tile) block layout."""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["n_tiles", "check_weight_state", "check_list", "fake_quant", "tiled", "untile",
           "per_element"]


def n_tiles(k: int, tile_rows: int) -> int:
    return (k + tile_rows - 1) // tile_rows


def check(cond: bool, *msg) -> None:
    if not cond:
        raise RuntimeError("".join(str(m) for m in msg))


def check_weight_state(weff: torch.Tensor, scales: torch.Tensor, tile_rows: int, op: str) -> None:
    check(tile_rows >= 1, op, ": tile_rows must be >= 1, got ", tile_rows)
    check(weff.dim() == 2, op, ": programmed weight must be 2-D [out, in], got shape ",
          list(weff.shape))
    t = n_tiles(weff.shape[1], tile_rows)
    check(scales.dim() == 2 and scales.shape[0] == weff.shape[0] and scales.shape[1] == t, op,
          ": scales shape ", list(scales.shape), " does not match programmed weight ",
          list(weff.shape), " with tile_rows=", tile_rows, " (expected [", weff.shape[0], ", ",
          t, "])")
    check(weff.dtype == torch.float32 and scales.dtype == torch.float32, op,
          ": programmed state must be float32")


def check_cells(op: str, weight: torch.Tensor, levels: int, cells_per_weight: int,
                tile_rows: int) -> None:
    """The arguments every kernel that writes cells from a weight checks alike."""
    check(weight.dim() == 2, op, ": weight must be 2-D [out, in], got shape ",
          list(weight.shape))
    check(weight.is_floating_point(), op, ": weight must be floating point")
    check(2 <= levels <= 256, op, ": levels must be in [2, 256], got ", levels)
    check(cells_per_weight in (1, 2), op, ": cells_per_weight must be 1 or 2, got ",
          cells_per_weight)
    check(tile_rows >= 1, op, ": tile_rows must be >= 1")


def check_list(v: Sequence[float], n: int, op: str, name: str) -> None:
    check(len(v) == n, op, ": ", name, " must have ", n, " entries, got ", len(v))
    for i, x in enumerate(v):
        check(math.isfinite(float(x)), op, ": ", name, "[", i, "] must be finite, got ", x)


def fake_quant(x: torch.Tensor, fmt: str, scaling: str, rule: str, weight: bool) -> torch.Tensor:
    """fake_quantize(x) in float32 through the quantizer (a host op: other devices round-trip
    through the host); format "none" returns x unchanged."""
    if fmt == "none":
        return x
    op = torch.ops.photonic.fake_quantize
    if x.device.type == "cpu":
        return op(x, fmt, scaling, rule, weight).to(torch.float32)
    return op(x.cpu(), fmt, scaling, rule, weight).to(device=x.device, dtype=torch.float32)


def tiled(x: torch.Tensor, tile_rows: int, value: float = 0.0) -> torch.Tensor:
    """[R, K] -> [R, T, tile_rows], the last tile padded with ``value``."""
    r, k = x.shape
    t = n_tiles(k, tile_rows)
    pad = t * tile_rows - k
    if pad:
        x = torch.nn.functional.pad(x, (0, pad), value=value)
    return x.reshape(r, t, tile_rows)


def untile(x: torch.Tensor, k: int) -> torch.Tensor:
    """[R, T, tile_rows] -> [R, K] (contiguous), the padding dropped."""
    r = x.shape[0]
    return x.reshape(r, -1)[:, :k].contiguous()


def per_element(v: torch.Tensor, k: int, tile_rows: int) -> torch.Tensor:
    """A value per (row, k-tile) [R, T] repeated over its tile's elements: [R, K]."""
    r, t = v.shape
    return v[:, :, None].expand(r, t, tile_rows).reshape(r, t * tile_rows)[:, :k]

"""Capacity planning: does a model's weight set fit on the configured chips?

``capacity_plan(model, preset)`` walks the module tree and counts the weights that would go to
the optics: every ``nn.Linear`` (and modules shaped like one, e.g. photonic layers) and every
3-D parameter of a fused-experts module (``[experts, out, in]``, as in transformers'
``*Experts`` modules).
Embeddings, norms, biases and MoE routers (routing runs on the host) stay electronic. Only
shapes are read (``Parameter.shape``), so a model built under ``torch.device("meta")`` works
and no real memory is used.

Cells needed = weights x ``array.cells_per_weight``. Tiles needed count each matrix's tile
padding (``ceil(in/tile_rows) * ceil(out/tile_cols)`` tiles). Chips needed = the larger of
``ceil(cells / cells_per_chip)`` and ``ceil(tiles / tiles_per_chip)``.

If the model does not fit, the configured chips pin what fits and the rest is rewritten when
used: ``rewrite_cells_per_token = active_cells_per_token * overflow`` (active: every optical
weight a decoded token reads; for MoE only ``top_k / n_experts`` of the routed experts, from
``model.config``), with its write energy and time (energy/model.py), and the wear-out time when
the rewrite time bounds the token rate. ``overflow`` is the share of the model that does not stay
resident, by whichever runs out first: cells (``1 - capacity_cells / cells_needed``) or tiles
(``1 - capacity_tiles / tiles_needed``; many small matrices fill tiles long before cells). Every
figure is >= 0.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from . import model as E
from .workload import is_linear
from ..hardware.resolve import resolve

__all__ = ["capacity_plan", "optical_weights", "overflow"]


def _is_experts(name: str, module: Any) -> bool:
    return "expert" in type(module).__name__.lower() or name.rsplit(".", 1)[-1] == "experts"


def optical_weights(model: Any) -> List[Dict[str, Any]]:
    """One row per optical weight matrix group: name, kind, in, out, count (matrices)."""
    rows: List[Dict[str, Any]] = []
    for name, mod in model.named_modules():
        if is_linear(mod):
            w = mod.weight
            rows.append(dict(name=name, kind="linear", out=int(w.shape[0]),
                             inp=int(w.shape[1]), count=1))
            continue
        if _is_experts(name, mod):
            for pname, p in mod.named_parameters(recurse=False):
                if p.dim() == 3:
                    e, a, b = (int(s) for s in p.shape)
                    # transformers stores gate_up_proj as [E, 2I, H] and down_proj as [E, H, I]
                    # ([E, out, in]); which side is "in" only changes tile padding.
                    rows.append(dict(name=f"{name}.{pname}", kind="experts", out=a, inp=b,
                                     count=e))
    return rows


def overflow(cfg: Any, cells: float, tiles: float) -> float:
    """The share of a model of ``cells`` cells on ``tiles`` tiles that does not stay resident on
    ``cfg``'s chips, by whichever runs out first: ``max(0, 1 - capacity_cells / cells,
    1 - capacity_tiles / tiles)`` (0 when both fit). The one rule of :func:`capacity_plan` and
    of the system plan's rewrites (:mod:`~torch_photonic.energy.system`)."""
    chips = int(E._get(cfg, "chips"))
    cap_cells = chips * int(cfg.array.cells_per_chip)
    cap_tiles = chips * int(cfg.array.tiles_per_chip)
    return max(0.0, 1.0 - cap_cells / cells if cells else 0.0,
               1.0 - cap_tiles / tiles if tiles else 0.0)


def _active_fraction(model: Any) -> float:
    cfg = getattr(model, "config", None)
    k = getattr(cfg, "num_experts_per_tok", None)
    n = getattr(cfg, "n_routed_experts", None) or getattr(cfg, "num_experts", None) \
        or getattr(cfg, "num_local_experts", None)
    if k and n:
        return float(k) / float(n)
    return 1.0


def capacity_plan(model: Any, preset: Any = None, *,
         active_fraction: Optional[float] = None, **overrides) -> Dict[str, Any]:
    """Cells, tiles, chips and area a model needs on ``preset`` (any spec of ``resolve``; default
    the default preset).

    ``active_fraction`` (default from ``model.config``: top_k / n_experts) is the share of
    routed-expert weights one decoded token reads.
    """
    cfg = resolve(preset, **overrides)
    a = cfg.array
    cpw = int(a.cells_per_weight)
    rows, cols = int(a.tile_rows), int(a.tile_cols)
    if active_fraction is not None and (isinstance(active_fraction, bool) or not isinstance(
            active_fraction, (int, float)) or not 0.0 <= active_fraction <= 1.0):
        raise ValueError(f"active_fraction must be a number in [0, 1] (the share of the routed "
                         f"experts' weights a token reads) or None, got {active_fraction!r}")
    frac = _active_fraction(model) if active_fraction is None else float(active_fraction)

    weights = tiles = active = 0
    for r in optical_weights(model):
        n = r["inp"] * r["out"] * r["count"]
        weights += n
        tiles += math.ceil(r["inp"] / rows) * math.ceil(r["out"] / cols) * r["count"]
        active += n * (frac if r["kind"] == "experts" else 1.0)
    cells = weights * cpw
    chips_needed = max(math.ceil(cells / a.cells_per_chip), math.ceil(tiles / a.tiles_per_chip),
                       1 if weights else 0)
    chips = int(E._get(cfg, "chips"))
    cap = E.capacity_cells(cfg)
    fits = chips_needed <= chips
    active_cells = active * cpw
    out: Dict[str, Any] = dict(
        preset=cfg.name, weights=int(weights), cells_needed=int(cells), tiles_needed=int(tiles),
        chips=chips, capacity_cells=cap, chips_needed=int(chips_needed), fits=fits,
        area_mm2=chips * float(a.chip_area_mm2),
        area_mm2_needed=chips_needed * float(a.chip_area_mm2),
        active_weights_per_token=int(active), active_cells_per_token=int(active_cells),
        program_joules=E.program_energy(cfg, cells), program_seconds=E.program_time(cfg, cells),
    )
    share = 0.0 if fits else overflow(cfg, cells, tiles)
    if fits:
        out.update(rewrite_cells_per_token=0, rewrites_per_token=0.0,
                   rewrite_joules_per_token=0.0, rewrite_seconds_per_token=0.0,
                   wear_hours=None)
    else:
        rw = active_cells * share
        t = E.program_time(cfg, rw)
        out.update(rewrite_cells_per_token=rw, rewrites_per_token=rw / cap,
                   rewrite_joules_per_token=E.program_energy(cfg, rw),
                   rewrite_seconds_per_token=t,
                   max_tokens_per_s=(1.0 / t) if t else None,
                   # at the rewrite-bound token rate, writes spread over every cell
                   wear_hours=(float(cfg.pcm.endurance_cycles) / (rw / t / cap) / 3600.0)
                   if t else None)
    return out

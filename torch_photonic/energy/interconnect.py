"""Links between chips and to their hosts, and where a model's layers sit ([d-interconnect]).

A transfer of ``b`` bytes inside a supernode takes ``interconnect.latency_s + b /
interconnect.gb_per_s`` seconds and ``8 b * interconnect.pj_per_bit`` picojoules; between
supernodes (chips ``i`` and ``j`` with ``i // supernode_chips != j // supernode_chips``) the
``scaleout_*`` figures apply.

:func:`place` puts the layers of a :class:`~torch_photonic.energy.workload.Workload` on chips
in order, filling each chip's tiles (a weight matrix takes ``ceil(k/tile_rows) *
ceil(n/tile_cols)`` tiles per copy; a layer may span chips, and a chip may hold several
layers). When the model needs more tiles than the chips have, every layer shares all of them
(weights are rewritten as they are used) and the placement says ``fits=False``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

__all__ = ["transfer", "matrix_tiles", "LayerPlace", "Placement", "place"]


def transfer(cfg: Any, nbytes: float, scaleout: bool = False) -> Tuple[float, float]:
    """(joules, seconds) of one transfer of ``nbytes`` bytes."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    ic = cfg.interconnect
    if nbytes == 0:
        return 0.0, 0.0
    if scaleout:
        pj, gbs, lat = ic.scaleout_pj_per_bit, ic.scaleout_gb_per_s, ic.scaleout_latency_s
    else:
        pj, gbs, lat = ic.pj_per_bit, ic.gb_per_s, ic.latency_s
    return (float(nbytes) * 8.0 * float(pj) * 1e-12,
            float(lat) + float(nbytes) / (float(gbs) * 1e9))


def matrix_tiles(cfg: Any, k: int, n: int) -> int:
    """Tiles one ``k x n`` weight matrix occupies."""
    return math.ceil(int(k) / int(cfg.array.tile_rows)) * math.ceil(int(n) / int(cfg.array.tile_cols))


@dataclass(frozen=True)
class LayerPlace:
    name: str
    first_chip: int
    last_chip: int
    tiles: int

    @property
    def chips(self) -> int:
        return self.last_chip - self.first_chip + 1


@dataclass(frozen=True)
class Placement:
    chips: int
    tiles_needed: int
    fits: bool
    layers: List[LayerPlace]

    def host_of(self, cfg: Any, chip: int) -> int:
        return int(chip) // int(cfg.power.chips_per_host)

    def hosts_of(self, cfg: Any, lp: LayerPlace) -> int:
        """Distinct hosts serving a layer's chips."""
        return self.host_of(cfg, lp.last_chip) - self.host_of(cfg, lp.first_chip) + 1

    def supernode_of(self, cfg: Any, chip: int) -> int:
        return int(chip) // int(cfg.interconnect.supernode_chips)

    def to_dict(self) -> Dict[str, Any]:
        return dict(chips=self.chips, tiles_needed=self.tiles_needed, fits=self.fits,
                    layers=[dict(name=l.name, first_chip=l.first_chip, last_chip=l.last_chip,
                                 tiles=l.tiles) for l in self.layers])


def place(work: Any, cfg: Any, chips: int) -> Placement:
    """Layers of ``work`` on ``chips`` chips, in order (see the module docstring)."""
    chips = int(chips)
    if chips < 1:
        raise ValueError(f"chips must be >= 1, got {chips}")
    per_chip = int(cfg.array.tiles_per_chip)
    tiles = [sum(matrix_tiles(cfg, p.k, p.n) * p.count for p in l.products) for l in work.layers]
    need = sum(tiles)
    if need > chips * per_chip:
        return Placement(chips=chips, tiles_needed=need, fits=False,
                         layers=[LayerPlace(l.name, 0, chips - 1, t)
                                 for l, t in zip(work.layers, tiles)])
    out: List[LayerPlace] = []
    used = 0                                      # tiles used before this layer
    for l, t in zip(work.layers, tiles):
        first = used // per_chip
        last = (used + t - 1) // per_chip if t else first
        out.append(LayerPlace(l.name, first, last, t))
        used += t
    return Placement(chips=chips, tiles_needed=need, fits=True, layers=out)

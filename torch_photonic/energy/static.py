"""Static power: what the system draws while it is on, whatever it computes.

Per chip (``cfg.power``, derivation [d-static-power] in docs/sources.md):

* ``laser``: ``"cw"`` lasers draw their whole wall power ``optics.laser_power_w /
  optics.wall_plug_efficiency`` all the time (and nothing is charged per conversion);
  ``"gated"`` lasers are charged per conversion while they compute and draw
  ``power.laser_idle_fraction`` of that wall power all the time (held at threshold).
* ``drivers``: ``power.driver_w`` for each input modulator, ``tiles_per_chip * tile_rows``.
* ``receivers``: ``power.receiver_w`` for each output channel, ``tiles_per_chip * tile_cols``.
* ``clock``, ``control``: per chip; ``tuning``: ``rings_per_chip * tuning_w_per_ring``.

Per host (one per ``power.chips_per_host`` chips): ``host``, its idle power.

Static energy over ``t`` seconds is ``sum(watts) * t``: linear in time by construction.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

__all__ = ["STATIC_COMPONENTS", "channels_per_chip", "laser_wall_watts", "hosts_for",
           "static_power", "static_energy"]

#: static components, in report order
STATIC_COMPONENTS = ("laser", "drivers", "receivers", "clock", "tuning", "control", "host")


def channels_per_chip(cfg: Any) -> Dict[str, int]:
    """Input modulators and output receivers on one chip (every tile has its own)."""
    a = cfg.array
    return dict(inputs=int(a.tiles_per_chip) * int(a.tile_rows),
                outputs=int(a.tiles_per_chip) * int(a.tile_cols))


def laser_wall_watts(cfg: Any) -> float:
    """Electrical power of one chip's lasers while on."""
    return float(cfg.optics.laser_power_w) / float(cfg.optics.wall_plug_efficiency)


def hosts_for(cfg: Any, chips: int) -> int:
    """Hosts that serve ``chips`` chips."""
    return math.ceil(int(chips) / int(cfg.power.chips_per_host))


def static_power(cfg: Any, chips: Optional[int] = None) -> Dict[str, float]:
    """Watts by component of ``chips`` chips (default ``cfg.chips``) and their hosts."""
    chips = int(cfg.chips if chips is None else chips)
    if chips < 0:
        raise ValueError(f"chips must be >= 0, got {chips}")
    pw = cfg.power
    ch = channels_per_chip(cfg)
    laser = laser_wall_watts(cfg) * (1.0 if pw.laser == "cw" else float(pw.laser_idle_fraction))
    per_chip = dict(
        laser=laser,
        drivers=ch["inputs"] * float(pw.driver_w),
        receivers=ch["outputs"] * float(pw.receiver_w),
        clock=float(pw.clock_w),
        tuning=int(pw.rings_per_chip) * float(pw.tuning_w_per_ring),
        control=float(pw.control_w),
    )
    out = {k: v * chips for k, v in per_chip.items()}
    out["host"] = hosts_for(cfg, chips) * float(pw.host_idle_w)
    return {k: out[k] for k in STATIC_COMPONENTS}


def static_energy(cfg: Any, seconds: float, chips: Optional[int] = None) -> Dict[str, float]:
    """Joules by component drawn over ``seconds`` of wall-clock time."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    return {k: w * float(seconds) for k, w in static_power(cfg, chips).items()}

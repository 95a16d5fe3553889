"""What a system costs to own and run, per million tokens (``cfg.cost``, [d-cost]).

* Chip price = ``substrate_usd`` + CMOS (one converter with its driver or TIA per input and per
  output channel: ``(inputs + outputs) * cmos_mm2_per_channel * cmos_usd_per_mm2``) + lasers
  (``laser_usd_per_w * optics.laser_power_w``, optical watts).
* System price = chips x chip price + hosts x ``host_usd``.
* Owning cost per token = system price / (``amortization_years`` x seconds per year x
  ``utilization`` x tokens per second): the hardware is paid off over the tokens it serves.
* Electricity per token = joules per token x ``pue`` x ``usd_per_kwh`` / 3.6e6.
"""
from __future__ import annotations

from typing import Any, Dict

from .static import channels_per_chip, hosts_for

__all__ = ["SECONDS_PER_YEAR", "chip_price", "system_price", "usd_per_million_tokens"]

#: a Julian year
SECONDS_PER_YEAR = 365.25 * 86400.0


def chip_price(cfg: Any) -> Dict[str, float]:
    """USD of one chip by part: substrate, cmos, lasers, and the total."""
    c = cfg.cost
    ch = channels_per_chip(cfg)
    cmos_mm2 = (ch["inputs"] + ch["outputs"]) * float(c.cmos_mm2_per_channel)
    out = dict(substrate=float(c.substrate_usd), cmos=cmos_mm2 * float(c.cmos_usd_per_mm2),
               lasers=float(c.laser_usd_per_w) * float(cfg.optics.laser_power_w))
    out["total"] = sum(out.values())
    out["cmos_mm2"] = cmos_mm2
    return out


def system_price(cfg: Any, chips: int) -> Dict[str, float]:
    """USD of ``chips`` chips and the hosts that serve them."""
    chip = chip_price(cfg)["total"]
    hosts = hosts_for(cfg, chips)
    out = dict(chips=int(chips) * chip, hosts=hosts * float(cfg.cost.host_usd))
    out["total"] = out["chips"] + out["hosts"]
    return out


def usd_per_million_tokens(cfg: Any, chips: int, joules_per_token: float,
                           tokens_per_s: float) -> Dict[str, float]:
    """Owning and electricity cost per million tokens at ``tokens_per_s`` while serving."""
    if joules_per_token < 0:
        raise ValueError(f"joules_per_token must be >= 0, got {joules_per_token}")
    if tokens_per_s <= 0:
        raise ValueError(f"tokens_per_s must be > 0, got {tokens_per_s}")
    c = cfg.cost
    price = system_price(cfg, chips)["total"]
    served = float(c.amortization_years) * SECONDS_PER_YEAR * float(c.utilization) * tokens_per_s
    own = 1e6 * price / served
    power = 1e6 * joules_per_token * float(c.pue) * float(c.usd_per_kwh) / 3.6e6
    return dict(owning=own, electricity=power, total=own + power, system_usd=price)

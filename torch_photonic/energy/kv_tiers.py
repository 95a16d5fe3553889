"""Where the KV cache sits: memory tiers of the hosts ([d-memory-tiers]).

The KV cache fills ``memory.kv_tiers`` in order across all hosts (``hosts x
memory.capacity_gb[tier]``) and spills to the next tier; what does not fit in any tier is an
error naming the chips, batch and context. A read of ``b`` bytes from a tier served by ``h``
hosts takes ``b / (h x memory.gb_per_s[tier])`` seconds and ``8 b x
host.tier_pj_per_bit[tier]`` picojoules.
"""
from __future__ import annotations

from typing import Any, Dict

__all__ = ["kv_fill", "tier_time", "tier_energy", "kv_capacity_bytes"]


def kv_capacity_bytes(cfg: Any, hosts: int) -> float:
    """Bytes of KV cache ``hosts`` hosts can hold over all KV tiers."""
    m = cfg.memory
    return float(hosts) * sum(float(m.capacity_gb[t]) * 1e9 for t in m.kv_tiers)


def kv_fill(cfg: Any, kv_bytes: float, hosts: int) -> Dict[str, float]:
    """Bytes of the KV cache in each tier, filled in order; ValueError if it does not fit."""
    m = cfg.memory
    left = float(kv_bytes)
    out: Dict[str, float] = {}
    for t in m.kv_tiers:
        cap = float(hosts) * float(m.capacity_gb[t]) * 1e9
        take = min(left, cap)
        out[t] = take
        left -= take
    if left > 0:
        raise ValueError(
            f"the KV cache ({kv_bytes / 1e9:.4g} GB) does not fit in any tier of {hosts} "
            f"host(s) ({kv_capacity_bytes(cfg, hosts) / 1e9:.4g} GB over {list(m.kv_tiers)}): "
            f"lower batch or context, or raise chips (one host per "
            f"{cfg.power.chips_per_host} chips)")
    return out


def tier_time(cfg: Any, tier: str, nbytes: float, hosts: int) -> float:
    """Seconds to move ``nbytes`` from ``tier`` of ``hosts`` hosts at once."""
    bw = float(cfg.memory.gb_per_s[tier]) * 1e9 * max(1, int(hosts))
    return float(nbytes) / bw


def tier_energy(cfg: Any, tier: str, nbytes: float) -> float:
    """Joules to move ``nbytes`` from or to ``tier``."""
    pj = cfg.host.tier_pj_per_bit
    if tier not in pj:
        raise ValueError(f"host.tier_pj_per_bit has no tier {tier!r}; it has {sorted(pj)}")
    return float(nbytes) * 8.0 * float(pj[tier]) * 1e-12

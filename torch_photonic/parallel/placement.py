"""Which rank owns what: layers in contiguous blocks (a pipeline), routed experts in contiguous
blocks (expert parallelism), the embedding on the first rank and the output head on the last."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Placement", "place_model"]

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")


@dataclass(frozen=True)
class Placement:
    ranks: int
    layers: int
    experts: int           # routed experts per MoE layer (0: dense model)

    def layer_owner(self, layer: int) -> int:
        return int(layer) * self.ranks // max(1, self.layers)

    def expert_owner(self, expert: int) -> int:
        return int(expert) * self.ranks // max(1, self.experts)

    def owner(self, module: str, expert: Optional[int] = None) -> int:
        """The rank that meters ``module`` (a module path as meters name rows)."""
        if expert is not None and "expert" in module and self.experts:
            return self.expert_owner(expert)
        m = _LAYER.search(module)
        if m:
            return self.layer_owner(int(m.group(1)))
        if "lm_head" in module:
            return self.ranks - 1
        return 0

    def local_experts(self, rank: int) -> range:
        lo = next((e for e in range(self.experts) if self.expert_owner(e) == rank), self.experts)
        hi = lo
        while hi < self.experts and self.expert_owner(hi) == rank:
            hi += 1
        return range(lo, hi)


def place_model(model: Any, ranks: int) -> Placement:
    """The placement of a transformers-style model (``model.config``) over ``ranks`` ranks."""
    if int(ranks) < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks!r}")
    cfg = getattr(model, "config", None)
    layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
    experts = int(getattr(cfg, "n_routed_experts", None) or getattr(cfg, "num_experts", 0) or 0)
    if experts and experts < ranks:
        raise ValueError(f"ranks ({ranks}) exceeds the routed experts per layer ({experts}): "
                         f"every rank must own at least one expert")
    return Placement(ranks=int(ranks), layers=layers, experts=experts)

"""The acceptance run spread over ``torchrun`` processes (:mod:`torch_photonic.parallel`): the
model's routed experts and layers across the ranks, one meter per rank merged on rank 0."""
from __future__ import annotations

from typing import Any, Dict

from ..energy.meter import Meter
from .. import parallel as P

__all__ = ["Spread"]


class Spread:
    """The ranks of one run: installs expert parallelism on a model, meters per rank, merges."""

    def __init__(self, timeout_s: float = P.group.DEFAULT_TIMEOUT_S):
        self.world = P.init(timeout_s=timeout_s)
        self.placement = None
        self.hooks = []

    @property
    def is_main(self) -> bool:
        return self.world.is_main

    def install(self, model) -> Dict[str, Any]:
        self.placement = P.place_model(model, self.world.size)
        wrapped = P.install_expert_parallel(model, self.placement)
        self.hooks = P.metering.charge_pipeline_hops(model, self.placement)
        return dict(expert_parallel=wrapped)

    def meter(self, cfg) -> Meter:
        return P.RankMeter(self.placement, self.world.rank, config=cfg)

    def merge(self, local: Meter, cfg) -> Meter:
        merged = P.merged_meter(local)
        # the other ranks carry on with their own counts (only rank 0 reports)
        return merged if merged is not None else local

    def describe(self) -> Dict[str, Any]:
        pl = self.placement
        out = dict(ranks=self.world.size, backend=self.world.backend,
                   timeout_s=self.world.timeout_s)
        if pl is not None:
            out.update(layers_per_rank=[[l for l in range(pl.layers) if pl.layer_owner(l) == r]
                                        for r in range(pl.ranks)],
                       experts_per_rank=[list(pl.local_experts(r)) for r in range(pl.ranks)])
        return out

"""Each rank meters the chips it owns; the meters merge on rank 0.

:class:`RankMeter` is a :class:`~torch_photonic.energy.meter.Meter` that keeps only the events
of what its rank owns (:meth:`Placement.owner`: a layer's products, programming and host work
on the rank of the layer; a routed expert's on the rank of the expert) and every transfer its
rank sends. :func:`merged_meter` gathers the ranks' counts on rank 0 into one meter, which then
equals the meter of one process doing the same work plus the transfers between ranks.

A hidden state crossing from one layer's owner to the next is charged on the sending rank by
:func:`charge_pipeline_hops` (a forward hook on each decoder layer).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
import torch.nn as nn

from ..energy import events
from ..energy.meter import Meter
from .group import call, world
from .placement import Placement

__all__ = ["RankMeter", "merged_meter", "charge_pipeline_hops"]

ACTIVATION_BYTES = 2
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)$")


class RankMeter(Meter):
    """A meter that keeps the events its rank owns (see the module docstring)."""

    def __init__(self, placement: Placement, rank: int, config: Any = None):
        super().__init__(config=config)
        self.placement, self.rank = placement, int(rank)

    def on_event(self, kind: str, p: Dict[str, Any]) -> None:
        if kind != "transfer":
            module = p.get("module") or ""
            if self.placement.owner(module, p.get("expert")) != self.rank:
                return
        super().on_event(kind, p)


def merged_meter(local: Meter) -> Optional[Meter]:
    """On rank 0: a meter holding every rank's counts; None on the other ranks."""
    w = world()
    state = local.export_state()
    if w is None or w.size == 1:
        m = Meter(config=local.config)
        m.merge_state(state)
        return m
    gathered: List[Any] = [None] * w.size if w.is_main else None
    call("gather of the meters", lambda: dist.gather_object(state, gathered, dst=0))
    if not w.is_main:
        return None
    m = Meter(config=local.config)
    for s in gathered:
        m.merge_state(s)
    m.tokens = local.tokens
    return m


def charge_pipeline_hops(model: nn.Module, placement: Placement) -> List[Any]:
    """Forward hooks that charge the hidden state a layer hands to a layer on another rank
    (and the last layer's to the output head's rank). Returns the hook handles."""
    w = world()
    me = 0 if w is None else w.rank
    handles = []
    for name, mod in model.named_modules():
        m = _LAYER.search(name)
        if not m:
            continue
        layer = int(m.group(1))
        nxt = placement.layer_owner(layer + 1) if layer + 1 < placement.layers \
            else placement.ranks - 1
        owner = placement.layer_owner(layer)
        if owner != me or nxt == owner:
            continue

        def hook(_m, _args, out, name=name):
            h = out[0] if isinstance(out, (tuple, list)) else out
            events.record_transfer(f"{name}.hop", h.numel() * ACTIVATION_BYTES)

        handles.append(mod.register_forward_hook(hook))
    return handles

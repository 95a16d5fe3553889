"""DeepSeek-style expert parallelism: the routed experts of a layer live on several ranks.

:class:`ExpertParallel` wraps a fused-experts module (``forward(hidden [T, H], top_k_index
[T, k], top_k_weights [T, k]) -> [T, H]``, transformers' ``*Experts`` or
:class:`~torch_photonic.nn.PhotonicExperts`). The ``T x k`` (token, expert) routes are split
evenly over the ranks; each rank sends the hidden states of its share to the ranks that own the
experts (``all_to_all``, with the counts exchanged first), each owner runs only its own experts
on what it received, and the results go back (``all_to_all``) to be weighted and summed per
token. Each send to another rank is charged as a transfer (``events.record_transfer``).

Every rank holds every token in this emulation, so the per-token sums are added over the ranks
(``all_reduce``) to give each rank the whole output; that replication is not charged (a real
deployment keeps each token's output on the rank that holds the token).
"""
from __future__ import annotations

from typing import Any, List

import torch
import torch.distributed as dist
import torch.nn as nn

from ..energy import events
from .group import call, world
from .placement import Placement

__all__ = ["ExpertParallel", "install_expert_parallel"]

#: bytes of one activation value sent between ranks (bf16, as the system plan's links)
ACTIVATION_BYTES = 2


def _all_to_all(what: str, x: torch.Tensor, recv_counts: List[int], send_counts: List[int],
                row: int) -> torch.Tensor:
    out = torch.empty((sum(recv_counts),) + tuple(x.shape[1:]), dtype=x.dtype)
    call(what, lambda: dist.all_to_all_single(out, x.contiguous(), recv_counts, send_counts))
    return out


class ExpertParallel(nn.Module):
    """Routed experts spread over the ranks (see the module docstring)."""

    def __init__(self, experts: nn.Module, placement: Placement, name: str = ""):
        super().__init__()
        self.inner = experts
        self.placement = placement
        self.photonic_name = name

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                top_k_weights: torch.Tensor) -> torch.Tensor:
        w = world()
        if w is None or w.size == 1:
            return self.inner(hidden_states, top_k_index, top_k_weights)
        me, n = w.rank, w.size
        T, H = hidden_states.shape
        K = top_k_index.shape[1]
        routes = T * K
        lo, hi = me * routes // n, (me + 1) * routes // n
        expert = top_k_index.reshape(-1)[lo:hi].to(torch.int64)
        token = torch.arange(T).repeat_interleave(K)[lo:hi]
        weight = top_k_weights.reshape(-1)[lo:hi]
        dest = expert * n // self.placement.experts
        order = torch.argsort(dest, stable=True)
        expert, token, weight, dest = expert[order], token[order], weight[order], dest[order]
        send = torch.bincount(dest, minlength=n)
        recv = torch.empty_like(send)
        call("all_to_all of the route counts",
             lambda: dist.all_to_all_single(recv, send.contiguous()))
        send_c, recv_c = send.tolist(), recv.tolist()
        x = hidden_states.detach()[token]
        rows = _all_to_all("dispatch (all_to_all)", x, recv_c, send_c, H)
        ids = _all_to_all("dispatch of expert ids (all_to_all)", expert, recv_c, send_c, 1)
        if rows.shape[0]:
            y = self.inner(rows.to(hidden_states.dtype), ids[:, None],
                           torch.ones(rows.shape[0], 1, dtype=top_k_weights.dtype))
        else:
            y = rows.new_zeros((0, H))
        back = _all_to_all("combine (all_to_all)", y.detach().to(hidden_states.dtype), send_c,
                           recv_c, H)
        for r in range(n):   # what this rank sent to others, both ways
            if r != me and send_c[r]:
                events.record_transfer(f"{self.photonic_name}.dispatch",
                                       send_c[r] * H * ACTIVATION_BYTES)
            if r != me and recv_c[r]:
                events.record_transfer(f"{self.photonic_name}.combine",
                                       recv_c[r] * H * ACTIVATION_BYTES)
        out = torch.zeros(T, H, dtype=torch.float32)
        out.index_add_(0, token, back.to(torch.float32) * weight.to(torch.float32)[:, None])
        call("all_reduce of the expert outputs", lambda: dist.all_reduce(out))
        return out.to(hidden_states.dtype)


def install_expert_parallel(model: nn.Module, placement: Placement) -> List[str]:
    """Wraps every fused-experts module of ``model`` (a module named ``experts`` with 3-D
    weights) in :class:`ExpertParallel`; returns the wrapped module paths."""
    done = []
    for name, mod in list(model.named_modules()):
        if name.rsplit(".", 1)[-1] != "experts" or isinstance(mod, ExpertParallel):
            continue
        if not any(p.dim() == 3 for p in mod.parameters(recurse=False)):
            continue
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.rsplit(".", 1)[-1], ExpertParallel(mod, placement, name))
        done.append(name)
    return done

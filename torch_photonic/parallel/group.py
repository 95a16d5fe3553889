"""The process group of a distributed run, with a timeout on every collective.

``init()`` reads ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``) and starts gloo on CPU (NCCL when ``backend="nccl"``). Every collective of the
package goes through :func:`call`, which turns a failure (a peer that died, or no answer within
``timeout_s``) into :class:`PeerLostError` naming this rank and the collective.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch.distributed as dist

__all__ = ["World", "PeerLostError", "init", "shutdown", "world", "call", "DEFAULT_TIMEOUT_S"]

#: seconds a collective may wait for its peers
DEFAULT_TIMEOUT_S = 120.0


class PeerLostError(RuntimeError):
    """A collective failed: a peer process died or did not answer in time."""


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    backend: str
    timeout_s: float

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_world: Optional[World] = None


def init(timeout_s: float = DEFAULT_TIMEOUT_S, backend: Optional[str] = None) -> World:
    """Joins the process group ``torchrun`` set up (idempotent)."""
    global _world
    if _world is not None:
        return _world
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
               if k not in os.environ]
    if missing:
        raise RuntimeError(f"distributed: {', '.join(missing)} not set; start the processes with "
                           f"torchrun (torchrun --nproc-per-node N -m torch_photonic.cli run "
                           f"--distributed ...)")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    backend = backend or "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' (CPU) or 'nccl' (GPUs), got {backend!r}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend,
                                timeout=datetime.timedelta(seconds=float(timeout_s)))
    _world = World(rank=dist.get_rank(), size=dist.get_world_size(), backend=backend,
                   timeout_s=float(timeout_s))
    return _world


def world() -> Optional[World]:
    """The joined world, or None outside a distributed run."""
    return _world


def shutdown() -> None:
    global _world
    if dist.is_initialized():
        dist.destroy_process_group()
    _world = None


def call(what: str, fn: Callable[[], Any]) -> Any:
    """Runs collective ``fn``; a failure becomes :class:`PeerLostError`."""
    try:
        return fn()
    except RuntimeError as e:  # gloo raises RuntimeError on a closed peer or a timeout
        w = _world
        who = f"rank {w.rank} of {w.size}" if w else "this rank"
        limit = f"{w.timeout_s:g} s" if w else "the timeout"
        raise PeerLostError(f"distributed: {who}: {what} failed: a peer process died or did "
                            f"not answer within {limit} ({str(e).splitlines()[0]})") from None

"""``TrainConfig``: the hyperparameters of one training run, checked when the config is made.

A config that builds is a config the trainer can run: every field is validated in
``__post_init__`` and a bad value raises ``ValueError``/``TypeError`` naming the field and what
was expected. :meth:`TrainConfig.resume_fields` lists the values a resumed run must share with
the run that wrote its checkpoint (they decide the trajectory); the others (how often to log or
checkpoint, where to run) may change between the two.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

import torch

__all__ = ["TrainConfig", "SCHEDULES", "DEVICES"]

SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")


def _int(name: str, v: Any, lo: int, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"TrainConfig.{name}: expected {what}, got {type(v).__name__} {v!r}")
    if v < lo:
        raise ValueError(f"TrainConfig.{name}: expected {what}, got {v}")


def _float(name: str, v: Any, positive: bool, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"TrainConfig.{name}: expected {what}, got {type(v).__name__} {v!r}")
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"TrainConfig.{name}: expected {what}, got {v!r}")


@dataclass(frozen=True)
class TrainConfig:
    """What the trainer needs to run ``steps`` optimiser steps.

    ``steps``: optimiser steps (> 0). ``lr``: the AdamW learning rate of parameter groups that
    set none (> 0). ``weight_decay``: AdamW's decoupled decay (>= 0). ``warmup_steps``: linear
    warmup from ``lr / warmup_steps`` to ``lr`` (0: none). ``schedule``: after warmup,
    ``"constant"`` or ``"cosine"`` (to 0 at the last step). ``batch_size``: rows per batch when
    the training data is one tensor of token ids. ``grad_clip``: the largest global gradient
    norm (``None``: no clipping). ``checkpoint_every``: steps between checkpoints (``None``:
    only at the end). ``log_every``: steps between updates of the progress bar's loss.
    ``seed``: decides the batch order and every step's random numbers. ``device``: ``"auto"``
    (cuda when available, else cpu), ``"cpu"`` or ``"cuda"``.
    """

    steps: int
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"
    batch_size: int = 8
    grad_clip: Optional[float] = 1.0
    checkpoint_every: Optional[int] = None
    log_every: int = 10
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        _int("steps", self.steps, 1, "an integer > 0")
        _float("lr", self.lr, True, "a finite number > 0")
        _float("weight_decay", self.weight_decay, False, "a finite number >= 0")
        _int("warmup_steps", self.warmup_steps, 0, "an integer >= 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule: expected one of {', '.join(SCHEDULES)}, "
                             f"got {self.schedule!r}")
        _int("batch_size", self.batch_size, 1, "an integer > 0")
        if self.grad_clip is not None:
            _float("grad_clip", self.grad_clip, True, "a finite number > 0 or None")
        if self.checkpoint_every is not None:
            _int("checkpoint_every", self.checkpoint_every, 1, "an integer > 0 or None")
        _int("log_every", self.log_every, 1, "an integer > 0")
        _int("seed", self.seed, -(2 ** 63), "an integer")
        if self.device not in DEVICES:
            raise ValueError(f"TrainConfig.device: expected one of {', '.join(DEVICES)}, got "
                             f"{self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("TrainConfig.device: 'cuda' was asked for but torch sees no CUDA "
                             "device; use 'auto' or 'cpu'")

    def torch_device(self) -> torch.device:
        """The device the run uses (``"auto"``: cuda when available, else cpu)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def lr_factor(self, step: int) -> float:
        """The multiplier of every group's learning rate at ``step`` (0-based): linear warmup
        over ``warmup_steps``, then 1 (``constant``) or a half cosine from 1 to 0 reached after
        the last step (``cosine``)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        span = max(1, self.steps - self.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - self.warmup_steps) / span)))

    def resume_fields(self) -> Dict[str, Any]:
        """The hyperparameters a resumed run must share with its checkpoint. ``steps`` is one of
        them only under the cosine schedule (the constant schedule does not depend on it, so a
        finished run may be continued for more steps)."""
        d = asdict(self)
        for k in ("checkpoint_every", "log_every", "device"):
            d.pop(k)
        if self.schedule != "cosine":
            d.pop("steps")
        return d

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

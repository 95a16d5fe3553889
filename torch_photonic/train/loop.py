"""The trainer: AdamW steps over a model with warmup, a schedule, clipping and checkpoints, in
which every step is a function of its step number.

At the start of step ``s`` the global torch RNG is seeded from ``(seed, s)`` and ``before_step(s)``
is called (fine-tuning seeds the chip's noise there), and the batch is :func:`.data.batch_at`
of ``s``. Dropout, noise and the batch order therefore depend on the step, not on what ran
before, so a run resumed from a checkpoint (weights, optimiser and scheduler state) reproduces
the uninterrupted run bit for bit.

Checkpointing rules, so that a run never silently starts over or overwrites another:
``resume=True`` needs a checkpoint in ``checkpoint_dir`` (``FileNotFoundError`` otherwise), and
``resume=False`` refuses a folder that already holds one (``FileExistsError``). A checkpoint
written by another run (model, preset or hyperparameters) raises
:class:`.checkpoint.CheckpointMismatchError`.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import nn

from ..optics.store import mix_seed
from . import checkpoint as ckpt
from .config import TrainConfig
from .data import batch_at, check_data, to_device

__all__ = ["train", "TrainResult", "step_seed"]

_STEP_STREAM = 0x5354455053  # the per-step seeds' own stream


@dataclass
class TrainResult:
    """``curve``: one ``{"step", "loss", "lr", "seconds"}`` per step (``step`` 0-based; ``lr`` of
    the first parameter group; ``seconds`` since the run began, summed over resumed segments).
    ``resumed_from``: the steps done by the checkpoint the run resumed from (None: a fresh run).
    ``steps``: steps done in all."""
    curve: List[Dict[str, float]] = field(default_factory=list)
    resumed_from: Optional[int] = None
    steps: int = 0

    def as_dict(self) -> Dict[str, Any]:
        return dict(curve=list(self.curve), resumed_from=self.resumed_from, steps=self.steps)


def step_seed(seed: int, step: int) -> int:
    """The global torch seed of step ``step`` of a run with ``seed``."""
    return mix_seed(_STEP_STREAM, seed, step)


def _param_groups(model: nn.Module, params: Optional[Sequence[Any]]) -> List[Dict[str, Any]]:
    """AdamW groups: every parameter of ``model`` that requires grad, or ``params`` (Parameters,
    or dicts with ``"params"`` and their own options such as ``"lr"``)."""
    if params is None:
        groups = [dict(params=[p for p in model.parameters() if p.requires_grad])]
    else:
        params = list(params)
        if params and all(isinstance(g, dict) for g in params):
            groups = [dict(g, params=list(g["params"])) for g in params if list(g["params"])]
        elif all(isinstance(p, torch.Tensor) for p in params):
            groups = [dict(params=params)]
        else:
            raise TypeError("params: expected a list of Parameters or a list of dicts with a "
                            "'params' key (AdamW parameter groups)")
    if not groups or not any(g["params"] for g in groups):
        raise ValueError("params: no parameter to train (none requires grad)")
    return groups


def _check_dir(checkpoint_dir: Optional[str], resume: bool) -> Optional[str]:
    if checkpoint_dir is None:
        if resume:
            raise ValueError("resume=True needs checkpoint_dir, the folder of the checkpoint to "
                             "resume from")
        return None
    folder = os.fspath(checkpoint_dir)
    exists = os.path.exists(ckpt.checkpoint_path(folder))
    if resume and not exists:
        raise FileNotFoundError(f"checkpoint_dir: resume=True but {folder!r} holds no checkpoint "
                                f"({ckpt.CHECKPOINT_NAME}); a resumed run never starts over "
                                f"(pass resume=False to start a run)")
    if not resume and exists:
        raise FileExistsError(f"checkpoint_dir: {folder!r} already holds a checkpoint; pass "
                              f"resume=True to continue that run, or choose another folder")
    return folder


def _scalar_loss(loss: Any, step: int) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        what = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(f"loss_fn: expected a scalar tensor at step {step}, got {what}")
    value = loss.detach().float().item()
    if not math.isfinite(value):
        raise FloatingPointError(f"loss is {value} at step {step} (0-based); lower the learning "
                                 f"rate, enable grad_clip, or check the data of that step")
    return loss.reshape(())


def train(model: nn.Module, train_data: Any,
          loss_fn: Callable[[nn.Module, Any, int], torch.Tensor], config: TrainConfig, *,
          params: Optional[Sequence[Any]] = None, checkpoint_dir: Optional[str] = None,
          resume: bool = False, fingerprint_extra: Optional[Dict[str, Any]] = None,
          on_step: Optional[Callable[[Dict[str, float]], None]] = None, progress: bool = True,
          before_step: Optional[Callable[[int], None]] = None) -> TrainResult:
    """Trains ``model`` in place for ``config.steps`` AdamW steps; returns a :class:`TrainResult`.

    ``loss_fn(model, batch, step)`` returns the scalar loss of a batch (the batch already on the
    run's device). ``params``: what to train (default every parameter that requires grad).
    ``checkpoint_dir``: where checkpoints go (every ``config.checkpoint_every`` steps and at the
    end); ``resume``: continue the run whose checkpoint is there. ``fingerprint_extra``: options
    of the caller a resumed run must share. ``on_step(record)``: called after each step with its
    curve record. ``before_step(step)``: called at the start of each step, after the seeding.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable (model, batch, step) -> loss, got "
                        f"{type(loss_fn).__name__}")
    check_data(train_data, config.batch_size)
    folder = _check_dir(checkpoint_dir, resume)
    device = config.torch_device()
    model.to(device)
    groups = _param_groups(model, params)
    trained = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, config.lr_factor)
    fp = ckpt.fingerprint(model, config, fingerprint_extra)

    result = TrainResult()
    start, offset = 0, 0.0
    if resume:
        state = ckpt.load_checkpoint(folder)
        ckpt.check_fingerprint(state["fingerprint"], fp, ckpt.checkpoint_path(folder))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch_cpu"])
        start = result.resumed_from = int(state["step"])
        if start > config.steps:
            raise ValueError(f"steps: the checkpoint in {folder!r} has {start} steps done, more "
                             f"than the {config.steps} steps asked for")
        result.curve = list(state["curve"])
        offset = result.curve[-1]["seconds"] if result.curve else 0.0

    def save(done: int) -> None:
        ckpt.save_checkpoint(folder, dict(
            model=model.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
            step=done, curve=result.curve, rng=dict(torch_cpu=torch.get_rng_state()),
            fingerprint=fp))

    bar = None
    if progress and start < config.steps:
        from tqdm.auto import tqdm
        bar = tqdm(total=config.steps, initial=start, desc="train", unit="step", leave=False)
    t0 = time.perf_counter()
    was_training = model.training
    model.train()
    try:
        for step in range(start, config.steps):
            torch.manual_seed(step_seed(config.seed, step))
            if before_step is not None:
                before_step(step)
            batch = to_device(batch_at(train_data, step, config.batch_size, config.seed), device)
            opt.zero_grad(set_to_none=True)
            loss = _scalar_loss(loss_fn(model, batch, step), step)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(trained, config.grad_clip)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            record = dict(step=step, loss=float(loss.detach().float().item()), lr=float(lr),
                          seconds=offset + time.perf_counter() - t0)
            result.curve.append(record)
            if on_step is not None:
                on_step(record)
            if bar is not None:
                bar.update(1)
                if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                    bar.set_postfix(loss=f"{record['loss']:.4g}", lr=f"{lr:.3g}")
            done = step + 1
            if folder is not None and config.checkpoint_every is not None \
                    and done % config.checkpoint_every == 0 and done < config.steps:
                save(done)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    if folder is not None and start < config.steps:
        save(config.steps)
    result.steps = config.steps
    return result

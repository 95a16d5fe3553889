"""Hardware-aware fine-tuning: a model learns to run well on a photonic preset, distilled from
its own full-precision copy.

The recipe (:func:`finetune`), the analog-foundation-model way of adapting a model to noisy
analog layers:

1. the full-precision model becomes the teacher (a frozen copy) and the model itself is
   converted to the preset (``convert``, in place);
2. converter ranges are calibrated on a few training batches where the preset calibrates them;
   with learned ranges (``learn_ranges``; by default when the preset's ``mapping.input_range``
   is ``"static"``) they become Parameters initialised from that calibration;
3. every training step runs the hardware-aware forward (fresh cell noise drawn at the
   deployment age ``seconds``, the converters as deployed, straight-through gradients) and
   minimises the distillation loss: the KL of the teacher's and the student's softened
   next-token distributions (plus ``lm_weight`` times the language-model loss) for a model
   with ``.logits``, or :func:`.losses.hidden_distill` for an embedding model; ``distill=False``
   trains on the language-model loss alone;
4. by default only the photonic layers' weights (and learned ranges) train;
5. the model is deployed (cells programmed, ranges handed to the converters) and the held-out
   metrics are measured before and after training, and once on the teacher.
"""
from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import nn

from ..hardware.resolve import resolve
from ..nn.convert import convert
from ..nn.hwa import begin_step, deploy, learnable_ranges, prepare_training
from ..nn.lifecycle import calibrate, photonic_modules
from .checkpoint import config_hash
from .config import TrainConfig
from .data import batch_at, check_data, to_device
from .losses import distill_kl, hidden_distill, lm_loss
from .loop import train
from .report import write_outputs

__all__ = ["finetune", "FinetuneResult", "forward"]


@dataclass
class FinetuneResult:
    """``curve``: the training curve (see :class:`.loop.TrainResult`). ``before`` / ``after``:
    the held-out metrics of the deployed model before and after training; ``teacher``: those of
    the full-precision teacher (all None without ``heldout``). ``seconds``: wall-clock seconds of
    training, summed over resumed segments. ``options``: the options of the run."""
    curve: List[Dict[str, float]] = field(default_factory=list)
    before: Optional[Dict[str, Any]] = None
    after: Optional[Dict[str, Any]] = None
    teacher: Optional[Dict[str, Any]] = None
    steps: int = 0
    seconds: float = 0.0
    resumed_from: Optional[int] = None
    preset: str = ""
    options: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def forward(model: nn.Module, batch: Any) -> Any:
    """``model`` on a batch: a mapping as keyword arguments, a tensor of ids as ``input_ids`` when
    the model's forward takes that name (else positionally); no KV cache."""
    sig = inspect.signature(model.forward).parameters
    extra = dict(use_cache=False) if "use_cache" in sig else {}
    if isinstance(batch, Mapping):
        return model(**batch, **extra)
    if "input_ids" in sig:
        return model(input_ids=batch, **extra)
    return model(batch)


def _output(out: Any) -> tuple:
    """("logits" | "hidden", tensor) of a model's output."""
    if isinstance(out, torch.Tensor):
        return "logits", out
    if getattr(out, "logits", None) is not None:
        return "logits", out.logits
    if getattr(out, "last_hidden_state", None) is not None:
        return "hidden", out.last_hidden_state
    raise TypeError(f"model: its output ({type(out).__name__}) has neither .logits nor "
                    f".last_hidden_state; fine-tuning needs one of them")


def _preset(preset: Any):
    try:
        return resolve(preset)
    except (ValueError, TypeError) as e:
        msg = str(e)
        raise type(e)("preset: " + (msg[len("spec: "):] if msg.startswith("spec: ") else msg)) \
            from None


def _learn_ranges(learn_ranges: Any, cfg) -> bool:
    if not (learn_ranges == "auto" if isinstance(learn_ranges, str)
            else isinstance(learn_ranges, bool)):
        raise ValueError(f"learn_ranges: expected 'auto', True or False, got {learn_ranges!r}")
    static = any(learnable_ranges(cfg))
    if learn_ranges is True and not static:
        raise ValueError(f"learn_ranges: preset '{cfg.name}' has mapping.input_range = "
                         f"'{cfg.mapping.input_range}' and mapping.adc_range = "
                         f"'{cfg.mapping.adc_range}': no range to learn; use a preset with "
                         f"mapping.input_range = 'static' (or calibrated ADC ranges without bound "
                         f"management) or learn_ranges=False")
    return static if learn_ranges == "auto" else bool(learn_ranges)


def _student(model: nn.Module, cfg, teacher: Any, exclude: Sequence[str],
             want_teacher: bool) -> Optional[nn.Module]:
    """Converts ``model`` in place when it has no photonic layer yet; returns the teacher (a
    copy of the model before conversion unless given, when ``want_teacher``)."""
    layers = list(photonic_modules(model))
    if not layers:
        if teacher is None and want_teacher:
            teacher = copy.deepcopy(model)
        convert(model, cfg, exclude=exclude)
        if not any(True for _ in photonic_modules(model)):
            raise ValueError("model: no layer was converted (it has no nn.Linear outside "
                             f"exclude={list(exclude)}); nothing runs on the chip to fine-tune")
    else:
        other = sorted({m.config.name if m.config.name != cfg.name
                        else f"{m.config.name} with other values"
                        for _, m in layers if config_hash(m.config) != config_hash(cfg)})
        if other:
            raise ValueError(f"preset: the model is already converted to {', '.join(other)}, "
                             f"not to '{cfg.name}' as asked; pass the full-precision model "
                             f"instead")
    if teacher is not None:
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher: expected an nn.Module, got {type(teacher).__name__}")
        teacher.eval().requires_grad_(False)
    return teacher


def _groups(model: nn.Module, ranges: List[nn.Parameter], lr: float, range_lr: float,
            weight_decay: float, only_photonic: bool) -> List[Dict[str, Any]]:
    """AdamW groups: the weights at ``lr``, the learned ranges at ``range_lr`` (no decay).
    With ``only_photonic`` every other parameter is frozen (``requires_grad=False``)."""
    range_ids = {id(p) for p in ranges}
    weights: Dict[int, nn.Parameter] = {}
    if only_photonic:
        for _, m in photonic_modules(model):
            for p in m.parameters():
                if id(p) not in range_ids and p.is_floating_point():
                    weights.setdefault(id(p), p)
        for p in model.parameters():
            if id(p) not in weights and id(p) not in range_ids:
                p.requires_grad_(False)
    else:
        for p in model.parameters():
            if p.requires_grad and p.is_floating_point() and id(p) not in range_ids:
                weights.setdefault(id(p), p)
    for p in weights.values():
        p.requires_grad_(True)
    groups = [dict(params=list(weights.values()), lr=lr, weight_decay=weight_decay)]
    if ranges:
        groups.append(dict(params=list(ranges), lr=range_lr, weight_decay=0.0))
    return groups


def _evaluate(heldout: Optional[Callable], model: Optional[nn.Module],
              deployed: bool) -> Optional[Dict[str, Any]]:
    if heldout is None or model is None:
        return None
    if deployed:
        deploy(model)
    model.eval()
    with torch.no_grad():
        out = heldout(model)
    if not isinstance(out, Mapping):
        raise TypeError(f"heldout: expected a callable returning a dict of metrics, got "
                        f"{type(out).__name__}")
    return dict(out)


def finetune(model: nn.Module, preset: Any, train_data: Any, steps: int = 100,
             teacher: Optional[nn.Module] = None, *, distill: bool = True,
             temperature: float = 2.0, lm_weight: float = 0.0, noise: bool = True,
             learn_ranges: Any = "auto", seconds: float = 86400.0, calibration_batches: int = 4,
             lr: float = 2e-5, range_lr: float = 1e-2, weight_decay: float = 0.0,
             warmup_steps: int = 0, schedule: str = "constant", grad_clip: Optional[float] = 1.0,
             batch_size: int = 8, checkpoint_dir: Optional[str] = None,
             checkpoint_every: Optional[int] = None, resume: bool = False,
             heldout: Optional[Callable[[nn.Module], Dict[str, Any]]] = None,
             output_dir: Optional[str] = None, exclude: Sequence[str] = ("lm_head",),
             train_only_photonic: bool = True, device: str = "auto", progress: bool = True,
             seed: int = 0, on_step: Optional[Callable[[Dict[str, float]], None]] = None
             ) -> FinetuneResult:
    """Fine-tunes ``model`` for ``preset`` (see the module docstring); ``model`` is converted
    and trained in place and left deployed in eval mode.

    ``train_data``: token ids ``[N, L]`` or a list of batches (:mod:`.data`); ``batch_size``
    rows per step for ids. ``teacher``: the full-precision model to distill from (default: a
    copy of ``model`` before conversion; required when ``model`` is already converted).
    ``temperature``, ``lm_weight``, ``distill``: the loss. ``noise``: fresh cell and detector
    noise in training forwards; ``seconds``: the age the cells are drawn at. ``learn_ranges``:
    ``"auto"``, True or False; ``calibration_batches``: training batches the converter ranges
    are calibrated on. ``lr`` / ``range_lr``: learning rates of the weights and of the ranges;
    ``weight_decay``, ``warmup_steps``, ``schedule``, ``grad_clip``, ``seed``, ``device``: as
    in :class:`.config.TrainConfig` (``device``: ``"auto"`` runs the model's digital parts on the
    GPU when there is one and on the CPU otherwise; the photonic products run on the host
    kernels either way). ``checkpoint_dir`` / ``checkpoint_every`` / ``resume``: as
    in :func:`.loop.train`. ``heldout(model) -> dict``: held-out metrics. ``output_dir``: where
    ``finetune.json`` and ``finetune.png`` go. ``exclude``: modules ``convert`` leaves digital.
    ``train_only_photonic``: train only the photonic layers (the rest is frozen). ``on_step``:
    called with each step's curve record.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    cfg = _preset(preset)
    config = TrainConfig(steps=steps, lr=lr, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, schedule=schedule, batch_size=batch_size,
                         grad_clip=grad_clip, checkpoint_every=checkpoint_every, seed=seed,
                         device=device)
    check_data(train_data, batch_size)
    learn = _learn_ranges(learn_ranges, cfg)
    if isinstance(calibration_batches, bool) or not isinstance(calibration_batches, int) \
            or calibration_batches < (1 if learn else 0):
        raise ValueError(f"calibration_batches: expected an integer >= {1 if learn else 0}"
                         f"{' (learned ranges start from calibrated ones)' if learn else ''}, "
                         f"got {calibration_batches!r}")
    if isinstance(range_lr, bool) or not isinstance(range_lr, (int, float)) or not range_lr > 0:
        raise ValueError(f"range_lr: expected a number > 0, got {range_lr!r}")
    if isinstance(lm_weight, bool) or not isinstance(lm_weight, (int, float)) or not lm_weight >= 0:
        raise ValueError(f"lm_weight: expected a number >= 0, got {lm_weight!r}")
    if heldout is not None and not callable(heldout):
        raise TypeError(f"heldout: expected a callable (model) -> dict of metrics, got "
                        f"{type(heldout).__name__}")
    if distill and teacher is None and any(True for _ in photonic_modules(model)):
        raise ValueError("teacher: the model is already converted, so its full-precision copy "
                         "is gone; pass teacher= (the full-precision model) or the unconverted "
                         "model")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not 0 < temperature < float("inf"):
        raise ValueError(f"temperature: expected a finite number > 0, got {temperature!r}")

    dev = config.torch_device()
    teacher = _student(model, cfg, teacher, tuple(exclude), distill or heldout is not None)
    model.to(dev)
    if teacher is not None:
        teacher.to(dev)
    if cfg.mapping.needs_calibration and calibration_batches:
        calib = [to_device(batch_at(train_data, i, batch_size, seed), dev)
                 for i in range(calibration_batches)]
        calibrate(model, calib, run=forward)
    ranges = prepare_training(model, noise=noise, learn_ranges=learn, seconds=seconds)
    groups = _groups(model, ranges, lr, range_lr, weight_decay, train_only_photonic)
    options = dict(distill=bool(distill), temperature=float(temperature),
                   lm_weight=float(lm_weight), noise=bool(noise), learn_ranges=learn,
                   seconds=float(seconds), calibration_batches=calibration_batches,
                   range_lr=float(range_lr), train_only_photonic=bool(train_only_photonic),
                   exclude=list(exclude), **config.to_dict())

    teacher_metrics = _evaluate(heldout, teacher, deployed=False)
    before = _evaluate(heldout, model, deployed=True)

    def loss_fn(student: nn.Module, batch: Any, step: int) -> torch.Tensor:
        kind, s = _output(forward(student, batch))
        mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
        ids = batch["input_ids"] if isinstance(batch, Mapping) else batch
        if kind == "hidden" and not distill:
            raise ValueError("distill: the model outputs hidden states only (an embedding "
                             "model), which have no language-model loss; use distill=True")
        if not distill:
            return lm_loss(s, ids, mask)
        with torch.no_grad():
            _, t = _output(forward(teacher, batch))
        if kind == "hidden":
            return hidden_distill(s, t, mask)
        loss = distill_kl(s, t, temperature, mask)
        return loss + lm_weight * lm_loss(s, ids, mask) if lm_weight else loss

    t0 = time.perf_counter()
    res = train(model, train_data, loss_fn, config, params=groups,
                checkpoint_dir=checkpoint_dir, resume=resume,
                fingerprint_extra={k: options[k] for k in ("distill", "temperature", "lm_weight",
                                                           "noise", "learn_ranges", "seconds",
                                                           "calibration_batches", "range_lr",
                                                           "train_only_photonic", "exclude")},
                on_step=on_step, progress=progress,
                before_step=lambda step: begin_step(model, step))
    elapsed = res.curve[-1]["seconds"] if res.curve else time.perf_counter() - t0
    deploy(model)
    after = _evaluate(heldout, model, deployed=False)
    model.eval()
    result = FinetuneResult(curve=res.curve, before=before, after=after, teacher=teacher_metrics,
                            steps=res.steps, seconds=float(elapsed),
                            resumed_from=res.resumed_from, preset=cfg.name, options=options)
    if output_dir is not None:
        write_outputs(result.as_dict(), output_dir)
    return result

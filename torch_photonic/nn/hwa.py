"""Hardware-aware training of photonic layers: the training forward, learned input ranges, and
deployment.

In ``model.train()`` with gradients enabled, :class:`~torch_photonic.PhotonicLinear` and
:class:`~torch_photonic.PhotonicExperts` run the training product
(:mod:`torch_photonic.optics.training`): cells drawn afresh in every forward at the training age,
the optical kernel on them, straight-through gradients that stop where a converter clips. Nothing
is programmed and nothing is charged to the meter: the weights stay full-precision Parameters for
the optimiser. The chip is written (and charged) when the model is deployed: ``model.eval()``
(the next forward programs the changed weights) or :func:`deploy` / ``tp.program(model)``.

* :func:`prepare_training` chooses the recipe per layer: ``noise`` (fresh cells, detector noise)
  on or off (the cells' noise at the training age is measured here, for every matrix, from the
  weights training starts from; call it before loading a checkpoint's weights), the ``seconds`` the cells are drawn at (default: the weight's age, ``tp.set_time``),
  and ``learn_ranges``: static input ranges become Parameters (``input_range`` [tiles] on a
  linear layer, ``gate_up_input_range`` / ``down_input_range`` [experts, tiles] on fused
  experts), and so do ADC full scales calibrated per column where the ADC can clip
  (``adc_full_scale`` [out, tiles], ``gate_up_adc_full_scale`` / ``down_adc_full_scale``),
  initialised from the calibrated ranges (``tp.calibrate`` first). A mapping with neither has no
  ranges to learn.
* :func:`begin_step` makes the noise of a step a function of the step number (a resumed run
  draws what an uninterrupted one drew).
* :func:`deploy` programs the cells and hands the learned ranges to their converters.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from ..energy import events
from ..optics import training
from ..optics.store import mix_seed, name_seed, store
from .base import RANGE_ATTRS, PhotonicModule

__all__ = ["TrainingOptions", "prepare_training", "begin_step", "deploy", "range_parameters",
           "options_of", "training_forward"]

_STREAM = 0x48574154  # the training draws' own seed stream


@dataclass
class TrainingOptions:
    """How one photonic layer trains (see the module docstring)."""
    noise: bool = True
    seconds: Optional[float] = None   # None: the weight's age in the store
    step: int = 0
    calls: int = 0
    tables: Dict[Tuple[str, int], training.CellNoiseTable] = field(default_factory=dict)


def options_of(layer: PhotonicModule) -> TrainingOptions:
    opts = layer.__dict__.get("_training_options")
    if opts is None:
        opts = layer.__dict__["_training_options"] = TrainingOptions()
    return opts


def training_forward(layer: PhotonicModule) -> bool:
    """True when ``layer`` runs the training product now (training mode, gradients on). With a
    meter open it warns once per layer: such a forward is not charged (inference belongs in
    ``model.eval()`` or ``torch.no_grad()``)."""
    if not (layer.training and torch.is_grad_enabled()):
        return False
    if events.active() and not layer.__dict__.get("_warned_training"):
        layer.__dict__["_warned_training"] = True
        warnings.warn(f"photonic layer '{layer.photonic_name or type(layer).__name__}' ran a "
                      f"training forward (model.train() with gradients enabled): fresh cells, "
                      f"nothing programmed and nothing charged to the open meter; use "
                      f"model.eval() or torch.no_grad() for inference", RuntimeWarning,
                      stacklevel=4)
    return True


def _photonic_layers(model: nn.Module) -> List[Tuple[str, PhotonicModule]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, PhotonicModule)]


def prepare_training(model: nn.Module, *, noise: bool = True, learn_ranges: bool = False,
                     seconds: Optional[float] = None) -> List[nn.Parameter]:
    """Sets the training recipe of every photonic layer of ``model``; returns the learnable range
    Parameters (empty unless ``learn_ranges``)."""
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"seconds must be >= 0 (the age the cells are drawn at), got {seconds}")
    layers = _photonic_layers(model)
    if not layers:
        raise ValueError("prepare_training: the model has no photonic layers (tp.convert it, or "
                         "pass a model with PhotonicLinear / PhotonicExperts)")
    params: List[nn.Parameter] = []
    for name, layer in layers:
        opts = options_of(layer)
        opts.noise, opts.seconds = bool(noise), seconds
        opts.tables.clear()
        if noise:  # measured now, from the weights training starts from (a resumed run too)
            for what, expert, param, matrix in layer.training_matrices():
                noise_table(layer, what, expert, matrix, training_seconds(layer, param))
        if learn_ranges:
            inputs, outputs = learnable_ranges(layer.config)
            if not (inputs or outputs):
                m = layer.config.mapping
                raise ValueError(
                    f"learn_ranges: preset '{layer.config.name}' has mapping.input_range = "
                    f"'{m.input_range}' and mapping.adc_range = '{m.adc_range}' (layer "
                    f"'{name}'): no range to learn; static input ranges "
                    f"(mapping.input_range = 'static', e.g. --set mapping__input_range=static) "
                    f"or calibrated ADC ranges without bound management can be learned")
            params.extend(layer.make_range_parameters(name, inputs, outputs))
    return params


def learnable_ranges(cfg) -> Tuple[bool, bool]:
    """(static input ranges, ADC full scales): which ranges of ``cfg``'s mapping can be learned.
    ADC full scales can when they are calibrated per column and the ADC can clip (no bound
    management)."""
    m = cfg.mapping
    return (m.input_range == "static",
            m.adc_range == "calibrated" and training.adc_can_clip(cfg))


def calibrated_ranges(layer: PhotonicModule, param: torch.Tensor, matrix: torch.Tensor,
                      expert: Optional[int], name: str, what: str = "input") -> torch.Tensor:
    """The calibrated ranges of one programmed matrix (``what``: ``"input"`` [T] or ``"adc"``
    [N, T]), the start of learned ranges."""
    state = store.entry(param, matrix, layer.config, expert).state
    value = state.input_range if what == "input" else state.full_scale
    if value is None:
        raise ValueError(f"learn_ranges: layer '{name}' has no calibrated {what} ranges to start "
                         f"from; run tp.calibrate(model, batches) before prepare_training")
    return value.detach().clone().float()


def range_parameters(model: nn.Module) -> List[nn.Parameter]:
    """The learned input ranges of ``model``'s photonic layers."""
    out = []
    for _, layer in _photonic_layers(model):
        for attr in RANGE_ATTRS:
            p = getattr(layer, attr, None)
            if isinstance(p, nn.Parameter):
                out.append(p)
    return out


def begin_step(model: nn.Module, step: int) -> None:
    """The draws of the coming forward(s) are those of training step ``step``."""
    for _, layer in _photonic_layers(model):
        opts = options_of(layer)
        opts.step, opts.calls = int(step), 0


def deploy(model: nn.Module) -> nn.Module:
    """Programs every photonic weight (charged) and hands the learned input ranges to their
    converters; returns ``model`` in eval mode."""
    model.eval()
    for _, layer in _photonic_layers(model):
        layer.program_cells()
        layer.push_ranges()
    return model


# ---------------------------------------------------------------------- the training draw
def draw_seed(layer: PhotonicModule, what: str, expert: int) -> int:
    """The seed of the next training draw of ``layer`` (a function of step and call order)."""
    opts = options_of(layer)
    opts.calls += 1
    return mix_seed(layer.config.seed, _STREAM, name_seed(layer.photonic_name + what),
                    expert + 1, opts.step, opts.calls)


def noise_table(layer: PhotonicModule, what: str, expert: int, matrix: torch.Tensor,
                seconds: float) -> Optional[training.CellNoiseTable]:
    """The cells' noise at ``seconds`` for one matrix, measured once (None when noise is off)."""
    opts = options_of(layer)
    if not opts.noise:
        return None
    key = (what, expert)
    table = opts.tables.get(key)
    if table is None or table.seconds != seconds:
        seed = mix_seed(layer.config.seed, _STREAM, name_seed(layer.photonic_name + what),
                        expert + 1)
        table = opts.tables[key] = training.cell_noise_table(matrix, layer.config, seconds, seed)
    return table


def training_seconds(layer: PhotonicModule, param: torch.Tensor) -> float:
    opts = options_of(layer)
    return store.age_of(param) if opts.seconds is None else float(opts.seconds)


def converter_ranges(layer: PhotonicModule, param: torch.Tensor, matrix: torch.Tensor,
                     expert: Optional[int], learned: Optional[torch.Tensor],
                     learned_fs: Optional[torch.Tensor] = None
                     ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """(static input ranges, ADC full scales) a training product uses: the learned ranges, else
    those calibrated for the programmed matrix (nothing is programmed to find them)."""
    cfg = layer.config
    rng, fs = None, None
    for (where, c), state in store.states(param).items():
        if c == cfg and where == (int(matrix.storage_offset()), tuple(matrix.shape),
                                  tuple(matrix.stride())):
            rng, fs = state.input_range, state.full_scale
            break
    if cfg.mapping.input_range != "static":
        rng = None
    elif learned is not None:
        rng = learned
    if learned_fs is not None:
        fs = learned_fs.detach().float().clamp(min=1e-6).contiguous()
    return rng, fs

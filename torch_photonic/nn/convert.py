"""One-line model conversion: swap every ``nn.Linear`` and known fused-experts module for its
photonic counterpart, in place.

    model = tp.convert(model)                          # glass-pcm-200mm, lm_head left digital
    model = tp.convert(model, "silicon-photonic-128", exclude=("lm_head", "*.mlp.gate*"))
    print(model.photonic_report)

Name patterns (``include`` / ``exclude``) are shell-style globs matched against the module's
qualified name; a pattern with no wildcard matches any name that contains it. Parameters are
shared, not copied (tied weights stay tied, and a weight used by two layers is programmed once).

Converting a model again moves its photonic layers that the patterns select onto the new config
(``report.reconfigured``); the next forward programs them there. Photonic layers the patterns
leave out keep their config and are listed in ``report.other_configs``. A bare ``nn.Linear`` (or
fused-experts module) is returned as its photonic layer.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Union

import torch
from torch import nn

from ..hardware.config import HardwareConfig
from ..hardware.resolve import resolve
from .base import PhotonicModule
from .experts import PhotonicExperts
from .linear import PhotonicLinear
from ..optics.store import store

__all__ = ["convert", "ConversionReport"]


@dataclass
class ConversionReport:
    preset: str
    converted: List[str] = field(default_factory=list)        # module names now photonic
    excluded: List[str] = field(default_factory=list)         # convertible modules left digital
    params_optical: int = 0                                   # parameters programmed into PCM
    params_digital: int = 0                                   # everything else (bias, norms, ...)
    digital_params: List[str] = field(default_factory=list)   # names of the digital parameters
    reconfigured: List[str] = field(default_factory=list)     # photonic layers moved onto preset
    other_configs: Dict[str, str] = field(default_factory=dict)  # photonic layer -> its preset

    @property
    def params_total(self) -> int:
        return self.params_optical + self.params_digital

    @property
    def optical_fraction(self) -> float:
        return self.params_optical / self.params_total if self.params_total else 0.0

    def __str__(self) -> str:
        text = (f"photonic conversion ({self.preset}): {len(self.converted)} modules, "
                f"{self.params_optical:,} of {self.params_total:,} parameters on the optical "
                f"array ({100 * self.optical_fraction:.1f}%); left digital: "
                f"{', '.join(n or '(model)' for n in self.excluded) or 'no convertible module'}")
        if self.reconfigured:
            text += (f"; moved onto {self.preset} from another config: "
                     f"{', '.join(n or '(model)' for n in self.reconfigured)}")
        if self.other_configs:
            text += "; on other configs: " + ", ".join(
                f"{n or '(model)'} ({c})" for n, c in self.other_configs.items())
        return text


def matches(name: str, patterns: Optional[Iterable[str]]) -> bool:
    if not patterns:
        return False
    if isinstance(patterns, str):
        patterns = (patterns,)
    for p in patterns:
        if any(c in p for c in "*?[") and fnmatch.fnmatchcase(name, p):
            return True
        if not any(c in p for c in "*?[") and p in name:
            return True
    return False


def convert(model: nn.Module, preset: Union[str, HardwareConfig, None] = None,
            include: Optional[Sequence[str]] = None,
            exclude: Optional[Sequence[str]] = ("lm_head",), *, program: bool = False,
            **overrides) -> nn.Module:
    """Swap ``nn.Linear`` and fused-experts modules of ``model`` for photonic ones, in place.

    ``preset``: a preset name, a :class:`HardwareConfig` or a config file (default
    ``glass-pcm-200mm``); ``overrides`` (``group__field=...``)
    are applied on top. ``include``: if given, only modules matching one of these patterns are
    converted; ``exclude``: modules matching are left digital (default: ``lm_head``).
    ``program=True`` writes all weights into the cells now instead of at the first forward.
    Returns ``model``; the report is ``model.photonic_report`` (a :class:`ConversionReport`).

    Photonic layers already in ``model`` that the patterns select move onto the new config
    (``report.reconfigured``; a layer holding learned ranges refuses with ``ValueError`` and
    none moves); the others keep theirs (``report.other_configs``). A bare ``nn.Linear`` or
    fused-experts module is returned as its photonic layer (``model`` itself is not a container
    to swap it in).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert expects an nn.Module, got {type(model).__name__}")
    cfg = resolve(preset, **overrides)
    store.label_module(model)  # weights named by their path, as on the device
    report = ConversionReport(preset=cfg.name)
    optical_params = set()

    def selected(name: str) -> bool:
        return not ((include is not None and not matches(name, include))
                    or matches(name, exclude))

    # The model itself a layer: a bare nn.Linear or fused-experts module becomes its photonic
    # layer (returned in its place); an already photonic one is moved like any other.
    kind = _kind(model)
    if kind is not None and not isinstance(model, PhotonicModule):
        if not selected(""):
            report.excluded.append("")
            for p in model.parameters(recurse=False):
                store.keep_digital(p)
        else:
            model = _photonic(model, kind, cfg, "", program)
            report.converted.append("")

    # Photonic layers (already converted): the selected ones move onto ``cfg``, all or none.
    moves = []
    for name, mod in model.named_modules():
        if not isinstance(mod, PhotonicModule) or (name and _inside_photonic(model, name)):
            continue
        if mod.config == cfg:
            continue
        if selected(name):
            mod.check_reconfigure(cfg)
            moves.append((name, mod))
        else:
            report.other_configs[name] = mod.config.name
    for name, mod in moves:
        mod.reconfigure(cfg)
        report.reconfigured.append(name)
        if program:
            mod.program_cells()

    # Collect first, then swap (don't mutate while iterating named_modules). A module instance
    # registered under several names (shared layers) becomes one photonic module everywhere.
    swaps = []
    decided = {}  # id(module) -> converted? (the first name decides)
    for name, mod in model.named_modules(remove_duplicate=False):
        if isinstance(mod, PhotonicModule) or name == "":
            continue
        kind = _kind(mod)
        if kind is None or _inside_photonic(model, name):
            continue
        if id(mod) in decided:
            if decided[id(mod)]:
                swaps.append((name, mod, kind))
            continue
        ok = selected(name)
        decided[id(mod)] = ok
        if ok:
            swaps.append((name, mod, kind))
        else:
            report.excluded.append(name)
            for p in mod.parameters(recurse=False):  # digital on the device too
                store.keep_digital(p)

    made = {}
    for name, mod, kind in swaps:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        new = made.get(id(mod))
        if new is None:
            new = made[id(mod)] = _photonic(mod, kind, cfg, name, program)
            report.converted.append(name)
        setattr(parent, child, new)

    # Already-photonic modules count as optical too (idempotent conversion).
    for _, m in model.named_modules():
        if isinstance(m, PhotonicLinear):
            optical_params.add(id(m.weight))
        elif isinstance(m, PhotonicExperts):
            optical_params.update((id(m.gate_up_proj), id(m.down_proj)))

    seen = set()
    for pname, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue  # tied weights are counted once
        seen.add(id(p))
        if id(p) in optical_params:
            report.params_optical += p.numel()
        else:
            report.params_digital += p.numel()
            report.digital_params.append(pname)
    model.photonic_report = report  # type: ignore[attr-defined]
    return model


def _kind(mod: nn.Module) -> Optional[str]:
    """``"linear"``, ``"experts"`` or None: what photonic layer ``mod`` would become."""
    if isinstance(mod, nn.Linear):
        return "linear"
    if PhotonicExperts.is_fused_experts(mod):
        return "experts"
    return None


def _photonic(mod: nn.Module, kind: str, cfg: HardwareConfig, name: str,
              program: bool) -> PhotonicModule:
    """The photonic layer of ``mod`` on ``cfg`` (sharing its Parameters), programmed now if
    ``program``."""
    if kind == "linear":
        new: PhotonicModule = PhotonicLinear.from_linear(mod, cfg, name=name)
    else:
        new = PhotonicExperts.from_module(mod, cfg, name=name)
    new.train(mod.training)  # the layer keeps its module's mode
    if program:
        new.program_cells()
    return new


def _inside_photonic(model: nn.Module, name: str) -> bool:
    parts = name.split(".")
    for i in range(1, len(parts)):
        if isinstance(model.get_submodule(".".join(parts[:i])), PhotonicModule):
            return True
    return False

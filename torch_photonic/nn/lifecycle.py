"""Lifecycle verbs of programmed weights, for both execution paths (``convert()`` layers and
modules on the ``photonic`` device):

* :func:`program` writes a model's weights into the cells now (instead of at the first forward);
* :func:`set_time` ages programmed weights (drift): one clock, in the store, read by both paths;
* :func:`label_parameters` names a model's weights for meter rows and noise seeds (done
  automatically the first time a module with ``photonic`` parameters runs).
"""
from __future__ import annotations

import math
import warnings
import weakref
from typing import Any, Iterable, Optional, Sequence, Tuple

import torch
from torch import nn

from ..optics.store import store
from .base import PhotonicModule
from .convert import matches
from .experts import PhotonicExperts
from .linear import PhotonicLinear

__all__ = ["program", "set_time", "label_parameters", "photonic_modules", "clear_programmed",
           "keep_digital"]


def photonic_modules(model: nn.Module) -> Iterable[Tuple[str, PhotonicModule]]:
    for n, m in model.named_modules():
        if isinstance(m, PhotonicModule):
            yield n, m


def label_parameters(model: nn.Module, prefix: str = "") -> nn.Module:
    """Names every parameter of ``model`` by its path for meter rows and noise seeds."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    store.label_module(model, prefix)
    return model


def keep_digital(model: nn.Module, patterns: Sequence[str]) -> nn.Module:
    """Keeps the weights of ``model``'s modules matching ``patterns`` (globs on module names, as
    ``convert(exclude=...)``) digital on the ``photonic`` device: their products run on the host.
    Returns ``model``. Raises ``ValueError`` if no module matches."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(patterns, str):
        patterns = (patterns,)
    hit = False
    for name, mod in model.named_modules():
        if name and matches(name, patterns):
            for p in mod.parameters(recurse=False):
                store.keep_digital(p)
                hit = True
    if not hit:
        raise ValueError(f"patterns: no module of the model with parameters matches {list(patterns)}")
    return model


def program(model: nn.Module) -> nn.Module:
    """Writes every photonic layer's weights into the cells now (charged to an open meter)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    found = False
    for _, m in photonic_modules(model):
        found = True
        if isinstance(m, PhotonicLinear):
            _ = m.state
        elif isinstance(m, PhotonicExperts):
            m.program_all()
    if not found:
        warnings.warn("program: the model has no photonic layers (did you convert() it?)")
    return model


def set_time(model_or_seconds: Any, seconds: Optional[float] = None) -> Any:
    """Ages programmed weights: ``set_time(seconds)`` for every weight (both paths), or
    ``set_time(model, seconds)`` for the weights of ``model`` only. Returns the model (or None)."""
    if seconds is None:
        model, seconds = None, model_or_seconds
    else:
        model = model_or_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"set_time: seconds must be a finite number >= 0, got {seconds!r}")
    if model is None:
        store.set_age(float(seconds))
        return None
    if not isinstance(model, nn.Module):
        raise TypeError(f"set_time: model must be an nn.Module, got {type(model).__name__}")
    layers = [model] if isinstance(model, PhotonicModule) else [m for _, m in photonic_modules(model)]
    params = [p for m in layers for p in m.parameters()] if layers else []
    if not layers:
        on_device = [p for p in model.parameters() if p.device.type == "photonic"]
        if not on_device:
            warnings.warn("set_time: the model has no photonic layers and no parameters on the "
                          "photonic device (did you convert() it?)")
        params = on_device
    for p in params:
        store.set_age(float(seconds), p)
    return model


def clear_programmed() -> None:
    """Forgets every programmed weight (the next products program them again)."""
    store.clear()


def _label_on_first_run(module: nn.Module, args: Any) -> None:
    """Global forward pre-hook: the first module with ``photonic`` parameters to run names them
    (a module that ran on another device first is named when it first runs on this one)."""
    if torch.compiler.is_compiling() or module in _labelled:
        return
    first = next(module.parameters(), None)
    if first is None or first.device.type != "photonic":
        return
    for sub in module.modules():
        _labelled.add(sub)
    store.label_module(module)


_labelled: Optional["weakref.WeakSet"] = None


def install_labelling_hook() -> None:
    """Names parameters automatically when a module on the device first runs (idempotent)."""
    global _labelled
    if _labelled is not None:
        return
    _labelled = weakref.WeakSet()
    nn.modules.module.register_module_forward_pre_hook(_label_on_first_run)

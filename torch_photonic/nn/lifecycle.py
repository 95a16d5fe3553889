"""Lifecycle verbs of programmed weights, for both execution paths (``convert()`` layers and
modules on the ``photonic`` device):

* :func:`program` writes a model's weights into the cells now (instead of at the first forward);
* :func:`age` (also :func:`set_time`) ages programmed weights (drift and accumulated read noise):
  one clock, in the store, read by both paths;
* :func:`calibrate` sets the converter ranges a mapping calibrates (static input ranges, per-column
  ADC ranges) from many batches; :func:`clip_rates` reports how often the converters clipped;
* :func:`label_parameters` names a model's weights for meter rows and noise seeds (done
  automatically the first time a module with ``photonic`` parameters runs).
"""
from __future__ import annotations

import math
import warnings
import weakref
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple

import torch
from torch import nn

from ..optics import host_memory
from ..optics.store import store
from .base import PhotonicModule
from .convert import matches

__all__ = ["program", "set_time", "age", "calibrate", "clip_rates", "reset_clip_rates", "label_parameters",
           "photonic_modules", "clear_programmed", "keep_digital"]


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


def program(model: nn.Module, release_weights: bool = False) -> nn.Module:
    """Writes every photonic layer's weights into the cells now (charged to an open meter) and
    hands learned input ranges to their converters.

    With ``release_weights``, each layer then lets the digital copies of its optical weights go
    (the cells become the only copy, as on the chip: ~5 bytes per weight in all for configs with
    level codes, against 4 for a float32 weight plus ~6 for its cells when both are held). The
    layers then run inference only and cannot be programmed again; weights shared with another
    module (tied weights) stay."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(release_weights, bool):
        raise TypeError(f"program: release_weights must be a bool, got {release_weights!r}")
    layers = [m for _, m in photonic_modules(model)]
    if not layers:
        warnings.warn("program: the model has no photonic layers (did you convert() it?)")
        return model
    shared = set()
    if release_weights:
        seen = set()
        for _, mod in model.named_modules(remove_duplicate=False):
            for p in mod.parameters(recurse=False):
                shared.add(id(p)) if id(p) in seen else seen.add(id(p))
    for m in layers:
        m.program_cells()
        m.push_ranges()
        if release_weights and m.release_weights(keep=shared):
            host_memory.trim()  # the freed weights leave the process, layer by layer
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
        raise ValueError(f"age: seconds must be a finite number >= 0, got {seconds!r}")
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


def age(model_or_seconds: Any, seconds: Optional[float] = None) -> Any:
    """Ages programmed weights to ``seconds`` after programming: ``age(model, seconds)`` for one
    model (``convert()``ed or on the device), ``age(seconds)`` for every weight."""
    return set_time(model_or_seconds, seconds)


def calibrate(model: nn.Module, batches: Iterable[Any],
              run: Optional[Callable[[nn.Module, Any], Any]] = None) -> nn.Module:
    """Calibrates the converter ranges of every weight ``model`` multiplies optically, over
    ``batches`` (each passed to ``model(batch)``, or to ``run(model, batch)``), as the mapping of
    its config asks: static input ranges per tile and/or ADC ranges per column (a percentile over
    all batches). A mapping with nothing to calibrate leaves the model as it is. Runs without
    gradients; a mapping that calibrates both ranges takes two passes over ``batches``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"calibrate: model must be an nn.Module, got {type(model).__name__}")
    batches = list(batches)
    if not batches:
        raise ValueError("calibrate: batches is empty; give at least one batch")
    run = run if run is not None else (lambda m, b: m(b))
    configs = _configs_of(model)
    phases = ["inputs"] if any(c.mapping.input_range == "static" for c in configs) else []
    if any(c.mapping.adc_range == "calibrated" for c in configs):
        phases.append("adc")
    was_training = model.training
    model.eval()
    try:
        for phase in phases:
            store.begin_calibration(phase)
            try:
                with torch.no_grad():
                    for b in batches:
                        run(model, b)
            finally:
                store.finish_calibration()
    finally:
        model.train(was_training)
    return model


def _configs_of(model: nn.Module) -> list:
    """The hardware configs a model's optical products run with (its layers', or the device's)."""
    out = [m.config for _, m in photonic_modules(model)]
    if any(p.device.type == "photonic" for p in model.parameters()):
        device_config = torch.photonic.get_config()  # the device's module (no import: no cycle)
        if device_config != "exact":
            out.append(device_config)
    return out


def clip_rates(model: Optional[nn.Module] = None) -> dict:
    """Converter statistics per layer since programming (or :func:`reset_clip_rates`): input and
    output clip rates and bound-management retries; ``model`` limits them to its layers."""
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"clip_rates: model must be an nn.Module or None, got "
                        f"{type(model).__name__}")
    counts = store.clip_counts()
    if model is not None:
        rows = {store.row_name(store.name_of(p)) for p in model.parameters()}
        counts = {k: v for k, v in counts.items() if k in rows}
    return {k: v.as_dict() for k, v in sorted(counts.items()) if v.outputs}


def reset_clip_rates() -> None:
    store.reset_clip_counts()


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

"""Saving and loading a programmed model: its parameters and what its PCM cells hold.

Programming draws noise, ageing moves the cells, calibration and fine-tuning set the
converters' ranges: an expensive state to rebuild. :func:`save_programmed` writes it to one
file (``torch.save``: the model's ``state_dict`` and, per programmed weight, its name, its age
and each matrix's cells at t0, scales, ranges, seed, read and write counters and clip counts);
:func:`load_programmed` puts it back into a model of the same architecture, converted to the
same preset or moved to the device with the same config. Nothing is programmed again and no
noise is drawn: the next read of every matrix draws the read noise the saved model's next read
would have drawn, so outputs after loading equal the saved model's, bit for bit.

Weights whose digital copy was let go (``tp.program(model, release_weights=True)``) are saved as
their cells only; loading lets the loaded model's copies of them go too.
The file holds only tensors, numbers, strings, lists and dicts (``torch.load`` with
``weights_only=True`` reads it).
"""
from __future__ import annotations

import os
from typing import Any, Dict

import torch
import torch.nn as nn

from ..optics.store import store

__all__ = ["save_programmed", "load_programmed", "FORMAT"]

#: the file's format tag
FORMAT = "torch_photonic.programmed/1"


def _weights(model: nn.Module):
    for name, p in model.named_parameters(remove_duplicate=True):
        yield name, p


def save_programmed(model: nn.Module, path: str) -> Dict[str, Any]:
    """Writes ``model``'s parameters and programmed cells to ``path``; returns a summary
    (weights and matrices saved, default age)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_programmed: model must be an nn.Module, got {type(model).__name__}")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise ValueError(f"save_programmed: path's directory {d!r} does not exist")
    cells: Dict[str, Any] = {}
    for name, p in _weights(model):
        saved = store.export(p)
        if saved["matrices"]:
            cells[name] = saved
    if not cells:
        raise ValueError("save_programmed: no weight of the model is programmed; run it (or "
                         "tp.program(model)) on the chip first")
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items() if not v.is_meta}
    released = sorted(name for name, p in _weights(model) if p.is_meta and name in cells)
    torch.save(dict(format=FORMAT, state_dict=state_dict, cells=cells, released=released,
                    default_age=store.default_age), path)
    return dict(path=path, weights=len(cells),
                matrices=sum(len(c["matrices"]) for c in cells.values()),
                default_age=store.default_age)


def load_programmed(model: nn.Module, path: str, *, set_default_age: bool = True
                    ) -> Dict[str, Any]:
    """Loads :func:`save_programmed`'s file into ``model`` (same architecture; converted to the
    same preset, or on the device with the same config): parameters, then cells. With
    ``set_default_age``, the ageing clock's default age is the saved one. Returns a summary."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"load_programmed: model must be an nn.Module, got {type(model).__name__}")
    if not os.path.isfile(path):
        raise ValueError(f"load_programmed: no file at path {path!r}")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"load_programmed: {path!r} is not a programmed-model file "
                         f"(format {FORMAT!r})")
    params = dict(_weights(model))
    unknown = [n for n in data["cells"] if n not in params]
    if unknown:
        raise ValueError(f"load_programmed: the model does not match the file {path!r}: it "
                         f"holds cells of weights the model does not have: {unknown[:5]}")
    _check_configs(model, data["cells"])
    ours = model.state_dict()
    bad = [k for k, v in data["state_dict"].items()
           if k not in ours or tuple(ours[k].shape) != tuple(v.shape)]
    released = list(data.get("released", []))
    missing = [k for k in ours if k not in data["state_dict"] and k not in released]
    if bad or missing:
        raise ValueError(f"load_programmed: the model does not match the file {path!r}: "
                         f"missing {missing[:5]}, unexpected or of another shape {bad[:5]}")
    model.load_state_dict(data["state_dict"], strict=not released)
    matrices = 0
    for name, saved in data["cells"].items():
        matrices += store.restore(params[name], saved)
    if released:
        _release(model, released)
    if set_default_age:
        store.set_age(float(data["default_age"]))
    return dict(path=path, weights=len(data["cells"]), matrices=matrices,
                default_age=float(data["default_age"]))


def _release(model: nn.Module, names) -> None:
    """Lets the digital copies of the weights ``names`` go, as the saved model had."""
    owners = {}
    for mname, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            owners[f"{mname}.{pname}" if mname else pname] = (mod, pname)
    for name in names:
        mod, pname = owners[name]
        if pname not in getattr(mod, "OPTICAL_WEIGHTS", ()):
            raise ValueError(f"load_programmed: weight {name!r} was saved as cells only, but "
                             f"the model's {type(mod).__name__} does not hold it optically")
        keep = {id(getattr(mod, a)) for a in mod.OPTICAL_WEIGHTS if a != pname}
        mod.release_weights(keep=keep)


def _check_configs(model: nn.Module, cells: Dict[str, Any]) -> None:
    """A converted layer must run the config its cells were programmed on, or it would program
    its weights again: refuse with the layer's name instead."""
    from ..hardware.config import HardwareConfig
    for mname, mod in model.named_modules():
        cfg = getattr(mod, "config", None)
        if not isinstance(cfg, HardwareConfig):
            continue
        for pname, _ in mod.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            saved = cells.get(full)
            if not saved:
                continue
            configs = {HardwareConfig.from_dict(m["config"]) for m in saved["matrices"]}
            if cfg not in configs:
                raise ValueError(f"load_programmed: layer {mname!r} runs config {cfg.name!r}, "
                                 f"but its saved cells were programmed on "
                                 f"{sorted(c.name for c in configs)}; convert the model to "
                                 f"the same preset first")

"""Checkpoints of a training run: atomic files, and the fingerprint that ties one to its run.

A checkpoint is one file, ``<folder>/checkpoint.pt``, holding the model's ``state_dict``, the
optimiser's and the learning-rate scheduler's states, the number of steps done, the learning
curve so far, the torch CPU generator's state and the run's fingerprint. It is written to a
temporary file in the same folder and moved over the old one with ``os.replace``, so a run
killed at any moment leaves either the previous checkpoint or the next one, never half of one.

The fingerprint holds what a resumed run must share with the run that wrote the checkpoint:
the names and shapes of the model's parameters, the hardware preset of its photonic layers
(name and a hash of the full config), the hyperparameters that decide the trajectory, and any
options the caller adds. :func:`check_fingerprint` raises :class:`CheckpointMismatchError`
naming the first things that differ.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..nn.lifecycle import photonic_modules
from .config import TrainConfig

__all__ = ["CHECKPOINT_NAME", "CheckpointMismatchError", "checkpoint_path", "fingerprint",
           "check_fingerprint", "save_checkpoint", "load_checkpoint", "config_hash"]

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by another run (other model, preset or hyperparameters)."""


def checkpoint_path(folder: "str | os.PathLike") -> str:
    return os.path.join(os.fspath(folder), CHECKPOINT_NAME)


def config_hash(config: Any) -> str:
    """SHA-256 of a hardware config's full contents (``to_dict()``, as sorted JSON)."""
    d = config.to_dict() if hasattr(config, "to_dict") else config
    text = json.dumps(d, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _presets(model: nn.Module) -> List[Dict[str, str]]:
    """The distinct hardware configs of the model's photonic layers (empty for a plain model)."""
    seen: Dict[str, str] = {}
    for _, m in photonic_modules(model):
        h = config_hash(m.config)
        seen.setdefault(h, m.config.name)
    return [dict(name=n, hash=h) for h, n in sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))]


def _jsonable(x: Any) -> Any:
    """``x`` as it reads back from a checkpoint (tuples become lists), for a fair comparison."""
    return json.loads(json.dumps(x, default=repr))


def fingerprint(model: nn.Module, config: TrainConfig,
                extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """What a checkpoint of this run must match to be resumed by it."""
    params = {n: list(p.shape) for n, p in model.named_parameters()}
    return dict(parameters=params, presets=_presets(model),
                hyperparameters=_jsonable(config.resume_fields()),
                extra=_jsonable(dict(extra or {})))


def _preset_text(presets: List[Dict[str, str]]) -> str:
    if not presets:
        return "no preset (a model without photonic layers)"
    return ", ".join(f"'{p['name']}'" for p in presets)


def check_fingerprint(saved: Dict[str, Any], current: Dict[str, Any], where: str) -> None:
    """Raises :class:`CheckpointMismatchError` when ``saved`` (the checkpoint ``where``) and
    ``current`` (this run) differ, naming what differs."""
    problems: List[str] = []
    sp, cp = saved.get("presets", []), current.get("presets", [])
    if [p["name"] for p in sp] != [p["name"] for p in cp]:
        problems.append(f"checkpoint was written for preset {_preset_text(sp)}, this run uses "
                        f"{_preset_text(cp)}")
    elif sp != cp:
        problems.append(f"preset {_preset_text(cp)} has other values in the checkpoint than in "
                        f"this run (its config hash differs)")
    spar, cpar = saved.get("parameters", {}), current.get("parameters", {})
    missing = [n for n in cpar if n not in spar]
    unknown = [n for n in spar if n not in cpar]
    if missing:
        problems.append(f"parameter(s) {', '.join(repr(n) for n in missing[:3])}"
                        f"{' ...' if len(missing) > 3 else ''} of the model are not in the "
                        f"checkpoint")
    if unknown:
        problems.append(f"the checkpoint has parameter(s) "
                        f"{', '.join(repr(n) for n in unknown[:3])}"
                        f"{' ...' if len(unknown) > 3 else ''} the model does not have")
    for n, shape in cpar.items():
        if n in spar and list(spar[n]) != list(shape):
            problems.append(f"parameter '{n}' has shape {tuple(spar[n])} in the checkpoint, "
                            f"{tuple(shape)} in the model")
    for group in ("hyperparameters", "extra"):
        s, c = saved.get(group, {}), current.get(group, {})
        for k in sorted(set(s) | set(c)):
            if s.get(k, "<unset>") != c.get(k, "<unset>"):
                problems.append(f"{k} is {s.get(k, '<unset>')!r} in the checkpoint, "
                                f"{c.get(k, '<unset>')!r} in this run")
    if problems:
        raise CheckpointMismatchError(f"checkpoint {where} does not belong to this run: "
                                      + "; ".join(problems[:6])
                                      + (" ..." if len(problems) > 6 else ""))


def save_checkpoint(folder: "str | os.PathLike", state: Dict[str, Any]) -> str:
    """Writes ``state`` to ``<folder>/checkpoint.pt`` atomically; returns the path."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    path = checkpoint_path(folder)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(folder: "str | os.PathLike") -> Dict[str, Any]:
    """The state saved in ``<folder>/checkpoint.pt`` (tensors on the CPU)."""
    path = checkpoint_path(folder)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint_dir: no checkpoint in {os.fspath(folder)!r} "
                                f"(expected {CHECKPOINT_NAME})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "optimizer", "scheduler", "step", "curve", "rng", "fingerprint"):
        if key not in state:
            raise ValueError(f"checkpoint {path!r} is not a checkpoint of this trainer "
                             f"(missing {key!r})")
    return state

"""The optical body of the ``photonic`` device's matmul entry (``csrc/aten/matmul.cpp``).

In any mode but ``"exact"``, every ``mm``/``addmm``/``bmm``/``baddbmm``/``_grouped_mm`` of the
device arrives here with its device operands. What runs on the optics:

* **Static products** (``mm``, ``addmm``, ``_grouped_mm``): the right operand is a weight
  (``nn.Linear`` gives ``x @ W.T``; HF fused experts give ``x @ W[e].T`` per expert). It is
  programmed into PCM cells once per tensor *version*: the cache is keyed by the weight tensor
  (weakly: it dies with the weight) and its ``_version``, so an in-place update reprograms it and
  is charged again, while 100 forwards write each cell once.
* **Dynamic products** (``bmm``, ``baddbmm``: attention's ``Q K^T`` and ``P V``): both operands
  change every call, so PCM cannot hold them. ``config.dynamic.mode == "electronic"`` computes
  them on the host in float32; ``"optical"`` runs them through the optical kernel as volatile
  modulator weights (noise and converters, no PCM writes). Either way they are reported with
  ``dynamic=True``, apart from the static products.

Names in meter reports come from :func:`label_parameters` (``module.weight`` names) when the user
called it, else from the weight's shape.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch.utils.weak import WeakIdKeyDictionary

from . import _C, events

_lock = threading.RLock()
# weight tensor (the base of the operand view) -> {(offset, shape, stride, expert): (version, state)}
_states = WeakIdKeyDictionary()
_states_by_storage: Dict[Any, Dict] = {}  # inference_mode operands (no view tracking)
# data_ptr -> parameter name, for reports
_labels: Dict[int, str] = {}
_time = {"seconds": 0.0}


def label_parameters(model: torch.nn.Module) -> None:
    """Remembers ``model``'s parameter names so device-level meter rows carry module names."""
    for name, p in model.named_parameters():
        _labels[p.data_ptr()] = name.rsplit(".", 1)[0] if name.endswith(".weight") else name


def set_time(seconds: float) -> None:
    """Ages every weight programmed by the device to ``seconds`` after programming (drift)."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    _time["seconds"] = float(seconds)


def clear_programmed() -> None:
    """Forgets every programmed weight (the next products program them again)."""
    with _lock:
        _states.clear()
        _states_by_storage.clear()


def programmed_count() -> int:
    with _lock:
        return sum(len(v) for v in _states.values()) + sum(len(v) for v in _states_by_storage.values())


def _label(operand: torch.Tensor, shape: Tuple[int, ...]) -> str:
    base = operand._base if operand._base is not None else operand
    name = _labels.get(base.data_ptr())
    return name if name is not None else "device.W[" + "x".join(str(s) for s in shape) + "]"


def _owner(operand: torch.Tensor) -> Any:
    """What a programmed state is cached under: the weight tensor the operand is a view of.

    ``nn.Linear`` passes ``W.t()`` and HF experts ``W.transpose(-2, -1)``, views whose ``_base``
    is the Parameter (weakly referenced: the cache entry dies with it). Without view tracking
    (``torch.inference_mode``) the key is the storage address instead.
    """
    if operand._base is not None:
        return operand._base
    return ("storage", operand.untyped_storage().data_ptr())


def _weight_state(config: Any, owner: Any, operand: torch.Tensor, expert: Optional[int],
                  host_w: torch.Tensor, label: str):
    """The programmed state for a weight operand, programming it on first use or new version."""
    from . import optical

    key = (config.name, operand.storage_offset(), tuple(operand.shape), tuple(operand.stride()), expert)
    version = operand._version
    table = _states_by_storage if isinstance(owner, tuple) else _states
    with _lock:
        per_owner = table.get(owner)
        if per_owner is None:
            per_owner = {}
            table[owner] = per_owner
        hit = per_owner.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        state = optical.program(host_w, config)
        per_owner[key] = (version, state)
    events.record_program(label, host_w.numel(), state.cells_written, config)
    return state


def handler_for(config: Any) -> Callable:
    """The matmul handler that runs the device's products on ``config``."""
    from . import optical

    calls = itertools.count()

    def run_static(a: torch.Tensor, b: torch.Tensor, owner: Any, expert: Optional[int],
                   label: str) -> torch.Tensor:
        ha, hb = _C._host_alias(a), _C._host_alias(b)
        w = hb.transpose(0, 1)  # [N, K]: rows are the PCM array's outputs
        state = _weight_state(config, owner, b, expert, w, label)
        y = optical.mvm(ha, state, seconds=_time["seconds"], seed=config.seed + next(calls))
        events.record_mvm(label, "mm", ha.shape[0], ha.shape[1], w.shape[0], config, expert=expert)
        return y.to(ha.dtype)

    def run_dynamic(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ha, hb = _C._host_alias(a), _C._host_alias(b)
        batch, m, k = ha.shape
        n = hb.shape[-1]
        events.record_mvm("device.attention", "bmm", m, k, n, config, dynamic=True, batch=batch)
        if config.dynamic.mode == "electronic":
            return torch.bmm(ha, hb)
        outs = []
        for i in range(batch):  # volatile weights: modulators, not PCM (nothing written)
            state = optical.program(hb[i].transpose(0, 1), config)
            outs.append(optical.mvm(ha[i], state, seed=config.seed + next(calls)))
        return torch.stack(outs).to(ha.dtype)

    def handler(op: str, a: torch.Tensor, b: torch.Tensor, offs: Optional[torch.Tensor]) -> torch.Tensor:
        if op == "mm":
            owner = _owner(b)
            return run_static(a, b, owner, None, _label(b, tuple(b.shape[::-1])))
        if op == "bmm":
            return run_dynamic(a, b)
        if op == "grouped_mm":
            return _grouped(a, b, offs)
        raise NotImplementedError(f"photonic matmul handler: unknown op {op!r}")

    def _grouped(a: torch.Tensor, b: torch.Tensor, offs: Optional[torch.Tensor]) -> torch.Tensor:
        if a.dim() != 2 or b.dim() != 3 or offs is None:
            raise NotImplementedError(
                f"photonic _grouped_mm: only the MoE form (2-D tokens, 3-D experts, offs) runs on the "
                f"optics; got self {tuple(a.shape)}, mat2 {tuple(b.shape)}, offs {'None' if offs is None else 'set'}")
        ends = _C._host_alias(offs).tolist()
        owner = _owner(b)  # views made in here (b[e]) are untracked: resolve the owner first
        out = torch.zeros(a.shape[0], b.shape[-1], dtype=a.dtype)
        start = 0
        for e, end in enumerate(ends):
            if end > start:  # only experts with routed tokens run (and are charged)
                label = f"{_label(b, tuple(b.shape))}[expert {e}]"
                out[start:end] = run_static(a[start:end], b[e], owner, e, label)
            start = end
        return out

    return handler

"""Layers that run their matrix products on the emulated photonic PCM array.

* :class:`PhotonicLinear` replaces ``nn.Linear``: the weight is programmed into PCM cells once
  (reprogrammed only when the weight tensor changes: its ``_version`` or storage), the bias is
  added in the digital domain.
* :class:`PhotonicExperts` replaces a fused-experts module (3-D ``gate_up_proj`` [E, 2I, H] and
  ``down_proj`` [E, H, I], as HF transformers' DeepSeek-V3 stores them): one programmed state per
  expert and projection; only routed tokens are computed and reported.
* :func:`set_time` ages every photonic layer of a model (drift studies).

The Parameters are shared with the original modules (never copied), so tied weights stay tied,
and programmed states are cached per Parameter: two layers holding the same weight program it
once.

Faithfulness check: on its first forward (when the ADC full scale is calibrated) a layer compares
its output with the float32 product of the original weights; if the relative error
``||y - y_ref|| / ||y_ref||`` exceeds ``config.warn_rel_error`` (default 0.25) it warns once,
naming the module. The measured value is kept in ``layer.calibration_error``.
"""
from __future__ import annotations

import math
import warnings
from torch.utils.weak import WeakIdKeyDictionary
import zlib
from typing import Dict, Iterable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import events
from . import optical as _opt
from .config import HardwareConfig

__all__ = ["PhotonicLinear", "PhotonicExperts", "set_time", "photonic_modules"]

# Parameter -> {(expert index or None, config): ProgrammedState}. Weak keys: freed with the weight.
_STATES = WeakIdKeyDictionary()


def _resolve_config(config) -> HardwareConfig:
    if config is None:
        from .presets import preset
        return preset("glass-pcm-200mm")
    if isinstance(config, str):
        from .presets import preset
        return preset(config)
    if not isinstance(config, HardwareConfig):
        raise TypeError(f"config must be a HardwareConfig or a preset name, got {type(config).__name__}")
    return config


def _name_seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _mix(*vals: int) -> int:
    h = 0x243F6A8885A308D3
    for v in vals:
        h ^= (int(v) & 0xFFFFFFFFFFFFFFFF)
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & 0x3FFFFFFFFFFFFFFF


def _version_key(t: torch.Tensor) -> Tuple[int, int]:
    return (t._version, t.data_ptr())


def _rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    den = ref.float().norm().item()
    num = (y.float() - ref.float()).norm().item()
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


class _PhotonicBase(nn.Module):
    def _init_common(self, config, name: str):
        self.config = _resolve_config(config)
        self.photonic_name = name
        self.seconds = 0.0                # time since programming (drift); see set_time()
        self.calls = 0                    # forwards so far (read-noise stream)
        self.read_seed: Optional[int] = None  # fixed read-noise seed (None: new per call)
        self.calibration_error: Optional[float] = None
        self._warned = False

    def _state_for(self, param: torch.Tensor, expert: Optional[int], weight: torch.Tensor,
                   what: str) -> "_opt.ProgrammedState":
        """Programmed state for ``weight`` (param or param[expert]); (re)program if changed."""
        per = _STATES.get(param)
        if per is None:
            per = {}
            _STATES[param] = per
        key = (expert, self.config)
        st = per.get(key)
        ver = _version_key(param)
        if st is not None and st.source_version == ver:
            return st
        seed = _mix(self.config.seed, _name_seed(self.photonic_name + what),
                    -1 if expert is None else expert)
        new = _opt.program(weight, self.config, seed)
        new.source_version = ver
        if st is not None:  # rewrite of the same cells
            new.cells_written += st.cells_written
            new.times_programmed += st.times_programmed
        per[key] = new
        events.record_program(self.photonic_name + what, weight.numel(), new.cells_written
                              - (st.cells_written if st is not None else 0), self.config)
        return new

    def _next_seed(self) -> int:
        if self.read_seed is not None:
            return int(self.read_seed)
        self.calls += 1
        return _mix(self.config.seed, _name_seed(self.photonic_name), self.calls)

    def _check_faithful(self, y: torch.Tensor, ref: torch.Tensor, what: str = "") -> None:
        err = _rel_err(y, ref)
        self.calibration_error = err if self.calibration_error is None \
            else max(self.calibration_error, err)
        if err > self.config.warn_rel_error and not self._warned:
            self._warned = True
            warnings.warn(
                f"photonic layer '{self.photonic_name or type(self).__name__}{what}': output "
                f"relative error {err:.3f} exceeds {self.config.warn_rel_error} on preset "
                f"'{self.config.name}' (check formats, PCM levels, ADC bits / full scale)",
                RuntimeWarning, stacklevel=3)


class PhotonicLinear(_PhotonicBase):
    """``y = x W^T + b`` with ``W`` in PCM cells (optical) and ``b`` added digitally."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 config=None, name: str = "", device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device,
                                               dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype)) \
            if bias else None
        nn.Linear.reset_parameters(self)  # type: ignore[arg-type]
        self._init_common(config, name)

    @classmethod
    def from_linear(cls, linear: nn.Linear, config=None, name: str = "") -> "PhotonicLinear":
        """Wrap ``linear``, sharing its Parameters (no copy; tied weights stay tied)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear expects nn.Linear, got {type(linear).__name__}")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self._init_common(config, name)
        return self

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, preset={self.config.name!r}")

    @property
    def state(self) -> "_opt.ProgrammedState":
        return self._state_for(self.weight, None, self.weight, "")

    @property
    def cells_written(self) -> int:
        return self.state.cells_written

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.photonic_name or 'PhotonicLinear'}: input shape "
                             f"{tuple(x.shape)} does not match weight shape "
                             f"{tuple(self.weight.shape)} (in_features={self.in_features})")
        st = self.state
        first = st.full_scale is None and _opt._needs_fs(self.config)
        with torch.no_grad():
            y = _opt.mvm(x, st, self.seconds, self._next_seed(), self.bias)
            if first or self.calibration_error is None:
                ref = F.linear(x.float(), self.weight.float(),
                               None if self.bias is None else self.bias.float())
                self._check_faithful(y, ref)
        m = x.numel() // max(1, self.in_features)
        events.record_mvm(self.photonic_name, "linear", m, self.in_features,
                          self.out_features, self.config)
        return y.to(x.dtype)


class PhotonicExperts(_PhotonicBase):
    """Fused experts on the optical array: ``forward(hidden_states, top_k_index, top_k_weights)``.

    Same contract as transformers' ``DeepseekV3Experts`` (naive loop): hidden_states [T, H],
    top_k_index / top_k_weights [T, k]; returns [T, H]. Weights stay the original Parameters
    (``gate_up_proj`` [E, 2I, H], ``down_proj`` [E, H, I], or transposed when the source module has
    ``is_transposed``); optional ``gate_up_proj_bias`` / ``down_proj_bias`` are added digitally.
    """

    def __init__(self, gate_up_proj: nn.Parameter, down_proj: nn.Parameter, act_fn,
                 config=None, name: str = "", is_transposed: bool = False,
                 is_concatenated: bool = True, gate_up_proj_bias=None, down_proj_bias=None):
        super().__init__()
        if gate_up_proj.dim() != 3 or down_proj.dim() != 3:
            raise ValueError(f"PhotonicExperts: expected 3-D expert weights, got gate_up_proj "
                             f"{tuple(gate_up_proj.shape)} and down_proj {tuple(down_proj.shape)}")
        self.gate_up_proj = gate_up_proj
        self.down_proj = down_proj
        self.gate_up_proj_bias = gate_up_proj_bias
        self.down_proj_bias = down_proj_bias
        self.act_fn = act_fn
        self.is_transposed = is_transposed
        self.is_concatenated = is_concatenated
        self.num_experts = gate_up_proj.shape[0]
        if is_transposed:
            self.hidden_dim, two_i = gate_up_proj.shape[1], gate_up_proj.shape[2]
        else:
            two_i, self.hidden_dim = gate_up_proj.shape[1], gate_up_proj.shape[2]
        self.intermediate_dim = two_i // 2
        exp_down = (self.num_experts, self.intermediate_dim, self.hidden_dim) if is_transposed \
            else (self.num_experts, self.hidden_dim, self.intermediate_dim)
        if tuple(down_proj.shape) != exp_down:
            raise ValueError(f"PhotonicExperts: down_proj shape {tuple(down_proj.shape)} does not "
                             f"match gate_up_proj shape {tuple(gate_up_proj.shape)} "
                             f"(expected {exp_down})")
        self._init_common(config, name)
        self.calibration_error = None

    @classmethod
    def from_module(cls, mod: nn.Module, config=None, name: str = "") -> "PhotonicExperts":
        return cls(mod.gate_up_proj, mod.down_proj, mod.act_fn, config=config, name=name,
                   is_transposed=bool(getattr(mod, "is_transposed", False)),
                   is_concatenated=bool(getattr(mod, "is_concatenated", True)),
                   gate_up_proj_bias=getattr(mod, "gate_up_proj_bias", None)
                   if getattr(mod, "has_bias", False) else None,
                   down_proj_bias=getattr(mod, "down_proj_bias", None)
                   if getattr(mod, "has_bias", False) else None)

    @staticmethod
    def is_fused_experts(mod: nn.Module) -> bool:
        gu, dn = getattr(mod, "gate_up_proj", None), getattr(mod, "down_proj", None)
        return (isinstance(gu, torch.Tensor) and isinstance(dn, torch.Tensor) and gu.dim() == 3
                and dn.dim() == 3 and hasattr(mod, "act_fn")
                and getattr(mod, "has_gate", True) and not getattr(mod, "has_post_expert_norm", False))

    def extra_repr(self) -> str:
        return (f"num_experts={self.num_experts}, hidden={self.hidden_dim}, "
                f"intermediate={self.intermediate_dim}, preset={self.config.name!r}")

    def _w(self, param: torch.Tensor, e: int) -> torch.Tensor:
        w = param[e]
        return w.t() if self.is_transposed else w

    def states(self, e: int):
        gu = self._state_for(self.gate_up_proj, e, self._w(self.gate_up_proj, e), ".gate_up_proj")
        dn = self._state_for(self.down_proj, e, self._w(self.down_proj, e), ".down_proj")
        return gu, dn

    def program_all(self) -> None:
        for e in range(self.num_experts):
            self.states(e)

    @property
    def cells_written(self) -> int:
        return sum(s.cells_written for e in range(self.num_experts) for s in self.states(e))

    def _proj(self, x, st, bias, what, e):
        first = st.full_scale is None and _opt._needs_fs(self.config)
        y = _opt.mvm(x, st, self.seconds, self._next_seed(), bias)
        if first:
            w = self._w(self.gate_up_proj if what == ".gate_up_proj" else self.down_proj, e)
            self._check_faithful(y, F.linear(x.float(), w.float(),
                                             None if bias is None else bias.float()),
                                 f"{what}[expert {e}]")
        events.record_mvm(self.photonic_name + what, "linear", x.shape[0], x.shape[-1],
                          y.shape[-1], self.config, expert=e)
        return y

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                top_k_weights: torch.Tensor) -> torch.Tensor:
        if hidden_states.shape[-1] != self.hidden_dim:
            raise ValueError(f"{self.photonic_name or 'PhotonicExperts'}: hidden_states shape "
                             f"{tuple(hidden_states.shape)} does not match gate_up_proj shape "
                             f"{tuple(self.gate_up_proj.shape)} (hidden={self.hidden_dim})")
        self.program_all()  # all experts' cells are written once, up front
        final = torch.zeros_like(hidden_states)
        with torch.no_grad():
            hit = torch.unique(top_k_index[(top_k_index >= 0) & (top_k_index < self.num_experts)])
        for e in hit.tolist():
            token_idx, top_k_pos = torch.where(top_k_index == e)
            x = hidden_states[token_idx]
            gu_st, dn_st = self.states(e)
            with torch.no_grad():
                gb = None if self.gate_up_proj_bias is None else self.gate_up_proj_bias[e]
                gu = self._proj(x, gu_st, gb, ".gate_up_proj", e)
                if self.is_concatenated:
                    gate, up = gu.chunk(2, dim=-1)
                else:
                    gate, up = gu[..., 0::2], gu[..., 1::2]
                h = self.act_fn(gate) * up
                db = None if self.down_proj_bias is None else self.down_proj_bias[e]
                out = self._proj(h, dn_st, db, ".down_proj", e)
            out = out * top_k_weights[token_idx, top_k_pos, None].float()
            final.index_add_(0, token_idx, out.to(final.dtype))
        return final


def photonic_modules(model: nn.Module) -> Iterable[Tuple[str, _PhotonicBase]]:
    for n, m in model.named_modules():
        if isinstance(m, _PhotonicBase):
            yield n, m


def set_time(model: nn.Module, seconds: float) -> nn.Module:
    """Set the time since programming (seconds) of every photonic layer in ``model`` (drift)."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"set_time: seconds must be finite and >= 0, got {seconds}")
    found = False
    for _, m in photonic_modules(model) if not isinstance(model, _PhotonicBase) \
            else [("", model)]:
        m.seconds = float(seconds)
        found = True
    if not found:
        warnings.warn("set_time: the model has no photonic layers (did you convert() it?)")
    return model

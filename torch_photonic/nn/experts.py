"""``PhotonicExperts``: a fused mixture-of-experts module (3-D ``gate_up_proj`` / ``down_proj``, as
HF transformers' DeepSeek-V3 stores them) on the optical array.

It computes what HF's ``grouped_mm`` experts implementation computes on the ``photonic`` device,
step for step: tokens sorted by expert, one shared expert loop
(:func:`torch_photonic.optics.expert_products`) per projection, gating, routing weights, the
restored order and the per-token sum. So a converted model and the same model moved to the device
give the same numbers. Only experts with routed tokens run and are charged.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..optics import kernels, training
from ..optics.product import expert_products
from ..optics.store import store
from . import hwa
from .base import PhotonicModule

__all__ = ["PhotonicExperts"]


class _GroupedStraightThrough(torch.autograd.Function):
    """One projection of tokens grouped by expert: the optical products forward; backward, the
    gradients of the float products (straight through rounding, noise and converters)."""

    @staticmethod
    def forward(ctx, x, param, layer, ends, what, check):
        ctx.save_for_backward(x, param)
        ctx.layer, ctx.ends = layer, list(ends)
        return layer._optical_project(x, ends, param, what, check)

    @staticmethod
    def backward(ctx, gy):
        x, param = ctx.saved_tensors
        layer = ctx.layer
        host = layer._host(param)
        gx = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        gp = torch.zeros_like(host) if ctx.needs_input_grad[1] else None
        start = 0
        for e, end in enumerate(ctx.ends):
            end = int(end)
            if end > start:
                w = layer._matrix(host, e)
                g = gy[start:end].to(w.dtype)
                if gx is not None:
                    gx[start:end] = (g @ w).to(x.dtype)
                if gp is not None:
                    gw = g.t() @ x[start:end].to(w.dtype)  # [out, in]
                    gp[e] += gw.t() if layer.is_transposed else gw
            start = max(start, end)
        if gp is not None and gp.device != param.device:
            gp = gp.to(param.device)
        return gx, gp, None, None, None, None


class _GroupedTraining(torch.autograd.Function):
    """One projection of tokens grouped by expert, as trained (see
    :mod:`torch_photonic.nn.hwa`): each expert with tokens draws its cells afresh and runs the
    optical kernel; backward, straight-through gradients that stop where a converter clips."""

    @staticmethod
    def forward(ctx, x, param, ranges, full_scales, layer, ends, what):
        cfg = layer.config
        host = layer._host(param)
        noise = hwa.options_of(layer).noise
        secs = hwa.training_seconds(layer, param)
        out = torch.zeros(x.shape[0], layer._matrix(host, 0).shape[0], dtype=torch.float32,
                          device=x.device)
        used = []
        start = 0
        for e, end in enumerate(ends):
            end = int(end)
            if end > start:
                w = layer._matrix(host, e)
                table = hwa.noise_table(layer, what, e, w, secs)
                rng, fs = hwa.converter_ranges(
                    layer, param, w, e, None if ranges is None else ranges[e],
                    None if full_scales is None else full_scales[e])
                cells, scales = training.training_weight(w, cfg, table,
                                                         hwa.draw_seed(layer, what, e))
                out[start:end], _ = training.product(
                    x[start:end].detach(), cells, scales, cfg, input_range=rng, full_scale=fs,
                    noise=noise, seed=hwa.draw_seed(layer, what, e))
                used.append((e, start, end, rng, fs))
            start = max(start, end)
        ctx.save_for_backward(x, param)
        ctx.layer, ctx.used, ctx.learned = layer, used, ranges is not None
        ctx.range_shape = None if ranges is None else ranges.shape
        ctx.fs_shape = None if full_scales is None else full_scales.shape
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, gy):
        x, param = ctx.saved_tensors
        layer = ctx.layer
        need = ctx.needs_input_grad
        host = layer._host(param)
        gx = torch.zeros_like(x) if need[0] else None
        dev = x.device
        gp = torch.zeros(host.shape, dtype=torch.float32, device=dev) if need[1] else None
        gr = torch.zeros(ctx.range_shape, device=dev) if (ctx.learned and need[2]) else None
        gfs = (torch.zeros(ctx.fs_shape, device=dev) if (ctx.fs_shape is not None and need[3])
               else None)
        for e, s, t, rng, fs in ctx.used:
            w = layer._matrix(host, e)
            gxe, gwe, gre, gfe = training.grads(
                gy[s:t], x[s:t].detach(), w, layer.config, input_range=rng, full_scale=fs,
                need_x=need[0], need_w=need[1], need_range=gr is not None,
                need_full_scale=gfs is not None)
            if gfs is not None and gfe is not None:
                gfs[e] += gfe
            if gx is not None:
                gx[s:t] = gxe.to(x.dtype)
            if gp is not None:
                gp[e] += gwe.t() if layer.is_transposed else gwe
            if gr is not None:
                gr[e] += gre
        if gp is not None:
            gp = gp.to(device=param.device, dtype=param.dtype)
        return gx, gp, gr, gfs, None, None, None


class PhotonicExperts(PhotonicModule):
    """Fused experts on the optical array: ``forward(hidden_states, top_k_index, top_k_weights)``.

    Same contract as transformers' ``DeepseekV3Experts``: hidden_states [T, H], top_k_index /
    top_k_weights [T, k]; returns [T, H]. Weights stay the original Parameters (``gate_up_proj``
    [E, 2I, H], ``down_proj`` [E, H, I], or transposed when the source module has
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
        self._label(self.gate_up_proj, "gate_up_proj")
        self._label(self.down_proj, "down_proj")

    @classmethod
    def from_module(cls, mod: nn.Module, config=None, name: str = "") -> "PhotonicExperts":
        has_bias = getattr(mod, "has_bias", False)
        return cls(mod.gate_up_proj, mod.down_proj, mod.act_fn, config=config, name=name,
                   is_transposed=bool(getattr(mod, "is_transposed", False)),
                   is_concatenated=bool(getattr(mod, "is_concatenated", True)),
                   gate_up_proj_bias=getattr(mod, "gate_up_proj_bias", None) if has_bias else None,
                   down_proj_bias=getattr(mod, "down_proj_bias", None) if has_bias else None
                   ).train(mod.training)

    @staticmethod
    def is_fused_experts(mod: nn.Module) -> bool:
        gu, dn = getattr(mod, "gate_up_proj", None), getattr(mod, "down_proj", None)
        return (isinstance(gu, torch.Tensor) and isinstance(dn, torch.Tensor) and gu.dim() == 3
                and dn.dim() == 3 and hasattr(mod, "act_fn")
                and getattr(mod, "has_gate", True) and not getattr(mod, "has_post_expert_norm", False))

    def extra_repr(self) -> str:
        return (f"num_experts={self.num_experts}, hidden={self.hidden_dim}, "
                f"intermediate={self.intermediate_dim}, preset={self.config.name!r}")

    # ------------------------------------------------------------------ weights
    OPTICAL_WEIGHTS = ("gate_up_proj", "down_proj")

    def _host(self, param: torch.Tensor) -> torch.Tensor:
        return self.kernel_view(param)

    def _matrix(self, host: torch.Tensor, e: int) -> torch.Tensor:
        """Expert ``e``'s [out, in] matrix, a view of the (host) 3-D weight."""
        w = host[e]
        return w.t() if self.is_transposed else w

    def states(self, e: int):
        """The programmed (gate_up, down) cells of expert ``e`` (programs if needed)."""
        return tuple(store.entry(p, self._matrix(self._host(p), e), self.config, e).state
                     for p in (self.gate_up_proj, self.down_proj))

    def program_all(self) -> None:
        for e in range(self.num_experts):
            self.states(e)

    def training_matrices(self) -> list:
        out = []
        for what, p in ((".gate_up_proj", self.gate_up_proj), (".down_proj", self.down_proj)):
            host = self._host(p)
            out.extend((what, e, p, self._matrix(host, e)) for e in range(self.num_experts))
        return out

    def program_cells(self) -> None:
        self.program_all()

    _RANGES = (("input_range", "input", "input_range"), ("adc_full_scale", "adc", "full_scale"))

    def make_range_parameters(self, name: str, inputs: bool, outputs: bool) -> list:
        out = []
        for attr in ("gate_up_proj", "down_proj"):
            p = getattr(self, attr)
            host = self._host(p)
            for suffix, what, _ in self._RANGES:
                if not (inputs if what == "input" else outputs):
                    continue
                rp = nn.Parameter(torch.stack([
                    hwa.calibrated_ranges(self, p, self._matrix(host, e), e, name, what)
                    for e in range(self.num_experts)]))
                setattr(self, attr.replace("_proj", "_") + suffix, rp)
                out.append(rp)
        return out

    def push_ranges(self) -> None:
        """Hands the learned ranges (if any) to the programmed experts' converters."""
        for i, attr in enumerate(("gate_up_proj", "down_proj")):
            for suffix, _, field in self._RANGES:
                value = getattr(self, attr.replace("_proj", "_") + suffix, None)
                if isinstance(value, nn.Parameter):
                    for e in range(self.num_experts):
                        v = value[e].detach().to("cpu").float()
                        setattr(self.states(e)[i], field,
                                v.clamp(min=1e-6).contiguous() if field == "full_scale"
                                else v.clone())

    @property
    def cells_written(self) -> int:
        return sum(s.cells_written for e in range(self.num_experts) for s in self.states(e))

    def _project(self, x: torch.Tensor, ends, param: torch.Tensor, bias: Optional[torch.Tensor],
                 expert_ids: torch.Tensor, what: str, check: bool) -> torch.Tensor:
        if hwa.training_forward(self):
            prefix = what[1:].replace("_proj", "_")
            y = _GroupedTraining.apply(x, param, getattr(self, prefix + "input_range", None),
                                       getattr(self, prefix + "adc_full_scale", None), self,
                                       ends, what)
        elif torch.is_grad_enabled() and (x.requires_grad or param.requires_grad):
            y = _GroupedStraightThrough.apply(x, param, self, ends, what, check)
        else:
            y = self._optical_project(x, ends, param, what, check)
        if bias is not None:
            y = y + bias[expert_ids]
        return y

    def _optical_project(self, x: torch.Tensor, ends, param: torch.Tensor, what: str,
                         check: bool) -> torch.Tensor:
        host = self._host(param)
        xd = x.detach()
        with torch.no_grad():
            y = expert_products(xd, ends, param, lambda e: self._matrix(host, e), self.config)
            if check and xd.shape[0] and not self.released:
                starts = [0] + list(ends[:-1])
                ref = torch.cat([xd[s:t].float() @ self._matrix(host, e).float().t()
                                 for e, (s, t) in enumerate(zip(starts, ends)) if t > s])
                self._check_faithful(y[:ends[-1]], ref, what)
        return y.to(x.dtype)

    def _gate(self, proj: torch.Tensor) -> torch.Tensor:
        if self.is_concatenated:
            gate, up = proj.chunk(2, dim=-1)
        else:
            gate, up = proj[..., 0::2], proj[..., 1::2]
        return self.act_fn(gate) * up

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                top_k_weights: torch.Tensor) -> torch.Tensor:
        if hidden_states.shape[-1] != self.hidden_dim:
            raise ValueError(f"{self.photonic_name or 'PhotonicExperts'}: hidden_states shape "
                             f"{tuple(hidden_states.shape)} does not match gate_up_proj shape "
                             f"{tuple(self.gate_up_proj.shape)} (hidden={self.hidden_dim})")
        self.check_inference_only(hidden_states, top_k_weights)
        if not hwa.training_forward(self):
            self.program_all()  # all experts' cells are written once, up front
            self.push_ranges()
        device = hidden_states.device
        # Gradients (when needed) flow to the inputs, the routing weights, the biases and, straight
        # through the optical products, to the expert weights.
        kdev = self.kernel_device()
        x_all = hidden_states.to(kdev)
        num_top_k = top_k_index.size(-1)
        num_tokens = x_all.size(0)
        with torch.no_grad():
            expert_ids = top_k_index.detach().to("cpu").reshape(-1)
            expert_ids_g, perm = torch.sort(expert_ids)
            counts = torch.histc(expert_ids_g.float(), bins=self.num_experts, min=0,
                                 max=self.num_experts - 1)
            ends = torch.cumsum(counts, dim=0, dtype=torch.int32).tolist()
            inv_perm = torch.empty_like(perm)
            inv_perm[perm] = torch.arange(perm.size(0))
            perm, inv_perm, expert_ids_g = perm.to(kdev), inv_perm.to(kdev), expert_ids_g.to(kdev)
        sample_weights = top_k_weights.to(kdev).reshape(-1)
        x = x_all[perm // num_top_k]
        weights_g = sample_weights[perm]
        gb = None if self.gate_up_proj_bias is None else self.gate_up_proj_bias.to(kdev)
        db = None if self.down_proj_bias is None else self.down_proj_bias.to(kdev)
        check = self.calibration_error is None
        proj = self._project(x, ends, self.gate_up_proj, gb, expert_ids_g, ".gate_up_proj", check)
        proj = self._gate(proj)
        proj = self._project(proj, ends, self.down_proj, db, expert_ids_g, ".down_proj", check)
        weighted = proj * weights_g.unsqueeze(-1)
        weighted = weighted[inv_perm]
        out = weighted.view(num_tokens, num_top_k, weighted.shape[-1]).sum(dim=1)
        return out.to(device=device, dtype=hidden_states.dtype)

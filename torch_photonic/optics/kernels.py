"""Thin Python wrappers over the optical C++ ops (``torch.ops.photonic.program/drift/
calibrate/mvm``), taking a :class:`~torch_photonic.HardwareConfig` instead of loose scalars.

A :class:`ProgrammedState` is the non-volatile content of the PCM cells for one weight matrix:
``weff`` (float32 [out, in]: the programmed, noisy conductances times their block scales: 4 bytes
per weight), ``scales`` (float32 [out, k_tiles]) and the calibrated ADC full scale. The drift
spread is regenerated from ``seed``; an aged copy of ``weff`` is cached for the current time
(another 4 bytes per weight while the layer is aged).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch

from ..hardware.config import HardwareConfig

__all__ = ["ProgrammedState", "program", "drift", "calibrate", "mvm", "reference",
           "full_scale_tensor", "drift_active"]

_ops = torch.ops.photonic


@dataclass(eq=False)
class ProgrammedState:
    weff: Optional[torch.Tensor]   # conductances at t0 (None while an aged copy replaces it)
    scales: torch.Tensor
    config: HardwareConfig
    seed: int
    full_scale: Optional[torch.Tensor] = None   # [out, k_tiles]; None until calibrated
    cells_written: int = 0
    times_programmed: int = 0
    _aged: Optional[torch.Tensor] = field(default=None, repr=False)
    _aged_t: float = float("nan")
    _source: Optional[torch.Tensor] = field(default=None, repr=False)  # the weight (not a copy)
    _shape: Tuple[int, int] = (0, 0)

    @property
    def shape(self) -> Tuple[int, int]:
        return self._shape

    def base_weight(self) -> torch.Tensor:
        """Conductances at t0. While the state is aged, the t0 copy is dropped (the cells only
        hold their current conductance) and regenerated here deterministically from the source
        weight and the seed (not a write: same cells, same noise draw)."""
        if self.weff is not None:
            return self.weff
        return _program_raw(self._source, self.config, self.seed)[0]

    @property
    def nbytes(self) -> int:
        """Bytes held for this programmed weight (state + caches)."""
        n = self.scales.nbytes
        if self.weff is not None:
            n += self.weff.nbytes
        if self.full_scale is not None:
            n += self.full_scale.nbytes
        if self._aged is not None:
            n += self._aged.nbytes
        return n

    def bytes_per_weight(self) -> float:
        return self.nbytes / max(1, self._shape[0] * self._shape[1])

    def weight_at(self, seconds: float) -> torch.Tensor:
        """Effective (aged) weight at ``seconds`` after programming, cached per time."""
        cfg = self.config
        if not drift_active(cfg, seconds):
            if self.weff is None:
                self.weff = self.base_weight()
            self._aged, self._aged_t = None, float("nan")
            return self.weff
        if self._aged is None or self._aged_t != seconds:
            base = self.base_weight()
            if self._source is not None:  # t0 can be regenerated: hold only the aged copy
                self.weff = None
            self._aged = None  # free before allocating the new one
            self._aged = _drift_raw(base, self, seconds)
            self._aged_t = seconds
        return self._aged


def drift_active(cfg: HardwareConfig, seconds: float) -> bool:
    p = cfg.pcm
    return seconds > p.drift_t0_s and (p.drift_nu != 0 or p.drift_nu_std != 0)


def program(weight: torch.Tensor, config: HardwareConfig, seed: Optional[int] = None,
            keep_source: bool = True
            ) -> ProgrammedState:
    """Write ``weight`` ([out, in]) into PCM cells: quantise, map to levels, draw noise once."""
    if weight.dim() != 2:
        raise ValueError(f"program: weight must be 2-D [out, in], got shape {tuple(weight.shape)}")
    seed = config.seed if seed is None else int(seed)
    a = config.array
    weff, scales = _program_raw(weight, config, seed)
    st = ProgrammedState(weff=weff, scales=scales, config=config, seed=seed,
                         _source=_alias(weight) if keep_source else None,
                         _shape=tuple(weff.shape))
    st.cells_written = weff.numel() * a.cells_per_weight
    st.times_programmed = 1
    fs = config.converters.adc_full_scale
    if not isinstance(fs, str):
        st.full_scale = torch.full_like(scales, float(fs))
    return st


def _alias(weight: torch.Tensor) -> torch.Tensor:
    """A view of ``weight``'s memory that keeps neither the tensor nor its autograd graph alive
    (the store keys states weakly by that tensor)."""
    w = weight.detach()
    return torch.empty(0, dtype=w.dtype, device=w.device).set_(
        w.untyped_storage(), w.storage_offset(), w.shape, w.stride())


def _program_raw(weight: torch.Tensor, config: HardwareConfig, seed: int):
    f, a, p = config.formats, config.array, config.pcm
    w = weight.detach()
    if w.device.type != "cpu":
        w = w.to("cpu")
    if w.dtype != torch.float32:
        w = w.float()
    return _ops.program(w, f.weight_format, f.weight_scaling, f.scale_rule, p.levels,
                        a.cells_per_weight, p.quantize_levels, float(p.program_noise),
                        a.tile_rows, seed)


def drift(state: ProgrammedState, seconds: float) -> torch.Tensor:
    """Aged effective weight ``seconds`` after programming (no state change)."""
    return _drift_raw(state.base_weight(), state, seconds)


def _drift_raw(base: torch.Tensor, state: ProgrammedState, seconds: float) -> torch.Tensor:
    cfg = state.config
    p, a = cfg.pcm, cfg.array
    return _ops.drift(base, state.scales, a.cells_per_weight, a.tile_rows,
                      float(p.drift_nu), float(p.drift_nu_std), float(p.drift_t0_s),
                      float(seconds), bool(p.drift_compensation), state.seed)


def calibrate(x: torch.Tensor, state: ProgrammedState, seconds: float = 0.0) -> torch.Tensor:
    """ADC full scale per (output, k-tile) from a calibration batch (k-sigma of partial sums)."""
    cfg = state.config
    f, c, a = cfg.formats, cfg.converters, cfg.array
    return _ops.calibrate(x, state.weight_at(seconds), state.scales, f.activation_format,
                          f.activation_scaling, f.scale_rule, c.dac_bits, c.dac_rounding,
                          a.tile_rows, a.tile_cols, float(c.adc_calibration_sigma))


def full_scale_tensor(state: ProgrammedState) -> torch.Tensor:
    if state.full_scale is not None:
        return state.full_scale
    # Not calibrated and no fixed value: the largest possible partial sum (never clips).
    return torch.full_like(state.scales, float(state.config.array.tile_rows))


def mvm(x: torch.Tensor, state: ProgrammedState, seconds: float = 0.0, seed: int = 0,
        bias: Optional[torch.Tensor] = None, calibrate_if_needed: bool = True) -> torch.Tensor:
    """Optical ``x @ W.T (+ bias)`` on a programmed state; returns float32 on x's device."""
    cfg = state.config
    f, c, a, p = cfg.formats, cfg.converters, cfg.array, cfg.pcm
    dev = x.device
    if dev.type != "cpu":
        x = x.to("cpu")
        if bias is not None:
            bias = bias.to("cpu")
    w = state.weight_at(seconds)
    if state.full_scale is None and calibrate_if_needed and _needs_fs(cfg):
        state.full_scale = calibrate(x, state, seconds)
    y = _ops.mvm(x, w, state.scales, full_scale_tensor(state), f.activation_format,
                 f.activation_scaling, f.scale_rule, c.dac_bits, c.dac_rounding, c.adc_bits,
                 c.adc_rounding, float(p.read_noise_shot), float(p.read_noise_thermal),
                 a.tile_rows, a.tile_cols, a.cells_per_weight, float(p.drift_nu),
                 float(p.drift_nu_std), float(p.drift_t0_s), bool(p.drift_compensation),
                 0.0,  # drift already applied by weight_at (cached)
                 state.seed, int(seed), bias)
    return y if dev.type == "cpu" else y.to(dev)


def _needs_fs(cfg: HardwareConfig) -> bool:
    p, c = cfg.pcm, cfg.converters
    return c.adc_rounding or p.read_noise_shot > 0 or p.read_noise_thermal > 0


def reference(x: torch.Tensor, weight: torch.Tensor, config: HardwareConfig,
              bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The exact digital product ``fake_quantize(x) @ fake_quantize(W).T`` for ``config``'s
    formats (what the optical result equals with noise, drift and rounding off)."""
    f = config.formats
    xq, wq = x.float(), weight.detach().float()
    if f.activation_format != "none" or f.weight_format != "none":
        fq = _ops.fake_quantize
        if f.activation_format != "none":
            xq = fq(xq.reshape(-1, xq.shape[-1]), f.activation_format, f.activation_scaling,
                    f.scale_rule, False).float().reshape(xq.shape)
        if f.weight_format != "none":
            wq = fq(wq, f.weight_format, f.weight_scaling, f.scale_rule, True).float()
    return torch.nn.functional.linear(xq, wq, None if bias is None else bias.float())

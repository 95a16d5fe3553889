"""Thin Python wrappers over the optical kernels (``torch.ops.photonic.program/drift/mvm``),
taking a :class:`~torch_photonic.HardwareConfig` instead of loose scalars.

Two implementations of the kernels give the same bits on the CPU: the C++ ops (the default for
CPU tensors) and :mod:`torch_photonic.optics.torch_kernels`, in composable torch ops (any device
PyTorch supports). ``TORCH_PHOTONIC_BACKEND=torch`` makes CPU tensors use the torch one (read at
every call); tensors on other devices (CUDA, ...) always do. :func:`kernel_backend` says which one
CPU tensors use now.

A :class:`ProgrammedState` is the non-volatile content of the PCM cells for one weight matrix:
``weff`` (float32 [out, in]: the programmed, noisy conductances times their block scales: 4 bytes
per weight), ``scales`` (float32 [out, k_tiles]), the ADC full scales and the static input ranges
of its tiles (:mod:`torch_photonic.optics.calibration`), and the clip counts of its reads. The
cells' state at an age (drift and accumulated read noise, regenerated from ``seed``) is cached for
the current age; while it is, the t0 copy is dropped when the source weight can regenerate it.
The common-mode light of balanced detection is computed from a bfloat16 copy of the cells
(2 bytes per weight): at most ~6.5 bytes per weight in all.

:func:`compact` makes a state hold its cells only, once the digital weight is let go: the
current cells (float32) and the t0 cells as one-byte level codes (:mod:`.cell_codes`), no
common-mode copy (computed tile by tile in each product): ~5 bytes per weight, at t0 or aged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch

from ..hardware.photon_budget import kernel_noise
from ..hardware.config import HardwareConfig
from . import cell_codes, host_memory
from .backend import BACKEND_ENV, kernel_backend, ops_for, on_host as _on_host  # noqa: F401

__all__ = ["ProgrammedState", "ClipCounts", "program", "compact", "check_codes", "drift", "mvm",
           "reference", "full_scale_tensor", "drift_active", "kernel_backend", "ops_for"]

_ops = torch.ops.photonic


@dataclass
class ClipCounts:
    """What the converters of one weight saw: input samples and how many the DAC clipped, output
    conversions and how many the ADC clipped, and bound-management retries (token x tile)."""
    inputs: int = 0
    inputs_clipped: int = 0
    outputs: int = 0
    outputs_clipped: int = 0
    retries: int = 0

    def add(self, stats: torch.Tensor) -> None:
        v = [int(x) for x in stats.tolist()]
        self.inputs += v[0]
        self.inputs_clipped += v[1]
        self.outputs += v[2]
        self.outputs_clipped += v[3]
        self.retries += v[4]

    @property
    def input_clip_rate(self) -> float:
        return self.inputs_clipped / self.inputs if self.inputs else 0.0

    @property
    def output_clip_rate(self) -> float:
        return self.outputs_clipped / self.outputs if self.outputs else 0.0

    def as_dict(self) -> dict:
        return dict(inputs=self.inputs, inputs_clipped=self.inputs_clipped,
                    outputs=self.outputs, outputs_clipped=self.outputs_clipped,
                    retries=self.retries, input_clip_rate=self.input_clip_rate,
                    output_clip_rate=self.output_clip_rate)


@dataclass(eq=False)
class ProgrammedState:
    weff: Optional[torch.Tensor]   # conductances at t0 (None while an aged copy replaces it)
    scales: torch.Tensor
    config: HardwareConfig
    seed: int
    full_scale: Optional[torch.Tensor] = None    # [out, k_tiles] once calibrated, else None
    input_range: Optional[torch.Tensor] = None   # [k_tiles] static input ranges once calibrated
    cells_written: int = 0
    times_programmed: int = 0
    clips: ClipCounts = field(default_factory=ClipCounts)
    calibration: Optional[object] = field(default=None, repr=False)  # a collector while calibrating
    _cm: Optional[torch.Tensor] = field(default=None, repr=False)    # bf16 common-mode cells
    _cm_of: Optional[torch.Tensor] = field(default=None, repr=False)  # the weight _cm was made from
    _aged: Optional[torch.Tensor] = field(default=None, repr=False)
    _aged_t: float = float("nan")
    _source: Optional[torch.Tensor] = field(default=None, repr=False)  # the weight (not a copy)
    _codes: Optional[torch.Tensor] = field(default=None, repr=False)  # uint8 t0 level codes
    compact: bool = False  # holds the cells only (no source, no common-mode copy)
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
        if self._codes is not None:
            return cell_codes.program_codes(self._codes, self.scales, self.config, self.seed)
        return _program_raw(self._source, self.config, self.seed)[0]

    def regenerates_t0(self) -> bool:
        """True if the t0 cells can be rebuilt (from the source weight or the level codes)."""
        return self._source is not None or self._codes is not None

    @property
    def nbytes(self) -> int:
        """Bytes held for this programmed weight (state + caches)."""
        n = self.scales.nbytes
        if self.weff is not None:
            n += self.weff.nbytes
        for t in (self.full_scale, self.input_range, self._aged, self._cm, self._codes):
            if t is not None:
                n += t.nbytes
        return n

    def bytes_per_weight(self) -> float:
        return self.nbytes / max(1, self._shape[0] * self._shape[1])

    def common_mode_cells(self, w: torch.Tensor) -> torch.Tensor:
        """bfloat16 cells for the common-mode light: |w| for pairs, w for single cells."""
        if self._cm is None or self._cm_of is not w:
            self._cm = None
            cm = w.abs() if self.config.array.cells_per_weight == 2 else w
            self._cm, self._cm_of = cm.to(torch.bfloat16), w
        return self._cm

    def weight_at(self, seconds: float) -> torch.Tensor:
        """Effective (aged) weight at ``seconds`` after programming, cached per time."""
        cfg = self.config
        if not drift_active(cfg, seconds):
            if self.weff is None:
                self.weff = self.base_weight()
            self._aged, self._aged_t = None, float("nan")
            return self.weff
        if self._aged is None or self._aged_t != seconds:
            if self.weff is None and self.regenerates_t0():
                self._aged = self._cm = self._cm_of = None  # freed before t0 is rebuilt
            base = self.base_weight()
            if self.regenerates_t0():  # hold only the aged copy
                self.weff = None
            self._aged = self._cm = self._cm_of = None  # free before allocating the new ones
            self._aged = _drift_raw(base, self, seconds)
            self._aged_t = seconds
            if self.compact:
                del base
                host_memory.trim()  # the t0 cells rebuilt for the drift leave the process
        return self._aged


def compact(state: ProgrammedState, check: bool = True) -> bool:
    """Makes ``state`` hold its cells only, so that the digital weight it was programmed from
    can be let go: level codes of the t0 cells are built from the source weight when the config
    has them, the common-mode copy is dropped and the reference to the source weight released.
    Outputs do not change. With ``check`` the codes are checked at once (:func:`check_codes`);
    without it they wait next to the float32 t0 cells until the caller, once the source is
    freed, calls :func:`check_codes` (less memory at a time). Returns True if codes are held."""
    t0 = state.base_weight()
    codes = state._codes
    if state._source is not None and cell_codes.supported(state.config):
        src = state._source
        if src.dtype != torch.float32:
            src = src.float()
        codes = cell_codes.encode(src.to(t0.device), state.config)
        del src
    state._codes = codes
    state._source = None
    state._cm = state._cm_of = None
    state.compact = True
    state.weff = t0
    return check_codes(state) if check else codes is not None


def check_codes(state: ProgrammedState) -> bool:
    """Keeps a compact state's level codes only if they rebuild its t0 cells bit for bit (else
    they are dropped and the float32 t0 cells stay); once they do, an aged state drops its t0
    copy (the codes rebuild it). Returns True if the state holds codes."""
    if state._codes is None:
        return False
    if state.weff is None:  # checked before: the codes replace the t0 cells already
        return True
    if not cell_codes.rebuilds(state._codes, state.scales, state.config, state.seed,
                               state.weff):
        state._codes = None
        return False
    if state._aged is not None:
        state.weff = None
    return True


def drift_active(cfg: HardwareConfig, seconds: float) -> bool:
    """True if the cells at ``seconds`` after programming differ from the programmed ones (drift,
    or read noise accumulated since programming: present from the first read on)."""
    return cfg.pcm.ages and seconds >= 0


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
    if _on_host(w.device) and w.device.type != "cpu":
        w = w.to("cpu")
    if w.dtype != torch.float32:
        w = w.float()
    return ops_for(w.device).program(w, f.weight_format, f.weight_scaling, f.scale_rule,
                                     p.levels, a.cells_per_weight, p.quantize_levels,
                                     list(p.program_noise_coeffs), a.tile_rows, seed)


def drift(state: ProgrammedState, seconds: float) -> torch.Tensor:
    """Aged effective weight ``seconds`` after programming (no state change)."""
    return _drift_raw(state.base_weight(), state, seconds)


def _drift_raw(base: torch.Tensor, state: ProgrammedState, seconds: float) -> torch.Tensor:
    cfg = state.config
    p, a = cfg.pcm, cfg.array
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0 (time since programming), got {seconds}")
    read = [float(p.read_noise_q0), float(p.read_noise_q_exponent), float(p.read_noise_q_max),
            float(p.read_time_s)]
    return ops_for(base.device).drift(base, state.scales.to(base.device), a.cells_per_weight,
                                      a.tile_rows, list(p.drift_nu_coeffs),
                                      list(p.drift_nu_range), list(p.drift_nu_std_coeffs),
                                      list(p.drift_nu_std_range), float(p.drift_t0_s), read,
                                      float(seconds), p.drift_compensation, state.seed)


def full_scale_tensor(state: ProgrammedState) -> torch.Tensor:
    """The ADC full scale of each (output, k-tile) in normalised partial-sum units: calibrated
    per column, or the mapping's fixed full scale."""
    if state.full_scale is not None:
        return state.full_scale
    return _fixed_full_scale(float(state.config.mapping.adc_full_scale))


_FS_CACHE: dict = {}


def _fixed_full_scale(v: float) -> torch.Tensor:
    t = _FS_CACHE.get(v)
    if t is None:
        t = _FS_CACHE[v] = torch.tensor(v, dtype=torch.float32)
    return t


def mvm(x: torch.Tensor, state: ProgrammedState, seconds: float = 0.0, seed: int = 0,
        bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Optical ``x @ W.T (+ bias)`` on a programmed state; returns float32 on x's device. The
    converters' clip counts are added to ``state.clips``."""
    cfg = state.config
    f, c, a, m = cfg.formats, cfg.converters, cfg.array, cfg.mapping
    dev = x.device
    if _on_host(dev) and dev.type != "cpu":
        x = x.to("cpu")
        if bias is not None:
            bias = bias.to("cpu")
    w = state.weight_at(seconds)
    if state.calibration is not None:
        state.calibration.observe(x, state, w)
    noise = kernel_noise(cfg)
    noisy = noise["photons_per_unit"] > 0 or noise["receiver_sigma"] > 0
    cm = state.common_mode_cells(w) if noisy and not state.compact else None
    y, stats = ops_for(x.device).mvm(
        x, w, state.scales, full_scale_tensor(state), input_ranges_of(state), cm,
        f.activation_format, f.activation_scaling, f.scale_rule, c.dac_bits, c.dac_rounding,
        m.block_exponent, c.adc_bits, c.adc_rounding, float(noise["photons_per_unit"]),
        float(noise["receiver_sigma"]), int(m.bound_management), a.tile_rows, a.tile_cols,
        a.cells_per_weight, int(seed), bias)
    state.clips.add(stats)
    return y if dev.type == "cpu" else y.to(dev)


def input_ranges_of(state: ProgrammedState) -> Optional[torch.Tensor]:
    """The static input ranges of the tiles, or None for per-token abs-max gains (the mapping's
    choice; a static mapping not yet calibrated uses per-token gains and warns once)."""
    if state.config.mapping.input_range != "static":
        return None
    if state.input_range is None and state.calibration is None:
        from .calibration import warn_uncalibrated
        warn_uncalibrated(state)
    return state.input_range


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

"""The hardware-aware training product: what a photonic layer computes in a training forward.

Training keeps the weights in full precision for the optimiser and programs nothing: every
training forward draws the cells afresh, as the preset's physics prescribes, runs the optical
kernel on them, and lets the gradients through straight (rounding and noise as identities), except
where a converter clips, whose true gradient is zero.

**Cells at the training age.** A cell is programmed to the level of its normalised weight
``w / s`` (``s``: the column's abs-max in its k-tile, as :func:`kernels.program` maps it) and then
drifts and gathers 1/f read noise until ``seconds``. What the chip holds at that age, given the
level it was programmed to, is measured once per weight matrix with the real kernels
(:func:`kernels.program` and :func:`kernels.drift` on the layer's own weights, global drift
compensation included): per level, the mean offset and the standard deviation of the aged cell
from its level (a :class:`CellNoiseTable`). Each training forward then draws
``level + offset(level) + sigma(level) * z`` with fresh normal ``z``: the first two moments of the
deployed cells, level by level, at a cost of a few element-wise passes instead of the drift
kernel's per-cell power law. The products then run on the ``mvm`` kernel with that draw: per-tile
DAC gains, detector shot and receiver noise, the ADC, bound management, all as deployed.

**Kernels.** The draw and the product run on :func:`kernels.ops_for` of their tensors' device: the
C++ ops for CPU tensors (or the torch ones with ``TORCH_PHOTONIC_BACKEND=torch``, the same bits),
the torch ops elsewhere, so a layer trains on any device PyTorch supports.

**Gradients** (:func:`grads`): ``dL/dx = (gy @ W) * [x inside its input range]`` and
``dL/dW = gy^T @ clip(x)``; where the mapping's ADC can clip (no bound management), a partial sum
beyond its full scale passes no gradient either. A learned static input range ``r`` of a tile gets
the gradient of ``r * clip(x / r)``: ``sum over clipped inputs of sign(x) * (gy @ W)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from ..hardware.config import HardwareConfig
from ..hardware.photon_budget import kernel_noise
from . import kernels
from .calibration import input_gains
from .torch_kernels.common import fake_quant

__all__ = ["CellNoiseTable", "cell_noise_table", "level_index", "training_weight", "product",
           "grads", "adc_can_clip"]


@dataclass(eq=False)
class CellNoiseTable:
    """Per programming level: mean offset and standard deviation of the cell at ``seconds``,
    in units of the tile scale (``offset`` is signed along the weight's sign for pairs)."""
    offset: torch.Tensor    # [levels]
    sigma: torch.Tensor     # [levels]
    seconds: float
    samples: int


def _tile_scales(w: torch.Tensor, tile_rows: int) -> torch.Tensor:
    """Abs-max of each (row, k-tile) of ``w``: [N, T]."""
    n, k = w.shape
    t = -(-k // tile_rows)
    pad = t * tile_rows - k
    a = w.abs()
    if pad:
        a = torch.nn.functional.pad(a, (0, pad))
    return a.reshape(n, t, tile_rows).amax(dim=2)


def _expand(scales: torch.Tensor, k: int, tile_rows: int) -> torch.Tensor:
    """[N, T] tile values repeated over their rows: [N, K]."""
    if scales.shape[1] == 1:
        return scales.expand(scales.shape[0], k)
    return scales.repeat_interleave(tile_rows, dim=1)[:, :k]


def _steps(cfg: HardwareConfig) -> int:
    return int(cfg.pcm.levels) - 1 if cfg.pcm.quantize_levels else 64


def level_index(wn: torch.Tensor, cfg: HardwareConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """(level index [same shape, int64], the programmed target in normalised weight units) for
    normalised weights ``wn`` in [-1, 1]: pairs program |wn| on one cell (index by magnitude);
    single cells program (wn + 1) / 2 (index by value). Without level rounding the index is a
    64-bin histogram bin and the target is ``wn`` itself."""
    steps = _steps(cfg)
    pair = cfg.array.cells_per_weight == 2
    g = wn.abs() if pair else 0.5 * (wn + 1.0)
    if cfg.pcm.quantize_levels:
        idx = torch.round(g * steps)
        gq = idx / steps
        target = torch.copysign(gq, wn) if pair else 2.0 * gq - 1.0
    else:
        idx = torch.clamp(torch.floor(g * steps), max=steps - 1)
        target = wn
    return idx.long(), target


def _formatted(w: torch.Tensor, cfg: HardwareConfig) -> torch.Tensor:
    f = cfg.formats
    if f.weight_format == "none":
        return w
    return fake_quant(w, f.weight_format, f.weight_scaling, f.scale_rule, True)


def cell_noise_table(weight: torch.Tensor, cfg: HardwareConfig, seconds: float,
                     seed: int) -> CellNoiseTable:
    """Measures the cells of ``weight`` ([out, in]) programmed with ``seed`` and aged
    ``seconds``, with the real kernels, level by level (see the module docstring)."""
    w = _formatted(weight.detach().float().cpu(), cfg)
    state = kernels.program(w, cfg, seed, keep_source=False)
    aged = state.weight_at(seconds) if kernels.drift_active(cfg, seconds) else state.base_weight()
    tr = cfg.array.tile_rows
    s = _expand(state.scales, w.shape[1], tr)
    safe = torch.where(s > 0, s, torch.ones(()))
    wn = torch.where(s > 0, w / safe, torch.zeros(()))
    idx, target = level_index(wn, cfg)
    dev = torch.where(s > 0, aged / safe, torch.zeros(())) - target
    if cfg.array.cells_per_weight == 2:
        dev = dev * torch.sign(wn)   # offsets along the weight's sign; zero weights stay zero
    bins = _steps(cfg) + 1
    i = idx.reshape(-1)
    d = dev.reshape(-1)
    n = torch.bincount(i, minlength=bins).double()
    s1 = torch.bincount(i, weights=d, minlength=bins).double()
    s2 = torch.bincount(i, weights=d * d, minlength=bins).double()
    mean = torch.where(n > 0, s1 / n.clamp(min=1), torch.zeros((), dtype=torch.float64))
    var = torch.where(n > 1, (s2 - n * mean * mean) / (n - 1).clamp(min=1),
                      torch.zeros((), dtype=torch.float64))
    return CellNoiseTable(offset=mean.float(), sigma=var.clamp(min=0).sqrt().float(),
                          seconds=float(seconds), samples=int(i.numel()))


def training_weight(weight: torch.Tensor, cfg: HardwareConfig, table: Optional[CellNoiseTable],
                    seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(cells drawn for one training forward, in weight units [N, K]; tile scales [N, T]), by
    the ``draw_cells`` kernel of the weight's device (one pass: format, tile scales, levels,
    then ``target + offset(level) * sign + sigma(level) * z`` with normals from ``seed``), on
    that device (host memory: the CPU). ``table`` None draws no noise: the weight on its levels."""
    f, a, p = cfg.formats, cfg.array, cfg.pcm
    w = weight.detach()
    if kernels._on_host(w.device) and w.device.type != "cpu":
        w = w.to("cpu")
    off = None if table is None else table.offset
    sig = None if table is None else table.sigma
    return kernels.ops_for(w.device).draw_cells(
        w.float(), off, sig, f.weight_format, f.weight_scaling, f.scale_rule, int(p.levels),
        a.cells_per_weight, bool(p.quantize_levels), a.tile_rows, int(seed))


def adc_can_clip(cfg: HardwareConfig) -> bool:
    """True when a partial sum can end beyond the ADC's range (no bound management, and a full
    scale below the tile's row count or calibrated per column)."""
    m = cfg.mapping
    if not cfg.converters.adc_rounding or int(m.bound_management) > 0:
        return False
    return m.adc_range == "calibrated" or float(m.adc_full_scale) < cfg.array.tile_rows


def product(x: torch.Tensor, w_cells: torch.Tensor, scales: torch.Tensor, cfg: HardwareConfig,
            *, input_range: Optional[torch.Tensor], full_scale: Optional[torch.Tensor],
            noise: bool, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The optical product of ``x`` [M, K] with drawn cells: (y float32 [M, N], stats), by the
    ``mvm`` kernel of ``x``'s device."""
    f, c, a, m = cfg.formats, cfg.converters, cfg.array, cfg.mapping
    kn = kernel_noise(cfg) if noise else dict(photons_per_unit=0.0, receiver_sigma=0.0)
    noisy = kn["photons_per_unit"] > 0 or kn["receiver_sigma"] > 0
    cm = None
    if noisy:
        cm = (w_cells.abs() if a.cells_per_weight == 2 else w_cells).to(torch.bfloat16)
    fs = full_scale if full_scale is not None else torch.tensor(float(m.adc_full_scale))
    rng = None if input_range is None else input_range.detach().float().contiguous()
    return kernels.ops_for(x.device).mvm(
        x.float().contiguous(), w_cells, scales, fs, rng, cm, f.activation_format,
        f.activation_scaling, f.scale_rule, c.dac_bits, c.dac_rounding, m.block_exponent,
        c.adc_bits, c.adc_rounding, float(kn["photons_per_unit"]), float(kn["receiver_sigma"]),
        int(m.bound_management), a.tile_rows, a.tile_cols, a.cells_per_weight, int(seed), None)


def _activations(x: torch.Tensor, cfg: HardwareConfig) -> torch.Tensor:
    f = cfg.formats
    if f.activation_format == "none":
        return x
    return fake_quant(x, f.activation_format, f.activation_scaling, f.scale_rule, False)


def grads(gy: torch.Tensor, x: torch.Tensor, w: torch.Tensor, cfg: HardwareConfig, *,
          input_range: Optional[torch.Tensor], full_scale: Optional[torch.Tensor],
          need_x: bool, need_w: bool, need_range: bool, need_full_scale: bool = False
          ) -> Tuple[Optional[torch.Tensor], ...]:
    """Straight-through gradients of the optical product with the converters' clipping
    (module docstring): (dL/dx [M, K], dL/dW [N, K], dL/dranges [T], dL/dfull_scale [N, T]).
    The full scale's gradient exists where the ADC can clip: ``sum over clipped partial sums of
    gy s a sign(partial)`` (the gradient of ``s a clip(partial, fs)``)."""
    gy = gy.float()
    xf = x.float()
    dev = xf.device
    wf = w.detach().to(device=dev, dtype=torch.float32)
    ranges = None if input_range is None else input_range.detach().to(device=dev,
                                                                        dtype=torch.float32)
    tr = cfg.array.tile_rows
    k = xf.shape[1]
    t_count = -(-k // tr)
    inside = None
    xc = xf
    if input_range is not None:
        gains = input_gains(_activations(xf, cfg), cfg, ranges)  # [M, T]
        g_full = _expand(gains, k, tr)
        inside = xf.abs() <= g_full
        xc = torch.maximum(torch.minimum(xf, g_full), -g_full)
    g_fs = None
    if adc_can_clip(cfg):
        gx = torch.zeros_like(xf) if (need_x or need_range) else None
        gw = torch.zeros_like(wf) if need_w else None
        if need_full_scale:
            g_fs = torch.zeros(wf.shape[0], t_count, device=dev)
        scales = _tile_scales(_formatted(wf, cfg), tr)
        gains = input_gains(_activations(xf, cfg), cfg, ranges)
        fs = full_scale.to(dev) if full_scale is not None else torch.full(
            (wf.shape[0], t_count), float(cfg.mapping.adc_full_scale), device=dev)
        fs = fs.expand(wf.shape[0], t_count)
        for t in range(t_count):
            k0, k1 = t * tr, min(k, (t + 1) * tr)
            a_t = gains[:, t:t + 1].clamp(min=1e-38)
            s_t = scales[:, t].clamp(min=1e-38)
            partial = (xc[:, k0:k1] / a_t) @ wf[:, k0:k1].t() / s_t   # normalised partial sums
            kept = partial.abs() <= fs[:, t]
            g_t = gy * kept
            if g_fs is not None:
                g_fs[:, t] = ((gy * ~kept * torch.sign(partial)) * a_t).sum(0) * s_t
            if gx is not None:
                gx[:, k0:k1] = g_t @ wf[:, k0:k1]
            if gw is not None:
                gw[:, k0:k1] = g_t.t() @ xc[:, k0:k1]
    else:
        gx = gy @ wf if (need_x or need_range) else None
        gw = gy.t() @ xc if need_w else None
    g_range = None
    if need_range and input_range is not None:
        outside = (~inside).float() * torch.sign(xf) * gx
        pad = t_count * tr - k
        if pad:
            outside = torch.nn.functional.pad(outside, (0, pad))
        g_range = outside.reshape(-1, t_count, tr).sum(dim=(0, 2)).to(
            device=input_range.device, dtype=input_range.dtype)
    if gx is not None and inside is not None:
        gx = gx * inside
    if g_fs is not None and full_scale is not None:
        g_fs = g_fs.to(device=full_scale.device, dtype=full_scale.dtype)
    return (gx if need_x else None), gw, g_range, g_fs

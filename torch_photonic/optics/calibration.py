"""Calibration of a layer's converter ranges over many batches, as chips are set up before use.

Two ranges can be calibrated, per the config's ``mapping``:

* ``input_range = "static"``: one input range per k-tile, the ``input_percentile`` of |x| over
  every calibration batch (the DAC clips beyond it);
* ``adc_range = "calibrated"``: one ADC full scale per output column and k-tile, the
  ``adc_percentile`` of the normalised partial sums |y| over the calibration batches.

While a weight is being calibrated its products run with per-token gains and the mapping's fixed
ADC full scale; :func:`finish` sets the ranges. Values are kept per tile up to a bound
(:data:`MAX_SAMPLES` per tile, :data:`MAX_TOKENS` tokens for the ADC) by taking every n-th, so
memory stays bounded however many batches are seen; the percentile of that sample is the range.
When both ranges are calibrated, the ADC is calibrated in a second pass over the batches, with the
static input ranges of the first (``passes_needed``).
"""
from __future__ import annotations

import threading
import warnings
from typing import List, Optional

import torch

from .torch_kernels.common import fake_quant

__all__ = ["Collector", "finish", "passes_needed", "warn_uncalibrated", "MAX_SAMPLES",
           "MAX_TOKENS", "percentile"]

MAX_SAMPLES = 1 << 20     # |x| values kept per tile for the input percentile
MAX_TOKENS = 8192         # tokens kept for the per-column ADC percentile

_warned_lock = threading.Lock()
_warned: set = set()


def passes_needed(config) -> int:
    m = config.mapping
    return 2 if (m.input_range == "static" and m.adc_range == "calibrated") else 1


def percentile(values: torch.Tensor, q: float, dim: Optional[int] = None) -> torch.Tensor:
    """The ``q``-th percentile (nearest rank at or above q) of ``values`` (along ``dim``)."""
    if dim is None:
        values = values.reshape(-1)
        dim = 0
    n = values.shape[dim]
    k = min(n, max(1, int(-(-q * n // 100))))
    return values.float().kthvalue(k, dim=dim).values


def _thin(t: torch.Tensor, cap: int) -> torch.Tensor:
    """Every n-th row of ``t`` so that at most ``cap`` remain (deterministic)."""
    if t.shape[0] <= cap:
        return t
    step = -(-t.shape[0] // cap)
    return t[::step]


class Collector:
    """Calibration statistics of one programmed weight."""

    def __init__(self, phase: str) -> None:
        self.phase = phase               # "inputs" or "adc"
        self._x: List[torch.Tensor] = []  # per batch: [n, T] |x| samples per tile
        self._y: List[torch.Tensor] = []  # per batch: [tokens, N, T] |y|
        self.batches = 0

    def observe(self, x: torch.Tensor, state, w: torch.Tensor) -> None:
        cfg = state.config
        tr = cfg.array.tile_rows
        xq = _activations(x.reshape(-1, x.shape[-1]).float(), cfg)
        k = xq.shape[1]
        t_count = -(-k // tr)
        self.batches += 1
        if self.phase == "inputs":
            pad = t_count * tr - k
            xa = torch.nn.functional.pad(xq.abs(), (0, pad), value=float("nan"))
            per_tile = xa.reshape(-1, t_count, tr).transpose(1, 2).reshape(-1, t_count)
            self._x.append(_thin(per_tile, MAX_SAMPLES).clone())
            self._x = [_thin(torch.cat(self._x), MAX_SAMPLES)]
        else:
            y = normalised_partial_sums(xq, state, w).abs()
            self._y.append(_thin(y, MAX_TOKENS))
            self._y = [_thin(torch.cat(self._y), MAX_TOKENS)]

    def input_ranges(self, q: float) -> torch.Tensor:
        xs = torch.cat(self._x)
        out = []
        for t in range(xs.shape[1]):
            col = xs[:, t]
            col = col[~torch.isnan(col)]
            v = float(percentile(col, q)) if col.numel() else 0.0
            out.append(v if v > 0 else 1.0)  # an all-zero tile: any range is exact
        return torch.tensor(out, dtype=torch.float32)

    def full_scales(self, q: float, tile_rows: int) -> torch.Tensor:
        ys = torch.cat(self._y)
        fs = percentile(ys, q, dim=0)
        # never below one LSB's worth of signal nor above the largest possible partial sum
        return fs.clamp(min=1e-6, max=float(tile_rows)).contiguous()


def _activations(x: torch.Tensor, cfg) -> torch.Tensor:
    f = cfg.formats
    if f.activation_format == "none":
        return x
    return fake_quant(x, f.activation_format, f.activation_scaling, f.scale_rule, False)


def input_gains(xq: torch.Tensor, cfg, ranges: Optional[torch.Tensor]) -> torch.Tensor:
    """The input gain of every (token, k-tile): [M, T]."""
    tr = cfg.array.tile_rows
    m, k = xq.shape
    t_count = -(-k // tr)
    if ranges is not None:
        a = ranges.reshape(1, -1).expand(m, t_count).clone()
    else:
        pad = t_count * tr - k
        a = torch.nn.functional.pad(xq.abs(), (0, pad)).reshape(m, t_count, tr).amax(dim=2)
    if cfg.mapping.block_exponent:
        a = torch.where(a > 0, torch.exp2(torch.ceil(torch.log2(a))), a)
    return a


def normalised_partial_sums(xq: torch.Tensor, state, w: torch.Tensor) -> torch.Tensor:
    """The noiseless partial sums y[m, n, t] in normalised units, as the array forms them."""
    cfg = state.config
    tr = cfg.array.tile_rows
    c = cfg.converters
    a = input_gains(xq, cfg, state.input_range)
    outs = []
    for t in range(a.shape[1]):
        k0, k1 = t * tr, min(xq.shape[1], (t + 1) * tr)
        at = a[:, t:t + 1]
        xh = torch.where(at > 0, xq[:, k0:k1] / at.clamp(min=1e-38), torch.zeros(()))
        xh = xh.clamp(-1, 1)
        if c.dac_rounding:
            qd = 2.0 ** (c.dac_bits - 1) - 1
            xh = torch.round(xh * qd) / qd
        s = state.scales[:, t]
        y = xh @ w[:, k0:k1].t()
        outs.append(torch.where(s > 0, y / s.clamp(min=1e-38), torch.zeros(())))
    return torch.stack(outs, dim=2)


def finish(state) -> None:
    """Sets the ranges the collector of ``state`` measured and drops the collector."""
    col = state.calibration
    state.calibration = None
    if col is None or col.batches == 0:
        return
    m = state.config.mapping
    if col.phase == "inputs":
        state.input_range = col.input_ranges(m.input_percentile)
    else:
        state.full_scale = col.full_scales(m.adc_percentile, state.config.array.tile_rows)


def warn_uncalibrated(state) -> None:
    key = id(state)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(f"a weight on '{state.config.name}' uses static input ranges "
                  f"(mapping.input_range = 'static') but has not been calibrated: it uses "
                  f"per-token abs-max gains until tp.calibrate(model, batches) runs",
                  RuntimeWarning, stacklevel=5)

"""The photon budget of a config: one laser that sets both the noise the kernels draw and the
energy the meter charges.

Light path of one input (the worst path, which sizes the laser):

    laser -> coupler -> splitter tree to every input modulator of every active tile
          -> modulator -> row waveguide, tapped into ``tile_cols`` columns -> PCM cell
          -> column waveguide -> balanced photodetector -> TIA -> ADC

Losses (dB), all from the config's geometry and element figures:

* ``coupler``: ``optics.coupler_loss_db`` (laser to chip);
* ``modulator``: ``optics.modulator_loss_db``;
* ``splitter_excess``: ``optics.splitter_excess_loss_db`` per 1x2 stage, over
  ``ceil(log2(modulators)) + ceil(log2(tile_cols))`` stages, with ``modulators = tile_rows *
  tiles_in_parallel`` inputs fed per wavelength (the 1/N division itself is not a loss: it is the
  share of light each cell receives);
* ``crossings``: ``optics.crossing_loss_db`` x ``tile_rows + tile_cols - 2`` crossings (a planar
  crossbar: the row waveguide crosses every column waveguide before the last, the column
  waveguide every row waveguide below the first);
* ``waveguide``: ``optics.waveguide_loss_db_per_cm`` x the path length: one side of the chip (the
  distribution from the laser's edge to the farthest tile, ``sqrt(chip_area)``) plus one row and one
  column of the tile at the weight pitch ``sqrt(chip_area / weights_per_chip)``.

Photons: the optical power that reaches one column's detector when every input of the tile is at
full scale and every cell fully transmitting is ``P_laser * 10^(-loss/10) / (wdm * tiles_in_parallel *
tile_cols)``; per sample (one clock) that is ``photons_full_on`` photons, and one normalised
partial-sum unit (one input at full scale through one fully transmitting cell) carries
``photons_per_unit = photons_full_on / tile_rows``.

Noise, in normalised partial-sum units ("y units", the ADC full scale is ``mapping.adc_full_scale``
of them):

* shot noise: a balanced detector counts the photons of both arms, so the variance of a partial sum
  is its *common-mode* light ``sum |x| |g|`` divided by ``photons_per_unit`` (Poisson statistics);
* receiver noise: ``tia_noise_a_per_rthz * sqrt(clock_hz / 2)`` (Nyquist bandwidth) divided by the
  photocurrent of one unit, ``responsivity * photons_per_unit * h nu * clock_hz``.

Energy: the laser runs during the work, so one output conversion carries
``P_laser / wall_plug_efficiency / (tiles_in_parallel * tile_cols * wdm * clock_hz)`` of wall power
(the meter charges exactly this, :func:`torch_photonic.energy.model.laser_energy_per_conversion`).

The figures of merit :func:`link_budget` returns at the ADC full scale use a signal at full scale
whose common mode equals it (all products of one sign): ``snr_db = 10 log10(FS^2 / (FS / ppu +
sigma_rx^2))``. ``laser_power_for_adc_bits_w`` is the laser power at which that noise equals half an
ADC step (the sizing rule [d-laser-sizing] of docs/sources.md).
"""
from __future__ import annotations

import math
from typing import Any, Dict

__all__ = ["PLANCK_J_S", "LIGHT_M_S", "link_budget", "losses_db", "photons_per_unit",
           "receiver_sigma", "laser_energy_per_conversion", "photon_energy"]

# Physical constants (CODATA 2018, exact SI values).
PLANCK_J_S = 6.62607015e-34
LIGHT_M_S = 299792458.0


def photon_energy(cfg: Any) -> float:
    """Energy of one photon at the config's wavelength (J)."""
    return PLANCK_J_S * LIGHT_M_S / float(cfg.optics.wavelength_m)


def _stages(n: int) -> int:
    return int(math.ceil(math.log2(n))) if n > 1 else 0


def geometry(cfg: Any) -> Dict[str, float]:
    """Counts and lengths of the worst light path."""
    a = cfg.array
    modulators = int(a.tile_rows) * int(a.tiles_in_parallel)
    weights = int(a.cells_per_chip) // int(a.cells_per_weight)
    area_m2 = float(a.chip_area_mm2) * 1e-6
    pitch_m = math.sqrt(area_m2 / max(weights, 1))
    path_m = math.sqrt(area_m2) + (int(a.tile_rows) + int(a.tile_cols)) * pitch_m
    return dict(
        modulators_per_wavelength=modulators,
        splitter_stages=_stages(modulators) + _stages(int(a.tile_cols)),
        crossings=max(0, int(a.tile_rows) + int(a.tile_cols) - 2),
        weight_pitch_m=pitch_m,
        path_length_cm=path_m * 100.0,
    )


def losses_db(cfg: Any) -> Dict[str, float]:
    """Loss of the worst path by element (dB); ``total`` is their sum."""
    o = cfg.optics
    g = geometry(cfg)
    out = dict(
        coupler=float(o.coupler_loss_db),
        modulator=float(o.modulator_loss_db),
        splitter_excess=float(o.splitter_excess_loss_db) * g["splitter_stages"],
        crossings=float(o.crossing_loss_db) * g["crossings"],
        waveguide=float(o.waveguide_loss_db_per_cm) * g["path_length_cm"],
    )
    out["total"] = sum(out.values())
    return out


def _conversions_per_second(cfg: Any) -> float:
    a, o = cfg.array, cfg.optics
    return (float(a.tiles_in_parallel) * float(a.tile_cols) * float(o.wdm_channels)
            * float(o.clock_hz))


def photons_full_on(cfg: Any) -> float:
    """Photons per sample at one detector with the whole tile driven at full scale."""
    o = cfg.optics
    detector_w = (float(o.laser_power_w) * 10.0 ** (-losses_db(cfg)["total"] / 10.0)
                  / (float(cfg.array.tiles_in_parallel) * float(cfg.array.tile_cols)
                     * float(o.wdm_channels)))
    return detector_w / (photon_energy(cfg) * float(o.clock_hz))


def photons_per_unit(cfg: Any) -> float:
    """Photons carried by one normalised partial-sum unit (one full-scale input x one fully
    transmitting cell)."""
    return photons_full_on(cfg) / float(cfg.array.tile_rows)


def receiver_sigma(cfg: Any) -> float:
    """Receiver (TIA) noise in normalised partial-sum units."""
    o = cfg.optics
    ppu = photons_per_unit(cfg)
    if o.tia_noise_a_per_rthz == 0:
        return 0.0
    if ppu <= 0:
        return math.inf
    noise_a = float(o.tia_noise_a_per_rthz) * math.sqrt(float(o.clock_hz) / 2.0)
    unit_a = float(o.responsivity_a_per_w) * ppu * photon_energy(cfg) * float(o.clock_hz)
    return noise_a / unit_a


def kernel_noise(cfg: Any) -> Dict[str, float]:
    """The two numbers the optical kernel takes: ``photons_per_unit`` (0 = no shot noise) and
    ``receiver_sigma`` (y units)."""
    ppu = photons_per_unit(cfg) if cfg.optics.shot_noise else 0.0
    if cfg.optics.shot_noise and not ppu > 0:
        raise ValueError(f"config {cfg.name!r}: no light reaches the detectors "
                         f"(optics.laser_power_w = {cfg.optics.laser_power_w}); shot noise "
                         f"would be infinite")
    return dict(photons_per_unit=ppu, receiver_sigma=receiver_sigma(cfg))


def laser_energy_per_conversion(cfg: Any) -> float:
    """Wall-plug laser energy behind one output conversion (J)."""
    o = cfg.optics
    return float(o.laser_power_w) / float(o.wall_plug_efficiency) / _conversions_per_second(cfg)


def _noise_at_full_scale(cfg: Any, ppu: float, rx: float) -> float:
    fs = float(cfg.mapping.adc_full_scale)
    shot = fs / ppu if (cfg.optics.shot_noise and ppu > 0) else 0.0
    return shot + rx * rx


def laser_power_for_adc_bits(cfg: Any) -> float:
    """Laser power (W, optical) at which the noise at full scale equals half an ADC step."""
    fs = float(cfg.mapping.adc_full_scale)
    q = 2.0 ** (int(cfg.converters.adc_bits) - 1) - 1.0
    target = (fs / (2.0 * q)) ** 2
    ppu = photons_per_unit(cfg)
    if ppu <= 0:
        return math.inf
    # noise(u) = B u + A u^2 with u = 1 / photons_per_unit
    b = fs if cfg.optics.shot_noise else 0.0
    a = (receiver_sigma(cfg) * ppu) ** 2
    if a == 0 and b == 0:
        return 0.0
    u = target / b if a == 0 else (-b + math.sqrt(b * b + 4 * a * target)) / (2 * a)
    return float(cfg.optics.laser_power_w) * (1.0 / u) / ppu


def link_budget(spec: Any = None) -> Dict[str, Any]:
    """The photon budget of a preset or config (``tp.link_budget("glass-pcm-200mm")``).

    Keys: ``laser_power_w`` (optical), ``laser_wall_power_w``, ``loss_db`` (total),
    ``losses_db`` (by element), ``geometry``, ``photons_full_on`` and ``photons_per_sample``
    (at one detector, whole tile at full scale), ``photons_per_unit``, ``adc_full_scale`` (y
    units), ``shot_sigma`` and ``receiver_sigma`` (in units of the ADC full scale, for a signal
    at full scale), ``adc_lsb`` (same units), ``snr_db``, ``enob``,
    ``laser_energy_per_conversion_j`` and ``laser_power_for_adc_bits_w``.
    """
    from .resolve import resolve
    cfg = resolve(spec)
    fs = float(cfg.mapping.adc_full_scale)
    ppu = photons_per_unit(cfg)
    rx = receiver_sigma(cfg)
    shot = math.sqrt(fs / ppu) if (cfg.optics.shot_noise and ppu > 0) else 0.0
    noise = _noise_at_full_scale(cfg, ppu, rx)
    snr_db = math.inf if noise == 0 else 10.0 * math.log10(fs * fs / noise)
    losses = losses_db(cfg)
    return dict(
        config=cfg.name,
        laser_power_w=float(cfg.optics.laser_power_w),
        laser_wall_power_w=float(cfg.optics.laser_power_w) / float(cfg.optics.wall_plug_efficiency),
        loss_db=losses["total"],
        losses_db={k: v for k, v in losses.items() if k != "total"},
        geometry=geometry(cfg),
        photons_full_on=photons_full_on(cfg),
        photons_per_sample=photons_full_on(cfg),
        photons_per_unit=ppu,
        adc_full_scale=fs,
        shot_sigma=shot / fs,
        receiver_sigma=rx / fs,
        adc_lsb=1.0 / (2.0 ** (int(cfg.converters.adc_bits) - 1) - 1.0),
        snr_db=snr_db,
        enob=(snr_db - 1.76) / 6.02,
        laser_energy_per_conversion_j=laser_energy_per_conversion(cfg),
        laser_power_for_adc_bits_w=laser_power_for_adc_bits(cfg),
    )

"""One photon budget: the laser that the meter charges is the light whose shot noise the kernel
draws, and the link budget's SNR is what a product measures."""
import math

import pytest
import torch

import torch_photonic as tp
from torch_photonic.energy import model as E
from torch_photonic.hardware import photon_budget as lb
from torch_photonic.optics import kernels as optical

PHYSICAL = ["glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021"]


def _shot_only(**kw):
    """Glass with small tiles, shot noise only (no receiver, PCM noise, converters)."""
    return tp.preset("ideal", array__tile_rows=64, array__tile_cols=64, optics__shot_noise=True,
                     **kw)


def _noise_var(cfg, M=3000):
    W = torch.ones(32, 64)
    st = optical.program(W, cfg)
    x = torch.ones(M, 64)
    y = optical.mvm(x, st, seed=9)
    return ((y - 64.0) ** 2).mean().item()  # y_hat = 64 units, scales and gains 1


def test_four_times_the_laser_quarters_the_shot_variance_and_quadruples_the_energy():
    cfg = _shot_only()
    cfg4 = cfg.replace(optics__laser_power_w=4 * cfg.optics.laser_power_w)
    ratio = _noise_var(cfg) / _noise_var(cfg4)
    assert ratio == pytest.approx(4.0, rel=0.06)
    # the variance is the common-mode light over the photons of one unit
    ppu = lb.photons_per_unit(cfg)
    assert _noise_var(cfg) == pytest.approx(64.0 / ppu, rel=0.05)
    e1 = E.mvm_energy(cfg, 10, 64, 64)["laser"]
    e4 = E.mvm_energy(cfg4, 10, 64, 64)["laser"]
    assert e4 == pytest.approx(4 * e1, rel=1e-12) and e1 > 0


@pytest.mark.parametrize("name", PHYSICAL)
def test_measured_snr_matches_the_link_budget(name):
    """A product at the ADC full scale whose light is all in one arm (common mode = full scale):
    10 log10(FS^2 / noise variance) equals ``snr_db`` within 0.5 dB (ADC rounding off: the SNR of
    the analog read-out)."""
    cfg = tp.preset(name).replace(converters__adc_rounding=False, converters__dac_rounding=False,
                                  pcm__quantize_levels=False,
                                  pcm__program_noise_coeffs=(0.0, 0.0, 0.0),
                                  pcm__read_noise_q0=0.0, mapping__input_range="dynamic")
    b = tp.link_budget(cfg)
    fs = b["adc_full_scale"]
    k = cfg.array.tile_rows
    s = min(int(fs), k)  # a whole number of rows at full scale (or the whole tile)
    W = torch.zeros(min(cfg.array.tile_cols, 64), k)
    W[:, :s] = 1.0
    st = optical.program(W, cfg)
    y = optical.mvm(torch.ones(4000, k), st, seed=1)
    noise = ((y - s) ** 2).mean().item()
    measured = 10 * math.log10(s * s / noise)
    if s == fs:
        expected = b["snr_db"]
    else:  # the tile cannot reach the full scale: the same formula at its largest signal
        shot, rx = b["shot_sigma"] * fs, b["receiver_sigma"] * fs
        expected = 10 * math.log10(s * s / (shot * shot * s / fs + rx * rx))
    assert measured == pytest.approx(expected, abs=0.5)


@pytest.mark.parametrize("name", PHYSICAL)
def test_laser_is_sized_by_the_documented_rule(name):
    b = tp.link_budget(name)
    assert b["laser_power_w"] == pytest.approx(b["laser_power_for_adc_bits_w"], rel=0.01)
    # at that power the noise at full scale is half an ADC step
    noise = math.hypot(b["shot_sigma"], b["receiver_sigma"])
    assert noise == pytest.approx(b["adc_lsb"] / 2, rel=0.02)


def test_losses_come_from_the_geometry():
    cfg = tp.preset("glass-pcm-200mm")
    b = tp.link_budget(cfg)
    a, o = cfg.array, cfg.optics
    assert b["losses_db"]["crossings"] == pytest.approx(
        (a.tile_rows + a.tile_cols - 2) * o.crossing_loss_db)
    stages = math.ceil(math.log2(a.tile_rows * a.tiles_in_parallel)) + math.ceil(
        math.log2(a.tile_cols))
    assert b["losses_db"]["splitter_excess"] == pytest.approx(stages * o.splitter_excess_loss_db)
    pitch = math.sqrt(a.chip_area_mm2 * 1e-6 / (a.cells_per_chip / a.cells_per_weight))
    length_cm = (math.sqrt(a.chip_area_mm2 * 1e-6) + (a.tile_rows + a.tile_cols) * pitch) * 100
    assert b["losses_db"]["waveguide"] == pytest.approx(length_cm * o.waveguide_loss_db_per_cm)
    assert b["loss_db"] == pytest.approx(sum(b["losses_db"].values()))
    # a longer path loses more light: fewer photons per unit
    worse = cfg.replace(optics__waveguide_loss_db_per_cm=1.0)
    assert tp.link_budget(worse)["photons_per_unit"] < b["photons_per_unit"]
    # photons per unit: the detector's share of the laser after the losses, per clock
    h_nu = 6.62607015e-34 * 299792458.0 / o.wavelength_m
    share = o.laser_power_w * 10 ** (-b["loss_db"] / 10) / (a.tiles_in_parallel * a.tile_cols)
    assert b["photons_per_unit"] == pytest.approx(share / h_nu / o.clock_hz / a.tile_rows,
                                                  rel=1e-12)


def test_no_light_is_an_error_when_shot_noise_is_on():
    cfg = tp.preset("glass-pcm-200mm", optics__laser_power_w=0.0)
    with pytest.raises(ValueError, match="laser_power_w"):
        optical.mvm(torch.ones(1, 8), optical.program(torch.ones(2, 8), cfg))

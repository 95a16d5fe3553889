"""Energy model: hand computations from the presets' fields, scaling, and the bottom-up peak
figures each preset was designed to (README "Peak efficiency")."""
import math
import warnings

import pytest

import torch_photonic as tp
from torch_photonic.energy import model as E
from torch_photonic.energy import events

PRESETS = ["glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021"]


def adc_by_hand(cfg):
    """The ADC energy of [d-adc-scaling]: the quoted energy, times the sample rate over the rate
    it holds to, bounded below by the Schreier figure of merit at the ADC's resolution."""
    cv = cfg.converters
    speed = cv.adc_energy_j * max(1.0, cfg.optics.clock_hz / cv.adc_ref_hz)
    thermal = 0.5 * 10 ** ((6.02 * cv.adc_bits + 1.76 - cv.adc_schreier_db) / 10)
    return max(speed, thermal)


def test_adc_energy_scales_with_rate_and_resolution():
    g = tp.preset("glass-pcm-200mm")
    assert E.adc_energy(g) == pytest.approx(1.0e-12)              # 2 GS/s, 8 b: the floor
    assert E.adc_energy(g.replace(optics__clock_hz=4e10)) == pytest.approx(4.0e-12)
    # 14 b: the thermal bound, 0.5 * 10^((6.02*14 + 1.76 - 186.8) / 10) = 41.7 pJ
    assert E.adc_energy(g.replace(converters__adc_bits=14)) == pytest.approx(
        0.5 * 10 ** ((6.02 * 14 + 1.76 - 186.8) / 10), rel=1e-12)
    assert E.adc_energy(g.replace(converters__adc_bits=14)) > 40e-12
    # each bit above the crossover costs 4x
    e12, e13 = (E.adc_energy(g.replace(converters__adc_bits=b)) for b in (12, 13))
    assert e13 / e12 == pytest.approx(10 ** 0.602, rel=1e-9)
    # switched off: the quoted energy, whatever the rate or resolution
    fixed = g.replace(converters__adc_ref_hz=0.0, converters__adc_schreier_db=0.0,
                      converters__adc_bits=14, optics__clock_hz=4e10)
    assert E.adc_energy(fixed) == 1.0e-12
    # the 2021 tensor core's 14 GHz ADC runs above the 10 GS/s the quoted 4 pJ holds to
    tc = tp.preset("pcm-tensor-core-2021")
    assert E.adc_energy(tc) == pytest.approx(4e-12 * 1.4e10 / 1e10)


def hand_one_pass(cfg, full_use=False):
    """One input vector through one full tile, written out from the preset's fields.
    ``full_use``: with every tile busy every cycle a CW laser's wall power is shared by the
    conversions exactly as a gated laser's is."""
    a, cv, o, h = cfg.array, cfg.converters, cfg.optics, cfg.host
    n_in, n_out = a.tile_rows, a.tile_cols
    # the laser's wall power shared by every conversion per second at full use
    e_laser = (o.laser_power_w / o.wall_plug_efficiency
               / (a.tiles_in_parallel * a.tile_cols * o.wdm_channels * o.clock_hz))
    cw = cfg.power.laser == "cw" and not full_use   # a CW laser is static power instead
    return {
        "laser": 0.0 if cw else n_out * e_laser,
        "dac": n_in * (cv.dac_energy_j + cv.modulator_energy_j),
        "adc": n_out * (adc_by_hand(cfg) + cv.pd_energy_j + cv.tia_energy_j),
        "digital": n_out * cv.accumulate_energy_j,
        "memory": (n_in * cv.dac_bits + n_out * cv.adc_bits) * h.sram_pj_per_bit * 1e-12,
    }


@pytest.mark.parametrize("name", PRESETS)
def test_one_mvm_matches_hand_computation(name):
    cfg = tp.preset(name)
    k, n = cfg.array.tile_rows, cfg.array.tile_cols
    with tp.meter() as m:
        events.record_mvm("layer", "linear", 1, k, n, cfg)
    hand = hand_one_pass(cfg)
    # one tile pass per clock, then the converters' latency
    seconds = 1 / cfg.optics.clock_hz + cfg.converters.latency_s
    assert m.seconds == pytest.approx(seconds, rel=1e-12)
    # static power of the chip and its host over that time, by hand from the preset
    pw, a = cfg.power, cfg.array
    laser_w = cfg.optics.laser_power_w / cfg.optics.wall_plug_efficiency
    watts = (laser_w * (1.0 if pw.laser == "cw" else pw.laser_idle_fraction)
             + a.tiles_per_chip * a.tile_rows * pw.driver_w
             + a.tiles_per_chip * a.tile_cols * pw.receiver_w
             + pw.clock_w + pw.rings_per_chip * pw.tuning_w_per_ring + pw.control_w
             + pw.host_idle_w)
    hand["static"] = watts * seconds
    got = m.breakdown("bottom_up")
    assert set(got) == set(hand)
    for c in hand:
        assert got[c] == pytest.approx(hand[c], rel=1e-12), c
    assert m.joules == pytest.approx(sum(hand.values()), rel=1e-12)
    assert sum(m.static().values()) == pytest.approx(hand["static"], rel=1e-12)
    assert m.macs == k * n


def test_multi_tile_counts_by_hand():
    cfg = tp.preset("silicon-photonic-128")
    m_, k, n = 3, 300, 200            # 3 x 2 tiles (ceil(300/128)=3, ceil(200/128)=2)
    c = E.mvm_counts(cfg, m_, k, n)
    assert (c["k_tiles"], c["n_tiles"]) == (3, 2)
    assert c["dac_samples"] == 3 * 300 * 2
    assert c["adc_conversions"] == 3 * 200 * 3
    e = E.mvm_energy(cfg, m_, k, n)
    assert e["dac"] == pytest.approx(1800 * (1.0e-12 + 0.1e-12))
    assert e["adc"] == pytest.approx(1800 * (1.5e-12 + 0.22e-12 + 0.6e-12))
    # 6 tiles, 1 in parallel, 3 rows: 18 cycles at 5 GHz
    assert E.mvm_latency(cfg, m_, k, n) == pytest.approx(18 / 5e9)
    # WDM: 4 rows share one pass
    assert E.mvm_latency(cfg.replace(optics__wdm_channels=4), 8, k, n) == pytest.approx(2 * 6 / 5e9)


@pytest.mark.parametrize("name", PRESETS)
def test_optical_energy_linear_in_batch(name):
    cfg = tp.preset(name)
    e1 = E.mvm_energy(cfg, 1, 700, 300)
    e7 = E.mvm_energy(cfg, 7, 700, 300)
    eb = E.mvm_energy(cfg, 1, 700, 300, batch=7)
    for comp in E.OPTICAL_COMPONENTS:
        assert e7[comp] == pytest.approx(7 * e1[comp], rel=1e-12)
        assert eb[comp] == pytest.approx(7 * e1[comp], rel=1e-12)
    assert e1["adc"] > 0 and e1["dac"] > 0


# Full-utilisation throughput per tile of each preset: 2 ops x tile_rows x tile_cols x clock x wdm.
POPS_PER_TILE = {
    "glass-pcm-200mm": 2 * 1024 * 1024 * 2e9 / 1e15,
    "silicon-photonic-128": 2 * 128 * 128 * 5e9 / 1e15,
    "pcm-tensor-core-2021": 2 * 9 * 4 * 1.4e10 * 4 / 1e15,
}


@pytest.mark.parametrize("name", PRESETS)
def test_bottom_up_peak_is_the_full_tile_pass(name):
    cfg = tp.preset(name)
    p = E.peak(cfg)
    e = hand_one_pass(cfg, full_use=True)
    macs = cfg.array.tile_rows * cfg.array.tile_cols
    core = e["laser"] + e["dac"] + e["adc"] + e["digital"]
    assert p["tops_per_watt"] == pytest.approx(2 * macs / core / 1e12, rel=1e-9)
    assert p["tops_per_watt_with_memory"] == pytest.approx(
        2 * macs / (core + e["memory"]) / 1e12, rel=1e-9)
    assert p["pops_per_tile"] == pytest.approx(POPS_PER_TILE[name], rel=1e-9)


def test_glass_laser_dominates_and_is_far_from_the_claim():
    """With the laser sized for an 8-bit readout at a 12-row ADC full scale, the light costs more
    than every converter together, and the panel lands far below its 1000 TOPS/W claim."""
    cfg = tp.preset("glass-pcm-200mm")
    e = hand_one_pass(cfg)
    assert e["laser"] > e["dac"] + e["adc"]
    assert E.peak(cfg)["tops_per_watt"] < 0.1 * cfg.claim.tops_per_watt


def test_glass_chip_pops_and_claim():
    cfg = tp.preset("glass-pcm-200mm")
    p = E.peak(cfg)
    # 309 parallel tiles (differential pairs: 2 cells/weight) x 4.19 POPS per tile
    assert p["pops"] == pytest.approx(309 * 2 * 1024 * 1024 * 2e9 / 1e15)
    c = E.peak(cfg, "claim")
    assert (c["tops_per_watt"], c["pops"]) == (1000.0, 2600.0)
    assert E.peak(tp.preset("silicon-photonic-128"), "claim")["tops_per_watt"] is None


def test_claim_mode_reproduces_vendor_figures():
    cfg = tp.preset("glass-pcm-200mm")
    with tp.meter() as m:
        events.record_mvm("l", "linear", 64, 1024, 1024, cfg)
    macs = 64 * 1024 * 1024
    assert m.breakdown("claim") == {"claim": pytest.approx(2 * macs / 1000e12)}
    assert m.total_seconds("claim") == pytest.approx(2 * macs / 2600e15)
    assert m.tops("claim") == pytest.approx(1000.0)
    # the config's mode selects what m.joules reports
    with tp.meter() as m2:
        events.record_mvm("l", "linear", 64, 1024, 1024, cfg.replace(mode="claim"))
    assert m2.joules == pytest.approx(2 * macs / 1000e12)
    assert m2.total_joules("bottom_up") == pytest.approx(m.total_joules("bottom_up"))


def test_energy_per_mac_falls_with_fan_in():
    for name in PRESETS:
        rows = E.energy_per_mac_vs_fanin(tp.preset(name), (8, 32, 128, 512, 1024))
        fj = [r["fj_per_mac"] for r in rows]
        assert all(a > b for a, b in zip(fj, fj[1:])), (name, fj)
    g = E.energy_per_mac_vs_fanin(tp.preset("glass-pcm-200mm"), (128, 1024))
    assert g[0]["fj_per_mac"] / g[1]["fj_per_mac"] == pytest.approx(8, rel=0.01)  # ~1/N


def test_warns_beyond_physical_limit():
    cfg = tp.preset("glass-pcm-200mm", converters__dac_energy_j=1e-16,
                    converters__modulator_energy_j=0.0, converters__adc_energy_j=1e-16,
                    converters__pd_energy_j=0.0, converters__tia_energy_j=0.0,
                    optics__laser_power_w=1.0)
    with pytest.warns(UserWarning, match="physical limit"):
        p = E.peak(cfg)
    assert p["tops_per_watt"] > 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E.peak(tp.preset("glass-pcm-200mm"))     # the preset itself: no warning


def test_laser_off_and_kv_tiers():
    cfg = tp.preset("silicon-photonic-128", optics__laser_power_w=0.0, optics__shot_noise=False)
    assert E.mvm_energy(cfg, 1, 128, 128)["laser"] == 0.0
    base = tp.preset("glass-pcm-200mm")
    for tier, pj in base.host.tier_pj_per_bit.items():
        assert E.kv_energy(base, 1000, tier) == pytest.approx(1000 * 8 * pj * 1e-12)
    with pytest.raises(ValueError, match="known"):
        E.kv_energy(base, 1, "tape")


def test_program_energy_and_time():
    cfg = tp.preset("glass-pcm-200mm", chips=2)
    assert E.program_energy(cfg, 5000) == pytest.approx(5000 * 100e-12)
    # one writer per tile column of every tile: 309 x 1024 per chip x 2 chips = 632,832 writers
    assert E.program_time(cfg, 632_832) == pytest.approx(1e-6)
    assert E.program_time(cfg, 632_833) == pytest.approx(2e-6)
    assert E.program_time(tp.preset("silicon-photonic-128", chips=2), 5000) == \
        pytest.approx(math.ceil(5000 / 256) * 1e-6)

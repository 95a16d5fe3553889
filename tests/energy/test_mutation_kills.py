"""Numbers users read, pinned where a one-token change to the source went unnoticed
(``python bench/mutation.py``): each test names the module it guards and checks its figures by
hand from the preset's fields, the documented formulas, or the documented defaults.

Guards: energy/model.py, energy/static.py, energy/kv_tiers.py, energy/cost.py,
energy/interconnect.py, energy/meter.py, energy/meter_views.py, energy/capacity.py,
energy/system.py, energy/gpu.py, hardware/photon_budget.py, hardware/checks.py and the
validation of hardware/config.py.
"""
from __future__ import annotations

import importlib
import math
from types import SimpleNamespace

import pytest
import torch

import torch_photonic as tp
from torch_photonic.energy import capacity as CAP
from torch_photonic.energy import cost as COST
from torch_photonic.energy import events
from torch_photonic.energy import interconnect as IC
from torch_photonic.energy import kv_tiers as KV
from torch_photonic.energy import model as E
from torch_photonic.energy import static as ST
from torch_photonic.hardware import photon_budget as PB

meter_mod = importlib.import_module("torch_photonic.energy.meter")

GLASS = "glass-pcm-200mm"
SI = "silicon-photonic-128"
TC = "pcm-tensor-core-2021"
PRESETS = [GLASS, SI, TC]


# =============================================================================== energy/model.py
def test_model_defaults_are_the_documented_figures():
    d = E.DEFAULTS
    assert E.PHYSICAL_LIMIT_TOPS_PER_WATT == 1e4
    assert d["optics.wavelength_m"] == 1.55e-6                       # C band
    assert d["host.energy_per_flop_j"] == 1.0 / 0.9721e12            # H100 bf16 GEMM
    assert d["host.energy_per_byte_j"] == pytest.approx(31.2e-12, rel=1e-12)   # 3.9 pJ/bit
    assert d["host.sram_pj_per_bit"] == 0.10
    assert d["host.kv_tier"] == "hbm"
    assert d["host.tier_pj_per_bit"] == {"sram": 0.10, "hbm": 3.9, "dram": 3.9, "ssd": 143.0}
    assert d["dynamic.mode"] == "electronic"
    assert d["power.laser"] == "gated"
    assert d["host.flop_per_s"] == 6.8254e14
    assert d["host.op_overhead_s"] == 2.0e-6
    for key in ("converters.latency_s", "converters.adc_ref_hz", "converters.adc_schreier_db",
                "converters.accumulate_energy_j"):
        assert d[key] == 0.0, key
    assert d["dynamic.bytes_per_element"] == 2
    assert d["chips"] == 1
    assert d["array.tiles_in_parallel"] is None and d["pcm.parallel_writers"] is None


def _bare_config(**array):
    """A config with only the fields the model cannot do without (docs/design.md): every other
    field comes from :data:`DEFAULTS`."""
    a = dict(tile_rows=64, tile_cols=32, tiles_per_chip=5, cells_per_chip=64 * 32 * 5 * 2,
             cells_per_weight=2)
    a.update(array)
    return SimpleNamespace(array=SimpleNamespace(**a))


def test_model_get_falls_back_to_the_defaults():
    bare = _bare_config()
    assert E._get(bare, "array.tile_rows") == 64
    assert E._get(bare, "array.tiles_in_parallel") == 5                   # every tile of the chip
    assert E._get(bare, "pcm.parallel_writers") == 5 * 32                 # one per tile column
    assert E._get(bare, "chips") == 1
    assert E._get(bare, "host.kv_tier") == "hbm"
    assert E._get(bare, "host.energy_per_flop_j") == 1.0 / 0.9721e12
    with pytest.raises(AttributeError, match="no default"):
        E._get(bare, "array.no_such_field")
    with pytest.raises(AttributeError, match="no default"):
        E._get(bare, "pcm.write_energy_j")
    # a config that sets them is read as is
    cfg = tp.preset(SI)
    assert E._get(cfg, "array.tiles_in_parallel") == cfg.array.tiles_in_parallel
    assert E.capacity_cells(bare) == 64 * 32 * 5 * 2


def test_model_host_and_kv_prices_of_a_config_without_those_groups():
    bare = _bare_config()
    # no memory group: no bandwidth term; the op overhead and the FLOPs at the default rate
    assert E.host_seconds(bare, 6.8254e14, 1e12) == pytest.approx(2.0e-6 + 1.0, rel=1e-12)
    assert E.host_seconds(bare, 0.0, 0.0) == 2.0e-6                   # one call by default
    assert E.host_seconds(bare, 0.0, 0.0, calls=3) == pytest.approx(6.0e-6, rel=1e-12)
    assert E.host_energy(bare, 1e6, 1e3) == pytest.approx(1e6 / 0.9721e12 + 1e3 * 31.2e-12,
                                                          rel=1e-12)
    assert E.kv_seconds(bare, 1e9) == 0.0                              # no tier bandwidths
    assert E.kv_energy(bare, 1e6) == pytest.approx(1e6 * 8 * 3.9e-12, rel=1e-12)
    assert E.kv_energy(bare, 1e6, "ssd") == pytest.approx(1e6 * 8 * 143.0e-12, rel=1e-12)


@pytest.mark.parametrize("name", PRESETS)
def test_model_seconds_of_host_ops_and_kv_traffic_by_hand(name):
    cfg = tp.preset(name)
    hbm = cfg.memory.gb_per_s["hbm"] * 1e9
    flops, nbytes = 3e9, 5e8
    assert E.host_seconds(cfg, flops, nbytes) == pytest.approx(
        cfg.host.op_overhead_s + max(flops / cfg.host.flop_per_s, nbytes / hbm), rel=1e-12)
    assert E.host_seconds(cfg, 0.0, 0.0) == cfg.host.op_overhead_s
    assert E.host_seconds(cfg, 0.0, 0.0, 4) == pytest.approx(4 * cfg.host.op_overhead_s,
                                                             rel=1e-12)
    tier = cfg.host.kv_tier
    assert E.kv_seconds(cfg, 7e8) == pytest.approx(7e8 / (cfg.memory.gb_per_s[tier] * 1e9),
                                                   rel=1e-12)
    assert E.kv_seconds(cfg, 7e8, "dram") == pytest.approx(
        7e8 / (cfg.memory.gb_per_s["dram"] * 1e9), rel=1e-12)
    assert E.kv_seconds(cfg, 7e8, "no-such-tier") == 0.0
    with pytest.raises(ValueError, match="unknown memory tier"):
        E.tier_pj_per_bit(cfg, "no-such-tier")


def test_model_counts_of_products_by_hand():
    cfg = tp.preset(SI)                              # 128 x 128 tiles
    c = E.mvm_counts(cfg, 3, 300, 130, batch=2)
    assert c == dict(macs=2 * 3 * 300 * 130, k_tiles=3, n_tiles=2, tile_passes=2 * 3 * 3 * 2,
                     dac_samples=2 * 3 * 300 * 2, adc_conversions=2 * 3 * 130 * 3,
                     act_bits_in=2 * 3 * 300 * cfg.converters.dac_bits,
                     act_bits_out=2 * 3 * 130 * cfg.converters.adc_bits)
    # empty products are fine and count nothing
    for shape in ((0, 5, 5), (5, 0, 5), (5, 5, 0)):
        z = E.mvm_counts(cfg, *shape)
        assert z["macs"] == 0 and z["dac_samples"] * z["adc_conversions"] == 0
    assert E.mvm_counts(cfg, 4, 5, 6, batch=0)["macs"] == 0
    # a negative size is an error, whichever it is
    for shape in ((-1, 5, 5, 1), (5, -1, 5, 1), (5, 5, -1, 1), (5, 5, 5, -1)):
        with pytest.raises(ValueError, match="negative"):
            E.mvm_counts(cfg, *shape[:3], batch=shape[3])


@pytest.mark.parametrize("name", PRESETS)
def test_model_latency_by_hand(name):
    cfg = tp.preset(name)
    a, o = cfg.array, cfg.optics
    for m, k, n, batch, chips in ((5, 3000, 200, 3, 1), (17, 128, 128, 1, 2), (1, 5000, 5000, 2, 4)):
        c = cfg.replace(chips=chips)
        tiles = math.ceil(k / a.tile_rows) * math.ceil(n / a.tile_cols)
        parallel = min(a.tiles_in_parallel * chips, tiles)
        cycles = math.ceil(m * batch / o.wdm_channels) * math.ceil(tiles / parallel)
        assert E.mvm_latency(c, m, k, n, batch) == pytest.approx(cycles / o.clock_hz, rel=1e-12)
    for shape, batch in (((0, 64, 64), 1), ((4, 0, 64), 1), ((4, 64, 0), 1), ((4, 64, 64), 0)):
        assert E.mvm_latency(cfg, *shape, batch=batch) == 0.0


def test_model_adc_energy_rate_and_bound_apply_from_any_positive_setting():
    g = tp.preset(GLASS, converters__adc_schreier_db=0.0)
    # a reference rate of 1 Hz: the quoted energy scales with the whole clock
    one_hz = g.replace(converters__adc_ref_hz=1.0)
    assert E.adc_energy(one_hz) == pytest.approx(
        g.converters.adc_energy_j * g.optics.clock_hz, rel=1e-12)
    # a figure of merit of 1 dB: the thermal bound, far above the quoted energy
    fom = g.replace(converters__adc_ref_hz=0.0, converters__adc_schreier_db=1.0)
    bits = g.converters.adc_bits
    assert E.adc_energy(fom) == pytest.approx(0.5 * 10 ** ((6.02 * bits + 1.76 - 1.0) / 10),
                                              rel=1e-12)


def test_model_program_time_of_few_cells():
    cfg = tp.preset(SI)
    assert E.program_time(cfg, 0) == 0.0
    assert E.program_time(cfg, -3) == 0.0
    assert E.program_time(cfg, 1) == cfg.pcm.write_time_s
    writers = cfg.array.tiles_per_chip * cfg.array.tile_cols
    assert E.program_time(cfg, writers + 1) == pytest.approx(2 * cfg.pcm.write_time_s)
    assert E.program_time(cfg.replace(chips=2), writers + 1) == cfg.pcm.write_time_s


@pytest.mark.parametrize("name", PRESETS)
def test_model_peak_figures_by_hand(name):
    cfg = tp.preset(name)
    e_core = E.energy_per_mac(cfg)
    e_mem = E.energy_per_mac(cfg, include_memory=True)
    for chips in (1, 3):
        p = E.peak(cfg.replace(chips=chips), warn=False)
        a, o = cfg.array, cfg.optics
        per_tile = 2.0 * a.tile_rows * a.tile_cols * o.clock_hz * o.wdm_channels / 1e15
        assert p["pops_per_tile"] == pytest.approx(per_tile, rel=1e-12)
        assert p["pops"] == pytest.approx(per_tile * a.tiles_in_parallel * chips, rel=1e-12)
        assert p["fj_per_mac"] == pytest.approx(e_core * 1e15, rel=1e-12)
        assert p["fj_per_mac_with_memory"] == pytest.approx(e_mem * 1e15, rel=1e-12)
        assert p["tops_per_watt"] == pytest.approx(2.0 / e_core / 1e12, rel=1e-12)
        assert p["tops_per_watt_with_memory"] == pytest.approx(2.0 / e_mem / 1e12, rel=1e-12)


def test_model_energy_per_mac_against_fan_in_by_hand():
    cfg = tp.preset(GLASS)
    rows = E.energy_per_mac_vs_fanin(cfg)
    assert [r["width"] for r in rows] == [8, 32, 128, 512, 1024, 4096]
    e_in = E.input_sample_energy(cfg)
    e_out = E.output_conversion_energy(cfg) + E.laser_energy_per_conversion(cfg) \
        + cfg.converters.accumulate_energy_j
    for r in rows:
        w = r["width"]
        e = (w * e_in + w * e_out) / (w * w)
        assert r["fj_per_mac"] == pytest.approx(e * 1e15, rel=1e-12)
        assert r["tops_per_watt"] == pytest.approx(2.0 / e / 1e12, rel=1e-12)
    assert [r["width"] for r in E.energy_per_mac_vs_fanin(cfg, (3,))] == [3]


# ============================================================================== energy/static.py
def test_static_power_scales_with_chips_and_zero_chips_draw_nothing():
    cfg = tp.preset(GLASS)
    one = ST.static_power(cfg, 1)
    three = ST.static_power(cfg, 3)
    for comp in ("laser", "drivers", "receivers", "clock", "tuning", "control"):
        assert three[comp] == pytest.approx(3 * one[comp], rel=1e-12), comp
    assert three["host"] == one["host"] == cfg.power.host_idle_w      # 8 chips per host
    zero = ST.static_power(cfg, 0)
    assert set(zero.values()) == {0.0}
    assert ST.static_energy(cfg, 0.0) == {c: 0.0 for c in ST.STATIC_COMPONENTS}
    with pytest.raises(ValueError, match="chips"):
        ST.static_power(cfg, -1)
    with pytest.raises(ValueError, match="seconds"):
        ST.static_energy(cfg, -1e-9)


# ============================================================================ energy/kv_tiers.py
def test_kv_tiers_capacity_fill_and_time_by_hand():
    cfg = tp.preset(GLASS)
    m = cfg.memory
    cap1 = sum(m.capacity_gb[t] * 1e9 for t in m.kv_tiers)
    assert KV.kv_capacity_bytes(cfg, 1) == pytest.approx(cap1, rel=1e-12)
    assert KV.kv_capacity_bytes(cfg, 3) == pytest.approx(3 * cap1, rel=1e-12)
    # filling exactly to the last byte fits; half a byte more does not
    full = KV.kv_fill(cfg, cap1, 1)
    assert sum(full.values()) == pytest.approx(cap1, rel=1e-12)
    with pytest.raises(ValueError, match="does not fit"):
        KV.kv_fill(cfg, cap1 + 0.5, 1)
    # no hosts: as fast as one (the tier's own bandwidth)
    bw = m.gb_per_s["hbm"] * 1e9
    assert KV.tier_time(cfg, "hbm", 3e9, 0) == pytest.approx(3e9 / bw, rel=1e-12)
    assert KV.tier_time(cfg, "hbm", 3e9, 1) == pytest.approx(3e9 / bw, rel=1e-12)
    assert KV.tier_time(cfg, "hbm", 3e9, 4) == pytest.approx(3e9 / (4 * bw), rel=1e-12)


# ================================================================================ energy/cost.py
def test_cost_needs_a_positive_token_rate():
    cfg = tp.preset(GLASS)
    with pytest.raises(ValueError, match="tokens_per_s"):
        COST.usd_per_million_tokens(cfg, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="joules_per_token"):
        COST.usd_per_million_tokens(cfg, 1, -1.0, 1.0)
    small = COST.usd_per_million_tokens(cfg, 1, 0.0, 0.5)            # half a token a second
    served = cfg.cost.amortization_years * COST.SECONDS_PER_YEAR * cfg.cost.utilization * 0.5
    assert small["owning"] == pytest.approx(1e6 * COST.system_price(cfg, 1)["total"] / served,
                                            rel=1e-12)
    assert COST.SECONDS_PER_YEAR == 365.25 * 86400


# ======================================================================== energy/interconnect.py
def test_interconnect_transfer_of_nothing_and_of_one_byte():
    cfg = tp.preset(GLASS)
    ic = cfg.interconnect
    assert IC.transfer(cfg, 0) == (0.0, 0.0)
    assert IC.transfer(cfg, 0, scaleout=True) == (0.0, 0.0)
    j, s = IC.transfer(cfg, 1)
    assert j == pytest.approx(8 * ic.pj_per_bit * 1e-12, rel=1e-12)
    assert s == pytest.approx(ic.latency_s + 1 / (ic.gb_per_s * 1e9), rel=1e-12)
    j, s = IC.transfer(cfg, 0.5)
    assert j == pytest.approx(4 * ic.pj_per_bit * 1e-12, rel=1e-12)
    with pytest.raises(ValueError, match="nbytes"):
        IC.transfer(cfg, -1)


def test_interconnect_places_and_layer_places_are_frozen_and_count_chips():
    lp = IC.LayerPlace("a", 2, 5, 7)
    assert lp.chips == 4
    assert IC.LayerPlace("b", 3, 3, 1).chips == 1
    with pytest.raises(Exception):
        lp.first_chip = 0                              # frozen dataclasses
    pl = IC.Placement(chips=6, tiles_needed=8, fits=True, layers=[lp])
    with pytest.raises(Exception):
        pl.chips = 1
    cfg = tp.preset(GLASS, power__chips_per_host=2, interconnect__supernode_chips=4)
    assert [pl.host_of(cfg, c) for c in range(6)] == [0, 0, 1, 1, 2, 2]
    assert [pl.supernode_of(cfg, c) for c in range(9)] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert pl.hosts_of(cfg, lp) == 2                   # chips 2..5: hosts 1 and 2
    assert pl.hosts_of(cfg, IC.LayerPlace("c", 1, 2, 1)) == 2
    assert pl.hosts_of(cfg, IC.LayerPlace("d", 4, 4, 1)) == 1


def _work(layer_tiles, k=1024):
    from torch_photonic.energy.workload import Layer, Product, Workload
    layers = [Layer(name=f"l{i}", products=[Product("p", k=k * t, n=1024)])
              for i, t in enumerate(layer_tiles)]
    return Workload(name="w", layers=layers, params=0, hidden=1024, vocab=0)


def test_interconnect_placement_by_hand():
    cfg = tp.preset(GLASS)                             # 309 tiles per chip
    # exactly full: fits, the last layer ends on the last tile of the last chip
    pl = IC.place(_work([309, 309]), cfg, 2)
    assert pl.fits and pl.tiles_needed == 618
    assert [(l.first_chip, l.last_chip, l.tiles) for l in pl.layers] == [(0, 0, 309), (1, 1, 309)]
    pl = IC.place(_work([100, 300, 9]), cfg, 2)
    assert [(l.first_chip, l.last_chip) for l in pl.layers] == [(0, 0), (0, 1), (1, 1)]
    # one tile more than the chips hold: every layer shares all chips
    over = IC.place(_work([309, 310]), cfg, 2)
    assert not over.fits and over.tiles_needed == 619
    assert [(l.first_chip, l.last_chip, l.tiles) for l in over.layers] == [(0, 1, 309),
                                                                          (0, 1, 310)]
    assert over.to_dict()["layers"][1] == dict(name="l1", first_chip=0, last_chip=1, tiles=310)
    # a layer without optical products takes no tile and sits where the last one ended
    from torch_photonic.energy.workload import Layer, Workload
    w = _work([309])
    w = Workload(name="w", layers=w.layers + [Layer(name="empty", products=[])], params=0,
                 hidden=1024, vocab=0)
    pl = IC.place(w, cfg, 2)
    assert [(l.first_chip, l.last_chip, l.tiles) for l in pl.layers] == [(0, 0, 309), (1, 1, 0)]
    with pytest.raises(ValueError, match="chips"):
        IC.place(w, cfg, 0)


# ============================================================================ energy/meter.py
def test_meter_host_op_event_floors_bytes_to_elements():
    ev = meter_mod._host_op_event("op", dict(calls=1, bytes_in=10, bytes_out=0, elements_out=0))
    assert ev["flops"] == 2.0                          # 10 bytes = 2 whole float32 elements
    ev = meter_mod._host_op_event("op", dict(calls=1, elements_out=3))
    assert (ev["flops"], ev["bytes"]) == (3.0, 0.0)


def _relu_joules(m):
    return [r["joules"]["host"] for r in m.per_layer() if r["op"] == "aten::relu"]


def test_meter_host_counting_is_refcounted_across_open_meters():
    from torch_photonic import _C
    cfg = tp.preset(GLASS)
    x = torch.randn(16, 16).to("photonic")
    one = E.host_energy(cfg, 256, 2 * 1024)             # 256 elements, 1 KiB in and out
    with tp.meter(GLASS) as outer:
        assert _C._host_op_counting()
        with tp.meter(GLASS) as inner:
            torch.relu(x)
        assert _C._host_op_counting()               # the outer meter still counts
        torch.relu(x)
    assert not _C._host_op_counting()
    assert _relu_joules(inner) == [pytest.approx(one, rel=1e-12)]
    assert _relu_joules(outer) == [pytest.approx(2 * one, rel=1e-12)]
    # a meter that saw no op reports none
    with tp.meter(GLASS) as idle:
        pass
    assert idle.per_layer() == [] and idle.breakdown() == {}
    # counters are reset when the last meter closes: the next meter starts from zero
    with tp.meter(GLASS) as again:
        torch.relu(x)
    assert _relu_joules(again) == [pytest.approx(one, rel=1e-12)]


def test_meter_host_op_event_keeps_the_number_of_calls():
    assert meter_mod._host_op_event("op", dict(calls=7, elements_out=3))["calls"] == 7
    assert meter_mod._host_op_event("op", dict(elements_out=3))["calls"] == 1
    cfg = tp.preset(GLASS)
    m = meter_mod.Meter(cfg)
    m.on_event("host", dict(op="a", flops=10.0, bytes=40.0, module="h", calls=4))
    m.on_event("host", dict(op="a", flops=10.0, bytes=40.0, module="h"))   # one call
    (row,) = m.per_layer()
    assert row["calls"] == 5
    assert row["seconds"] == pytest.approx(E.host_seconds(cfg, 20.0, 80.0, calls=5), rel=1e-12)


def test_meter_device_host_ops_pay_the_overhead_per_call():
    cfg = tp.preset(GLASS)
    x = torch.randn(16, 16).to("photonic")
    with tp.meter(cfg) as m:
        for _ in range(10):
            torch.relu(x)
    row = [r for r in m.per_layer() if r["op"] == "aten::relu"][0]
    assert row["calls"] == 10
    assert row["seconds"] == pytest.approx(E.host_seconds(cfg, 10 * 256, 10 * 2048, calls=10),
                                           rel=1e-12)


def test_meter_resident_cells_accepts_zero_and_rejects_bad_values():
    meter_mod.Meter(resident_cells=0)
    meter_mod.Meter(resident_cells=1)
    for bad in (-1, float("inf"), float("nan"), True, "3"):
        with pytest.raises(ValueError, match="resident_cells"):
            meter_mod.Meter(resident_cells=bad)


def test_meter_rows_count_calls_and_default_module_names():
    cfg = tp.preset(GLASS)
    with tp.meter(cfg) as m:
        events.record_kv(100, 10)
        events.record_kv(100, 10)
        events.record_host("softmax", 10, 20)
        events.record_host("softmax", 10, 20)
        events.record_mvm("l", "linear", 2, 1024, 1024, cfg)
        events.record_mvm("l", "linear", 2, 1024, 1024, cfg)
        events.record_program("l", 1024 * 1024, 2 * 1024 * 1024, cfg)
        events.record_program("l", 1024 * 1024, 2 * 1024 * 1024, cfg)
    rows = {(r["module"], r["op"]): r for r in m.per_layer()}
    assert rows[("kv_cache", "kv")]["calls"] == 2
    assert rows[("host", "softmax")]["calls"] == 2
    assert rows[("l", "linear")]["calls"] == 2
    assert rows[("l", "program")]["calls"] == 2
    assert rows[("l", "program")]["joules"] == {
        "pcm_write": pytest.approx(2 * 2 * 1024 * 1024 * cfg.pcm.write_energy_j, rel=1e-12)}
    # host seconds pay the op overhead once per call
    assert rows[("host", "softmax")]["seconds"] == pytest.approx(
        E.host_seconds(cfg, 20, 40, calls=2), rel=1e-12)
    # KV seconds and joules: bytes read plus bytes written
    assert rows[("kv_cache", "kv")]["seconds"] == pytest.approx(E.kv_seconds(cfg, 220),
                                                                 rel=1e-12)
    assert rows[("kv_cache", "kv")]["joules"] == {"kv": pytest.approx(E.kv_energy(cfg, 220),
                                                                      rel=1e-12)}


def test_meter_host_and_kv_rows_with_only_one_side_charged():
    cfg = tp.preset(GLASS)
    with tp.meter(cfg) as m:
        events.record_host("write_only", 0, 400, module="a")
        events.record_host("compute_only", 1e6, 0, module="b")
        events.record_kv(0, 300, module="w")
        events.record_kv(500, 0, module="r")
    rows = {r["module"]: r for r in m.per_layer()}
    assert rows["a"]["joules"] == {"host": pytest.approx(400 * cfg.host.energy_per_byte_j)}
    assert rows["a"]["seconds"] == pytest.approx(E.host_seconds(cfg, 0, 400), rel=1e-12)
    assert rows["b"]["joules"] == {"host": pytest.approx(1e6 * cfg.host.energy_per_flop_j)}
    assert rows["b"]["seconds"] == pytest.approx(E.host_seconds(cfg, 1e6, 0), rel=1e-12)
    assert rows["w"]["joules"] == {"kv": pytest.approx(E.kv_energy(cfg, 300), rel=1e-12)}
    assert rows["w"]["seconds"] == pytest.approx(E.kv_seconds(cfg, 300), rel=1e-12)
    assert rows["r"]["joules"] == {"kv": pytest.approx(E.kv_energy(cfg, 500), rel=1e-12)}
    assert rows["r"]["seconds"] == pytest.approx(E.kv_seconds(cfg, 500), rel=1e-12)


def test_meter_batched_products_use_cells_once_per_weight():
    cfg = tp.preset(SI)                                  # 32 768 cells per chip
    with tp.meter() as m:
        events.record_mvm("e", "grouped", 4, 128, 64, cfg, batch=3)
    # three matrices of 128 x 64 weights, two cells each, all read
    assert m.capacity()["cells_read"] == 3 * 128 * 64 * 2
    assert m.capacity()["resident_cells"] == 3 * 128 * 64 * 2
    # the same weight read twice: resident once, read twice
    with tp.meter() as m:
        events.record_mvm("w", "linear", 1, 128, 64, cfg)
        events.record_mvm("w", "linear", 1, 128, 64, cfg)
        events.record_mvm("w", "linear", 1, 128, 32, cfg)
    c = m.capacity()
    assert c["resident_cells"] == 128 * 64 * 2          # the larger of the two shapes seen
    assert c["cells_read"] == 2 * 128 * 64 * 2 + 128 * 32 * 2


def test_meter_capacity_exactly_full_is_not_rewritten():
    cfg = tp.preset(SI)
    cap = E.capacity_cells(cfg)
    with tp.meter(resident_cells=cap) as m:
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    c = m.capacity()
    assert c["fits"] and c["chips_needed"] == 1 and c["rewrite_cells"] == 0
    assert "pcm_rewrite" not in m.breakdown()
    with tp.meter(resident_cells=cap + 2) as m:
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    c = m.capacity()
    assert not c["fits"] and c["chips_needed"] == 2
    assert c["rewrite_cells"] == pytest.approx(cap * (1 - cap / (cap + 2)), rel=1e-12)
    # programmed cells win over the weights the products read, and resident_cells over both
    with tp.meter() as m:
        events.record_program("l", 10, 20, cfg)
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    assert m.capacity()["resident_cells"] == 20
    with tp.meter(resident_cells=0) as m:
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    assert m.capacity()["resident_cells"] == 0 and m.capacity()["chips_needed"] == 0
    # in "chips" policy nothing is charged
    with tp.meter(capacity="chips", resident_cells=4 * cap) as m:
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    assert "pcm_rewrite" not in m.breakdown()
    assert m.capacity()["charged"] is False and m.capacity()["rewrite_cells"] > 0
    assert m.seconds == pytest.approx(E.mvm_latency(cfg, 1, 128, 128)
                                      + cfg.converters.latency_s, rel=1e-12)


def test_meter_static_view_and_claim_mode():
    cfg = tp.preset(GLASS)
    with tp.meter() as m:
        events.record_mvm("l", "linear", 1, 1024, 1024, cfg)
    assert m.static("claim") == {}
    assert m.static() == pytest.approx(ST.static_energy(cfg, m.seconds), rel=1e-12)
    assert tp.meter().__enter__ and meter_mod.Meter().static() == {}
    empty = meter_mod.Meter()
    assert empty.total_seconds() == 0.0 and empty.joules == 0.0 and empty.seconds == 0.0
    assert empty.tops() is None and empty.tops_per_watt == 0.0
    assert m.tops() == pytest.approx(2.0 * m.macs / m.joules / 1e12, rel=1e-12)


def test_meter_transfers_are_priced_by_the_interconnect():
    cfg = tp.preset(GLASS)
    with tp.meter(cfg) as m:
        events.record_transfer("moe.dispatch", 1e6)
        events.record_transfer("moe.dispatch", 2e6, scaleout=True)
        events.record_transfer("", 10)
    rows = {(r["module"], r["op"]): r for r in m.per_layer()}
    j1, s1 = IC.transfer(cfg, 1e6)
    j2, s2 = IC.transfer(cfg, 2e6, scaleout=True)
    j3, s3 = IC.transfer(cfg, 10)
    r = rows[("moe.dispatch", "transfer")]
    assert r["calls"] == 2
    assert r["joules"] == {"interconnect": pytest.approx(j1 + j2, rel=1e-12)}
    assert r["seconds"] == pytest.approx(s1 + s2, rel=1e-12)
    assert rows[("interconnect", "transfer")]["calls"] == 1     # the default module name
    assert m.breakdown()["interconnect"] == pytest.approx(j1 + j2 + j3, rel=1e-12)
    assert m.seconds == pytest.approx(s1 + s2 + s3, rel=1e-12)


def _record_some(cfg_a, cfg_b):
    events.record_program("l", 100, 200, cfg_a)
    events.record_mvm("l", "linear", 2, 128, 64, cfg_a)
    events.record_mvm("d", "qk", 2, 64, 64, cfg_a, dynamic=True, batch=2)
    events.record_host("softmax", 10, 20)
    events.record_kv(5, 6)
    events.record_mvm("l", "linear", 3, 128, 64, cfg_b)
    events.record_mvm("x", "grouped", 1, 128, 128, cfg_b, expert=1)


def test_meter_merged_state_equals_one_meter_of_all_the_work():
    si, glass = tp.preset(SI), tp.preset(GLASS)
    with tp.meter(GLASS) as a:
        _record_some(si, si)
    with tp.meter(GLASS) as b:
        _record_some(si, glass)
        events.record_transfer("hop", 4096)
    with tp.meter(GLASS) as both:
        _record_some(si, si)
        _record_some(si, glass)
        events.record_transfer("hop", 4096)
    merged = meter_mod.Meter(config=GLASS)
    merged.merge_state(a.export_state())
    merged.merge_state(b.export_state())
    assert merged.macs == both.macs and merged.optical_macs == both.optical_macs
    for mode in ("bottom_up", "claim"):
        assert merged.breakdown(mode) == pytest.approx(both.breakdown(mode), rel=1e-12)
        assert merged.total_seconds(mode) == pytest.approx(both.total_seconds(mode), rel=1e-12)
    key = lambda r: (r["module"], r["op"])
    got = sorted(merged.per_layer(), key=key)
    want = sorted(both.per_layer(), key=key)
    assert [(r["module"], r["op"], r["calls"], r["macs"]) for r in got] == \
        [(r["module"], r["op"], r["calls"], r["macs"]) for r in want]
    assert merged.capacity() == pytest.approx(both.capacity())
    # a meter without a config of its own takes the first merged meter's
    bare = meter_mod.Meter()
    bare.merge_state(a.export_state())
    assert bare._cfg() == si
    assert b._cfg() == glass
    bare.merge_state(b.export_state())
    assert bare._cfg() == si


def test_meter_merged_weights_keep_the_largest_shape_seen():
    cfg = tp.preset(SI)
    with tp.meter() as a:
        events.record_mvm("w", "linear", 1, 128, 64, cfg)
        events.record_mvm("z", "linear", 1, 0, 64, cfg)        # an empty product: no cell
    with tp.meter() as b:
        events.record_mvm("w", "linear", 1, 128, 32, cfg)
    merged = meter_mod.Meter()
    merged.merge_state(a.export_state())
    merged.merge_state(b.export_state())
    assert merged.capacity()["resident_cells"] == 128 * 64 * 2
    only_z = meter_mod.Meter()
    with only_z:
        events.record_mvm("z", "linear", 1, 0, 64, cfg)
    again = meter_mod.Meter()
    again.merge_state(only_z.export_state())
    assert again.capacity()["resident_cells"] == 0


def test_meter_transfer_event_without_scaleout_is_within_the_supernode():
    cfg = tp.preset(GLASS)
    m = meter_mod.Meter(config=cfg)
    m.on_event("transfer", dict(module="x", bytes=1e6))
    assert m.breakdown()["interconnect"] == pytest.approx(IC.transfer(cfg, 1e6)[0], rel=1e-12)


def test_meter_opens_once_at_a_time_and_reopens_after_closing():
    cfg = tp.preset(GLASS)
    m = meter_mod.Meter()
    with m:
        with pytest.raises(RuntimeError, match="already open"):
            m.__enter__()
        events.record_mvm("l", "linear", 1, 1024, 1024, cfg)
    with m:                                              # closed: it opens again and adds up
        events.record_mvm("l", "linear", 1, 1024, 1024, cfg)
    assert m.macs == 2 * 1024 * 1024


def test_meter_counters_are_cleared_when_the_last_meter_closes():
    from torch_photonic import _C
    x = torch.randn(8, 8).to("photonic")
    with tp.meter(GLASS) as outer:
        torch.relu(x)
        with tp.meter(GLASS) as inner:                # opened after the op: it saw nothing
            pass
    assert inner.per_layer() == []
    assert outer.per_layer() != []
    assert _C._take_host_op_stats(False) == {}


def test_meter_events_without_optional_fields():
    cfg = tp.preset(GLASS)
    m = meter_mod.Meter()
    m.on_event("mvm", dict(module="a", op="x", m=2, k=1024, n=1024, config=cfg))
    assert m.macs == m.optical_macs == 2 * 1024 * 1024     # one matrix, static
    assert m.capacity()["cells_read"] == 1024 * 1024 * 2
    # an empty product reads no cell
    with tp.meter() as z:
        events.record_mvm("z", "linear", 1, 0, 5, cfg)
    assert z.capacity()["resident_cells"] == 0


def test_meter_products_without_a_claim_drop_out_of_claim_mode():
    with tp.meter(GLASS) as m:                          # the meter's config has a claim
        events.record_mvm("si", "linear", 1, 128, 128, tp.preset(SI))   # this product's has not
    assert m.total_joules("claim") == 0.0 and m.breakdown("claim") == {}
    assert [r["joules"] for r in m.per_layer("claim")] == [{}]
    assert m.breakdown()["laser"] > 0
    # the whole row drops out, its rewrites included
    with tp.meter(GLASS, resident_cells=10 * E.capacity_cells(tp.preset(GLASS))) as m:
        events.record_mvm("si", "linear", 1, 128, 128, tp.preset(SI))
    assert "pcm_rewrite" in m.breakdown()
    assert [r["joules"] for r in m.per_layer("claim")] == [{}]


def test_meter_regime_of_four_rows_per_product():
    cfg = tp.preset(GLASS)
    with tp.meter() as m:
        events.record_mvm("a", "linear", 4, 1024, 1024, cfg)
    assert m.compare("h100")["regime"] == "decode_b1"   # up to 4 rows: batch-1 decode
    with tp.meter() as m:
        events.record_mvm("a", "linear", 5, 1024, 1024, cfg)
    assert m.compare("h100")["regime"] == "decode_b64"


# ====================================================================== energy/meter_views.py
def _metered(cfg=GLASS, resident=None):
    cfg = tp.preset(cfg) if isinstance(cfg, str) else cfg
    with tp.meter(resident_cells=resident) as m:
        events.record_mvm("a", "linear", 2, 1024, 1024, cfg)
        events.record_mvm("b", "linear", 3, 1024, 512, cfg)
    return m


def test_views_per_token_by_hand():
    m = _metered()
    pt = m.per_token(4)
    assert pt["tokens"] == 4 and pt["mode"] == "bottom_up"
    bu = pt["bottom_up"]
    assert bu["joules"] == pytest.approx(m.joules / 4, rel=1e-12)
    assert bu["seconds"] == pytest.approx(m.seconds / 4, rel=1e-12)
    assert bu["tokens_per_s"] == pytest.approx(4 / m.seconds, rel=1e-12)
    assert pt["claim"]["tokens_per_s"] == pytest.approx(4 / m.total_seconds("claim"), rel=1e-12)
    assert pt["seconds"] == bu["seconds"]
    assert m.per_token(0.5)["tokens"] == 0.5
    for bad in (True, "3", float("inf")):
        with pytest.raises(ValueError, match="positive"):
            m.per_token(bad)


def test_views_capacity_wear_and_rates_by_hand():
    cfg = tp.preset(SI)
    cap = E.capacity_cells(cfg)
    with tp.meter(resident_cells=4 * cap) as m:
        for _ in range(5):
            events.record_mvm("l", "linear", 1, 128, 128, cfg)
    c = m.capacity(n_tokens=5)
    used = 5 * 128 * 128 * 2
    rw = used * (1 - 1 / 4)
    secs = m.total_seconds("bottom_up")
    assert c["cells_read"] == used and c["rewrite_cells"] == pytest.approx(rw, rel=1e-12)
    assert c["chips"] == 1 and c["chips_needed"] == 4 and not c["fits"] and c["charged"]
    assert c["area_mm2_needed"] == pytest.approx(4 * cfg.array.chip_area_mm2, rel=1e-12)
    assert c["rewrite_joules"] == pytest.approx(rw * cfg.pcm.write_energy_j, rel=1e-12)
    assert c["wear_hours"] == pytest.approx(
        cfg.pcm.endurance_cycles / (rw / secs / cap) / 3600.0, rel=1e-12)
    assert c["tokens"] == 5
    assert c["rewrite_cells_per_token"] == pytest.approx(rw / 5, rel=1e-12)
    assert c["full_rewrites_per_token"] == pytest.approx(rw / 5 / cap, rel=1e-12)
    assert c["wear_out_tokens"] == pytest.approx(cfg.pcm.endurance_cycles * cap / (rw / 5),
                                                 rel=1e-12)
    assert c["tokens_per_s"] == pytest.approx(5 / secs, rel=1e-12)
    # fits: nothing rewritten, no wear; area of the one chip
    with tp.meter() as m:
        events.record_mvm("l", "linear", 1, 128, 64, cfg)
    c = m.capacity(n_tokens=2)
    assert c["fits"] and c["rewrite_cells"] == 0 and c["charged"] is False
    assert c["wear_hours"] is None and c["wear_out_tokens"] is None
    assert c["area_mm2_needed"] == cfg.array.chip_area_mm2
    assert c["tokens_per_s"] == pytest.approx(2 / m.seconds, rel=1e-12)
    # "chips" policy: rewrites counted, never charged
    with tp.meter(capacity="chips", resident_cells=2 * cap) as m:
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    assert m.capacity()["charged"] is False and m.capacity()["rewrite_cells"] > 0
    assert meter_mod.Meter().capacity() == dict(fits=True, policy="rewrite", resident_cells=0)


def test_views_token_count_must_be_positive():
    m = _metered()
    with pytest.raises(ValueError, match="positive"):
        m._tokens(0)
    assert m._tokens(0.25) == 0.25
    m.per_token(2)
    assert m._tokens(None) == 2.0


def test_views_compare_by_hand():
    m = _metered()
    r = m.compare("h100")
    flops = 2.0 * m.macs
    assert r["flops"] == flops and r["regime"] == "decode_b1"     # 2.5 rows per product
    for row in r["rows"]:
        tfj, tfs = row["tflop_per_joule"], None
        if row["gpu_seconds"] is not None:
            tfs = flops / row["gpu_seconds"] / 1e12
        assert row["gpu_joules"] == pytest.approx(flops / (tfj * 1e12), rel=1e-12)
        assert row["ratio_energy_bottom_up"] == pytest.approx(
            row["gpu_joules"] / m.total_joules("bottom_up"), rel=1e-12)
        if tfs is not None:
            assert row["ratio_time_bottom_up"] == pytest.approx(
                row["gpu_seconds"] / m.total_seconds("bottom_up"), rel=1e-12)
            assert row["ratio_time_claim"] == pytest.approx(
                row["gpu_seconds"] / m.total_seconds("claim"), rel=1e-12)
    from torch_photonic.energy import baselines
    meas = [c for c in baselines.measured_cases("h100")]
    seconds = {c["case"]: flops / (c["tflop_per_s"] * 1e12) for c in meas}
    for row in r["rows"]:
        if row["kind"] == "measured":
            assert row["gpu_seconds"] == pytest.approx(seconds[row["case"]], rel=1e-12)
    # many rows per product: the GEMM regime
    cfg = tp.preset(GLASS)
    with tp.meter() as big:
        events.record_mvm("a", "linear", 300, 1024, 1024, cfg)
    assert big.compare("h100")["regime"] == "gemm"


def test_views_compare_without_a_claim():
    cfg = tp.preset(SI)                                  # no vendor claim: no claim-mode joules
    with tp.meter() as m:
        events.record_mvm("a", "linear", 1, 128, 128, cfg)
    assert m.total_joules("claim") is None and m.total_seconds("claim") is None
    r = m.compare("h100")
    assert r["photonic_joules"] == {"bottom_up": m.joules, "claim": None}
    for row in r["rows"]:
        assert row["ratio_energy_claim"] is None and row["ratio_time_claim"] is None
        assert row["ratio_energy_bottom_up"] == pytest.approx(row["gpu_joules"] / m.joules,
                                                              rel=1e-12)
        assert row["ratio_time_bottom_up"] == pytest.approx(row["gpu_seconds"] / m.seconds,
                                                            rel=1e-12)


def test_views_cost_by_hand_and_bounds():
    m = _metered()
    m.per_token(2)
    c = m.cost(0.0, pue=1.0)                       # free electricity, no facility overhead
    assert c["cost_per_million_tokens"] == 0.0
    assert c["bottom_up"]["kwh_per_million_tokens"] == pytest.approx(
        m.joules / 2 * 1e6 / 3.6e6, rel=1e-12)
    assert m.cost(0.1)["pue"] == 1.2                # the default facility overhead
    assert m.cost(0.1)["bottom_up"]["kwh_per_million_tokens"] == pytest.approx(
        m.joules / 2 * 1e6 * 1.2 / 3.6e6, rel=1e-12)
    for bad in (dict(price_per_kwh=-0.01), dict(price_per_kwh=0.1, pue=0.99)):
        with pytest.raises(ValueError):
            m.cost(**bad)
    own = c["owning_per_million_tokens"]
    cfg = m._cfg()
    rate = 2 / m.total_seconds("bottom_up")
    assert own == pytest.approx(COST.usd_per_million_tokens(cfg, 1, 0.0, rate)["owning"],
                                rel=1e-12)
    assert c["total_per_million_tokens"] == pytest.approx(own, rel=1e-12)


def test_views_report_uses_the_meter_config_first(tmp_path):
    m = _metered(SI)
    d = m.to_dict()
    assert d["config"] == SI
    with tp.meter(config=GLASS) as m2:
        events.record_mvm("a", "linear", 1, 128, 128, tp.preset(SI))
    assert m2.to_dict()["config"] == GLASS
    assert repr(m).startswith("<Meter bottom_up:") and f"{m.macs} MACs" in repr(m)


def test_views_capacity_edges():
    cfg = tp.preset(SI)
    cap = E.capacity_cells(cfg)
    with tp.meter(resident_cells=cap + 1) as m:          # a thirty-thousandth of a cell rewritten
        events.record_mvm("l", "linear", 1, 128, 128, cfg)
    c = m.capacity()
    assert 0 < c["rewrite_cells"] < 1 and c["charged"] is True
    # a product of no rows, converters and writes that take no time: no wear rate to report
    quick = tp.preset(SI, converters__latency_s=0.0, pcm__write_time_s=0.0)
    with tp.meter(resident_cells=2 * cap) as m:
        events.record_mvm("l", "linear", 0, 128, 128, quick)
    c = m.capacity(n_tokens=1)
    assert c["rewrite_cells"] > 0 and m.seconds == 0.0
    assert c["wear_hours"] is None and c["tokens_per_s"] is None


def test_views_cost_of_an_empty_meter():
    c = meter_mod.Meter().cost(0.1, n_tokens=5)
    assert c["bottom_up"]["kwh_per_million_tokens"] == 0.0
    assert "owning_per_million_tokens" not in c


def test_views_plot_shows_twenty_layers_by_default(tmp_path, monkeypatch):
    from torch_photonic.energy import report
    seen = {}
    monkeypatch.setattr(report, "plot", lambda d, path, top_layers: seen.setdefault("n", top_layers))
    _metered().plot(str(tmp_path / "p.png"))
    assert seen["n"] == 20


# ========================================================================= energy/capacity.py
def _fused_experts(e, out, inp, name_cls="MyExperts"):
    cls = type(name_cls, (torch.nn.Module,), {})
    mod = cls()
    mod.w = torch.nn.Parameter(torch.empty(e, out, inp, device="meta"))
    mod.b = torch.nn.Parameter(torch.empty(e, out, device="meta"))   # 2-D: not optical
    return mod


def test_capacity_finds_fused_experts_by_class_or_by_name():
    model = torch.nn.Module()
    model.experts = _fused_experts(4, 8, 16, name_cls="Holder")       # by its name
    model.moe = torch.nn.Module()
    model.moe.block = _fused_experts(2, 4, 4, name_cls="RoutedExpertStack")  # by its class
    model.other = _fused_experts(3, 4, 4, name_cls="Plain")           # neither: not optical
    model.layers = torch.nn.Module()
    model.layers.mlp = torch.nn.Module()
    model.layers.mlp.experts = _fused_experts(2, 4, 8, name_cls="Holder")  # nested, by name
    rows = CAP.optical_weights(model)
    assert sorted((r["name"], r["kind"], r["out"], r["inp"], r["count"]) for r in rows) == [
        ("experts.w", "experts", 8, 16, 4), ("layers.mlp.experts.w", "experts", 4, 8, 2),
        ("moe.block.w", "experts", 4, 4, 2)]
    # a parameter of a child module belongs to the child, not to the experts module
    holder = torch.nn.Module()
    holder.experts = torch.nn.Module()
    holder.experts.inner = _fused_experts(2, 2, 2, name_cls="Plain")
    assert CAP.optical_weights(holder) == []


def test_capacity_active_fraction_from_the_model_config():
    def model_with(**cfg):
        m = torch.nn.Module()
        m.config = SimpleNamespace(**cfg)
        return m
    assert CAP._active_fraction(model_with(num_experts_per_tok=2, n_routed_experts=8)) == 0.25
    assert CAP._active_fraction(model_with(num_experts_per_tok=2, num_experts=4)) == 0.5
    assert CAP._active_fraction(model_with(num_experts_per_tok=1, num_local_experts=8)) == 0.125
    assert CAP._active_fraction(model_with(num_experts_per_tok=2)) == 1.0
    assert CAP._active_fraction(model_with(n_routed_experts=8)) == 1.0
    assert CAP._active_fraction(torch.nn.Module()) == 1.0


def test_capacity_active_fraction_argument_is_checked():
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    for ok in (0, 0.0, 0.5, 1, 1.0):
        CAP.capacity_plan(model, SI, active_fraction=ok)
    for bad in (-0.1, 1.01, True, "0.5", float("nan")):
        with pytest.raises(ValueError, match="active_fraction"):
            CAP.capacity_plan(model, SI, active_fraction=bad)


def test_capacity_plan_that_fits_by_hand():
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(100, 60), torch.nn.Linear(60, 10))
    cfg = tp.preset(SI)
    p = CAP.capacity_plan(model, cfg.replace(chips=3))
    weights = 100 * 60 + 60 * 10
    assert p["weights"] == weights and p["cells_needed"] == 2 * weights
    assert p["tiles_needed"] == 1 + 1                    # one tile per chip: two chips
    assert p["chips"] == 3 and p["chips_needed"] == 2 and p["fits"]
    assert p["capacity_cells"] == 3 * cfg.array.cells_per_chip
    assert p["area_mm2"] == pytest.approx(3 * cfg.array.chip_area_mm2, rel=1e-12)
    assert p["area_mm2_needed"] == pytest.approx(2 * cfg.array.chip_area_mm2, rel=1e-12)
    assert p["program_joules"] == pytest.approx(2 * weights * cfg.pcm.write_energy_j, rel=1e-12)
    assert p["program_seconds"] == E.program_time(cfg.replace(chips=3), 2 * weights)
    assert p["rewrite_cells_per_token"] == 0 and p["rewrites_per_token"] == 0.0
    assert p["rewrite_joules_per_token"] == 0.0 and p["rewrite_seconds_per_token"] == 0.0
    assert p["wear_hours"] is None
    empty = CAP.capacity_plan(torch.nn.Module(), SI)
    assert empty["chips_needed"] == 0 and empty["fits"] and empty["weights"] == 0


def test_capacity_plan_that_does_not_fit_by_hand():
    cfg = tp.preset(SI)                                   # 32 768 cells, 1 tile per chip
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.Linear(128, 128),
                                    torch.nn.Linear(128, 128))
    p = CAP.capacity_plan(model, cfg)
    cells = 3 * 128 * 128 * 2
    cap = cfg.array.cells_per_chip
    assert not p["fits"] and p["chips_needed"] == 3 and p["tiles_needed"] == 3
    assert p["area_mm2_needed"] == pytest.approx(3 * cfg.array.chip_area_mm2, rel=1e-12)
    overflow = max(1 - cap / cells, 1 - 1 / 3)
    rw = cells * overflow                                  # every weight read once per token
    assert p["rewrite_cells_per_token"] == pytest.approx(rw, rel=1e-12)
    assert p["rewrites_per_token"] == pytest.approx(rw / cap, rel=1e-12)
    assert p["rewrite_joules_per_token"] == pytest.approx(rw * cfg.pcm.write_energy_j, rel=1e-12)
    t = E.program_time(cfg, rw)
    assert p["rewrite_seconds_per_token"] == t
    assert p["max_tokens_per_s"] == pytest.approx(1.0 / t, rel=1e-12)
    assert p["wear_hours"] == pytest.approx(
        cfg.pcm.endurance_cycles / (rw / t / cap) / 3600.0, rel=1e-12)


def test_capacity_tiles_run_out_before_cells():
    # 40 small matrices on the glass chip: few cells, but each takes a whole tile
    cfg = tp.preset(GLASS)
    with torch.device("meta"):
        model = torch.nn.Sequential(*[torch.nn.Linear(8, 8) for _ in range(400)])
    p = CAP.capacity_plan(model, cfg)
    assert p["tiles_needed"] == 400 and p["chips_needed"] == 2 and not p["fits"]
    overflow = 1 - cfg.array.tiles_per_chip / 400          # tiles run out, cells do not
    assert p["rewrite_cells_per_token"] == pytest.approx(400 * 64 * 2 * overflow, rel=1e-12)


# ================================================================== hardware/photon_budget.py
def test_photon_budget_splitter_stages_and_crossings_of_small_tiles():
    assert [PB._stages(n) for n in (0, 1, 2, 3, 4, 5, 1024, 1025)] == [0, 0, 1, 2, 2, 3, 10, 11]
    cfg = tp.preset(SI, array__tile_rows=1, array__tile_cols=1)
    g = PB.geometry(cfg)
    assert g["crossings"] == 0 and g["splitter_stages"] == 0
    assert g["modulators_per_wavelength"] == 1
    g = PB.geometry(tp.preset(SI))
    assert g["splitter_stages"] == 7 + 7
    assert g["crossings"] == 128 + 128 - 2


def test_photon_budget_geometry_by_hand():
    cfg = tp.preset(SI, array__cells_per_chip=32769)         # an odd cell count
    a = cfg.array
    weights = 32769 // 2
    area = a.chip_area_mm2 * 1e-6
    pitch = math.sqrt(area / weights)
    g = PB.geometry(cfg)
    assert g["weight_pitch_m"] == pytest.approx(pitch, rel=1e-12)
    assert g["path_length_cm"] == pytest.approx(
        (math.sqrt(area) + (a.tile_rows + a.tile_cols) * pitch) * 100, rel=1e-12)


def _dim(cfg, factor):
    return cfg.replace(optics__laser_power_w=cfg.optics.laser_power_w * factor)


def test_photon_budget_receiver_noise_edges():
    cfg = tp.preset(GLASS)
    assert PB.receiver_sigma(cfg.replace(optics__tia_noise_a_per_rthz=0.0)) == 0.0
    loud = cfg.replace(optics__tia_noise_a_per_rthz=1.0)      # any noise density is charged
    assert PB.receiver_sigma(loud) == pytest.approx(
        PB.receiver_sigma(cfg) / cfg.optics.tia_noise_a_per_rthz, rel=1e-12)
    dark = cfg.replace(optics__laser_power_w=0.0, optics__shot_noise=False)
    assert PB.receiver_sigma(dark) == math.inf
    assert PB.laser_power_for_adc_bits(dark) == math.inf
    # half a photon per unit: dim, but the receiver noise is finite and by the formula
    ppu = PB.photons_per_unit(cfg)
    faint = _dim(cfg, 0.5 / ppu)
    assert PB.photons_per_unit(faint) == pytest.approx(0.5, rel=1e-9)
    o = cfg.optics
    unit_a = o.responsivity_a_per_w * 0.5 * PB.photon_energy(cfg) * o.clock_hz
    assert PB.receiver_sigma(faint) == pytest.approx(
        o.tia_noise_a_per_rthz * math.sqrt(o.clock_hz / 2) / unit_a, rel=1e-9)
    # and the kernel accepts it with shot noise on
    assert PB.kernel_noise(faint)["photons_per_unit"] == pytest.approx(0.5, rel=1e-9)
    assert PB.kernel_noise(cfg.replace(optics__shot_noise=False))["photons_per_unit"] == 0.0


def test_photon_budget_laser_sizing_by_hand():
    cfg = tp.preset(GLASS)
    fs = cfg.mapping.adc_full_scale
    q = 2.0 ** (cfg.converters.adc_bits - 1) - 1.0
    target = (fs / (2 * q)) ** 2
    # shot noise only: noise(u) = fs u
    shot_only = cfg.replace(optics__tia_noise_a_per_rthz=0.0)
    u = target / fs
    ppu = PB.photons_per_unit(shot_only)
    assert PB.laser_power_for_adc_bits(shot_only) == pytest.approx(
        cfg.optics.laser_power_w / u / ppu, rel=1e-9)
    # receiver noise only: noise(u) = A u^2 with A = (sigma_rx * ppu)^2
    rx_only = cfg.replace(optics__shot_noise=False)
    a = (PB.receiver_sigma(rx_only) * PB.photons_per_unit(rx_only)) ** 2
    u = math.sqrt(target / a)
    assert PB.laser_power_for_adc_bits(rx_only) == pytest.approx(
        cfg.optics.laser_power_w / u / PB.photons_per_unit(rx_only), rel=1e-9)
    # no noise at all: no laser needed
    quiet = cfg.replace(optics__shot_noise=False, optics__tia_noise_a_per_rthz=0.0)
    assert PB.laser_power_for_adc_bits(quiet) == 0.0


@pytest.mark.parametrize("name", PRESETS)
def test_photon_budget_link_budget_by_hand(name):
    cfg = tp.preset(name)
    b = tp.link_budget(name)
    o = cfg.optics
    fs = cfg.mapping.adc_full_scale
    ppu = PB.photons_per_unit(cfg)
    rx = PB.receiver_sigma(cfg)
    shot = fs / ppu if o.shot_noise else 0.0
    snr = 10 * math.log10(fs * fs / (shot + rx * rx))
    assert b["snr_db"] == pytest.approx(snr, rel=1e-12)
    assert b["enob"] == pytest.approx((snr - 1.76) / 6.02, rel=1e-12)
    assert b["laser_wall_power_w"] == pytest.approx(o.laser_power_w / o.wall_plug_efficiency,
                                                    rel=1e-12)
    assert b["shot_sigma"] == pytest.approx(math.sqrt(shot) / fs, rel=1e-12)
    assert b["receiver_sigma"] == pytest.approx(rx / fs, rel=1e-12)
    assert b["adc_lsb"] == pytest.approx(1 / (2 ** (cfg.converters.adc_bits - 1) - 1), rel=1e-12)


def test_photon_budget_without_shot_noise():
    cfg = tp.preset(GLASS, optics__shot_noise=False)
    b = tp.link_budget(cfg)
    fs = cfg.mapping.adc_full_scale
    rx = PB.receiver_sigma(cfg)
    assert b["shot_sigma"] == 0.0
    assert b["snr_db"] == pytest.approx(10 * math.log10(fs * fs / (rx * rx)), rel=1e-12)
    quiet = cfg.replace(optics__tia_noise_a_per_rthz=0.0)
    assert tp.link_budget(quiet)["snr_db"] == math.inf


# =========================================================================== energy/system.py
def _chain(n_layers, k=128, n=128, hidden=128, router=0):
    from torch_photonic.energy.workload import Layer, Product, Workload
    layers = [Layer(name=f"layers.{i}", products=[Product(f"p{i}", k, n)], hidden=hidden,
                    router_experts=router, router_top_k=1 if router else 0)
              for i in range(n_layers)]
    return Workload(name="chain", layers=layers, params=n_layers * k * n, hidden=hidden, vocab=0)


def _pipelined_cfg(per_host=1):
    # one 128 x 128 tile per chip and ``per_host`` chips per host: a stage is ``per_host``
    # layers; hops are paid by the byte (no fixed latency), across supernodes of two chips
    return tp.preset(SI, power__chips_per_host=per_host, interconnect__latency_s=0.0,
                     interconnect__scaleout_latency_s=0.0, interconnect__supernode_chips=2)


def _chain_by_hand(cfg, L, batch, k=128, n=128, hidden=128, per_host=1):
    """The schedule of the module docstring for a chain of single-product layers, each on its
    own chip and host: the whole batch layer after layer, or S micro-batches of ceil(batch/S)
    rows (S in 2, 4, ... and min(stages, batch)) with period max(S x slowest stage, sum)."""
    cc = cfg.replace(chips=L)
    ab = cfg.interconnect.activation_bytes
    sn = cfg.interconnect.supernode_chips

    def hop(i, rows):
        return IC.transfer(cfg, rows * hidden * ab, scaleout=(i + 1) // sn != i // sn)

    def stage(i, rows):
        t = E.mvm_latency(cc, rows, k, n) + cfg.converters.latency_s
        return t + (hop(i, rows)[1] if i + 1 < L else 0.0)

    def stages(rows):
        out = [0.0] * math.ceil(L / per_host)
        for i in range(L):
            out[i // per_host] += stage(i, rows)
        return out

    best = (sum(stage(i, batch) for i in range(L)), 1, batch)
    top = min(len(stages(batch)), batch)
    tries = sorted({top} | {2 ** e for e in range(1, int(math.log2(top)) + 1)}) if top > 1 else []
    for s in tries:
        rows = math.ceil(batch / s)
        st = stages(rows)
        period = max(s * max(st), sum(st))
        if period < best[0]:
            best = (period, s, rows)
    period, micro, rows = best
    busy = sum(stage(i, rows) for i in range(L))
    energy = {c: L * j / batch for c, j in E.mvm_energy(cfg, batch, k, n).items()}
    energy["interconnect"] = sum(hop(i, batch)[0] for i in range(L - 1)) / batch
    return dict(period=period, micro=micro, rows=rows, busy=busy, energy=energy,
                transfers=(L - 1) * micro, link_bytes=(L - 1) * hidden * ab)


@pytest.mark.parametrize("L, batch, per_host", [(4, 8, 1), (3, 7, 1), (9, 16, 1), (5, 1, 1),
                                              (2, 2, 1), (8, 8, 2), (6, 16, 3)])
def test_system_pipelined_chain_by_hand(L, batch, per_host):
    cfg = _pipelined_cfg(per_host)
    hand = _chain_by_hand(cfg, L, batch, per_host=per_host)
    p = tp.plan(_chain(L), cfg, batch=batch, context=1, gpu=None)
    hosts = math.ceil(L / per_host)
    assert p["chips"] == L and p["hosts"] == hosts and p["fits"]
    assert p["pipeline_stages"] == hosts
    assert p["micro_batches"] == hand["micro"]
    assert p["latency_s_per_token"] == pytest.approx(hand["period"], rel=1e-12)
    assert p["tokens_per_s"] == pytest.approx(batch / hand["period"], rel=1e-12)
    assert p["by_stage"]["pipeline_wait"] == pytest.approx(hand["period"] - hand["busy"],
                                                           rel=1e-9, abs=1e-18)
    assert sum(p["by_stage"].values()) == pytest.approx(hand["period"], rel=1e-12)
    dyn = p["by_component"]["dynamic"]
    for comp, j in hand["energy"].items():
        assert dyn[comp] == pytest.approx(j, rel=1e-12), comp
    watts = ST.static_power(cfg, L)
    for comp, w in watts.items():
        assert p["by_component"]["static"][comp] == pytest.approx(w * hand["period"] / batch,
                                                                  rel=1e-12), comp
    assert p["macs_per_token"] == L * 128 * 128
    a, o = cfg.array, cfg.optics
    peak = a.tile_rows * a.tile_cols * o.clock_hz * o.wdm_channels * a.tiles_in_parallel * L
    assert p["utilization"] == pytest.approx(L * 128 * 128 * batch / hand["period"] / peak,
                                             rel=1e-12)
    assert p["interconnect"]["transfers_per_step"] == hand["transfers"]
    assert p["interconnect"]["bytes_per_token"] == pytest.approx(hand["link_bytes"], rel=1e-12)
    assert p["joules_per_token"] == pytest.approx(
        sum(hand["energy"].values()) + sum(watts.values()) * hand["period"] / batch, rel=1e-12)


def test_system_micro_batches_when_pipelining_wins():
    # 4 stages, 8 sequences: 4 micro-batches of 2 rows beat the whole batch layer after layer
    p = tp.plan(_chain(4), _pipelined_cfg(), batch=8, context=1, gpu=None)
    assert p["micro_batches"] > 1 and p["by_stage"]["pipeline_wait"] >= 0


def test_system_moe_dispatch_only_when_the_experts_span_chips():
    from torch_photonic.energy.workload import Layer, Product, Workload
    cfg = tp.preset(SI, interconnect__latency_s=0.0)
    experts = Product("e", 128, 128, count=4, per_token=1, kind="experts")
    layer = Layer(name="layers.0", products=[experts], hidden=128, router_experts=4,
                  router_top_k=1)
    w = Workload(name="moe", layers=[layer], params=4 * 128 * 128, hidden=128, vocab=0)
    p = tp.plan(w, cfg, batch=2, context=1, gpu=None)
    assert p["chips"] == 4 and p["tiles_needed"] == 4   # one expert per chip
    ab = 2 * 1 * 128 * cfg.interconnect.activation_bytes
    assert p["interconnect"]["transfers_per_step"] == 2          # dispatch and combine
    assert p["interconnect"]["bytes_per_token"] == pytest.approx(2 * ab / 2, rel=1e-12)
    j, s = IC.transfer(cfg, ab)
    assert p["by_component"]["dynamic"]["interconnect"] == pytest.approx(2 * j / 2, rel=1e-12)
    assert p["by_stage"]["interconnect"] == pytest.approx(2 * s, rel=1e-12)
    # the same layer on one (large) chip exchanges nothing
    one = tp.plan(w, GLASS, batch=2, context=1, gpu=None)
    assert one["chips"] == 1 and one["interconnect"]["transfers_per_step"] == 0
    assert one["by_component"]["dynamic"]["interconnect"] == 0.0


def test_system_cw_laser_keeps_the_converter_energies():
    w = _chain(2)
    gated = tp.plan(w, SI, batch=2, context=1, gpu=None)["by_component"]["dynamic"]
    cw = tp.plan(w, tp.preset(SI, power__laser="cw"), batch=2, context=1,
                 gpu=None)["by_component"]["dynamic"]
    assert cw["laser"] == 0.0 and gated["laser"] > 0
    for comp in ("dac", "adc", "digital", "memory"):
        assert cw[comp] == gated[comp] > 0 or cw[comp] == gated[comp] == 0.0, comp
    assert cw["dac"] > 0 and cw["adc"] > 0


def test_system_kv_cache_spilling_to_a_second_tier_by_hand():
    from torch_photonic.energy.workload import Attention, Layer, Product, Workload
    cfg = tp.preset(GLASS)
    V, context = 60_000, 1_000_000                      # 1.2e11 bytes: 80 GB HBM, 40 GB DRAM
    att = Attention(heads=1, cached_values=V, flops_per_position=0.0)
    layer = Layer(name="layers.0", products=[Product("p", 1024, 1024)], attention=att,
                  hidden=1024)
    w = Workload(name="kv", layers=[layer], params=1024 * 1024, hidden=1024, vocab=0)
    p = tp.plan(w, cfg, batch=1, context=context, gpu=None)
    kvb = cfg.memory.kv_bytes
    total = context * V * kvb
    held = {"hbm": 80e9, "dram": total - 80e9}
    assert p["kv"]["bytes"] == total
    assert p["kv"]["tiers"]["hbm"] == pytest.approx(held["hbm"], rel=1e-12)
    moved = context * V * kvb + V * kvb                 # read the cache, write the new entry
    e = sum(KV.tier_energy(cfg, t, moved * h / total) for t, h in held.items())
    t = sum(KV.tier_time(cfg, t, moved * h / total, 1) for t, h in held.items())
    assert p["by_component"]["dynamic"]["kv"] == pytest.approx(e, rel=1e-9)
    assert p["by_stage"]["kv"] == pytest.approx(t, rel=1e-9)
    # the activations go to the host and back around attention
    ab = 1024 * cfg.interconnect.activation_bytes
    assert p["interconnect"]["transfers_per_step"] == 2
    assert p["interconnect"]["bytes_per_token"] == pytest.approx(2 * ab, rel=1e-12)
    assert p["by_stage"]["interconnect"] == pytest.approx(2 * IC.transfer(cfg, ab)[1],
                                                          rel=1e-12)


def test_system_rewrite_fetches_by_the_weight_bytes_and_pays_for_them():
    cfg = tp.preset(SI, memory__weight_bytes=2.0)
    w = _chain(3)
    p = tp.plan(w, cfg, batch=2, context=1, chips=1, gpu=None)
    assert not p["fits"] and p["pipeline_stages"] == 1
    overflow = 1 - cfg.array.cells_per_chip / (3 * 128 * 128 * 2)
    weights = 3 * 128 * 128 * overflow                  # every weight read once per step
    fetch = weights * 2.0
    tier = cfg.memory.weights_tier
    dyn = p["by_component"]["dynamic"]
    assert dyn["weight_fetch"] == pytest.approx(KV.tier_energy(cfg, tier, fetch) / 2, rel=1e-12)
    cells = weights * 2
    assert dyn["pcm_rewrite"] == pytest.approx(cells * cfg.pcm.write_energy_j / 2, rel=1e-12)
    assert p["rewrite_cells_per_step"] == pytest.approx(cells, rel=1e-12)
    rw_s = E.program_time(cfg, cells) + KV.tier_time(cfg, tier, fetch, 1)
    assert p["by_stage"]["rewrite"] == pytest.approx(rw_s, rel=1e-12)
    assert p["latency_s_per_token"] == pytest.approx(sum(p["by_stage"].values()), rel=1e-12)
    assert p["wear_out_tokens"] == pytest.approx(
        cfg.pcm.endurance_cycles * cfg.array.cells_per_chip / (cells / 2), rel=1e-12)


def test_system_defaults_and_sweep():
    from torch_photonic.energy import system as SYS
    assert SYS.DEFAULT_BATCHES == (1, 4, 16, 64, 256, 1024)
    w = _chain(1)
    assert tp.plan(w, SI, gpu=None)["context"] == 4096
    rows = SYS.sweep(w, SI, gpu=None)
    assert [r["batch"] for r in rows] == [1, 4, 16, 64, 256, 1024]
    assert {r["context"] for r in rows} == {4096}
    assert {r["model"] for r in rows} == {"chain"}


# ============================================================================== energy/gpu.py
def _gpu_work(params=60_000_000_000):
    from torch_photonic.energy.workload import Attention, Layer, Product, Workload
    att = Attention(heads=8, cached_values=256, flops_per_position=4096.0)
    layer = Layer(name="layers.0", hidden=1024, attention=att, ffn_width=4096,
                  products=[Product("up", 1024, 4096), Product("down", 4096, 1024)])
    return Workload(name="g", layers=[layer], params=params, hidden=1024, vocab=0)


def test_gpu_efficiencies_borrowed_and_scaled_by_datasheet_watts():
    from torch_photonic.energy import baselines, gpu as G
    own = G.efficiencies("h100", "bf16")
    assert own["watts_scale"] == 1.0 and own["borrowed_from"] is None
    b1 = [c for c in baselines.measured_cases("h100") if c["regime"] == "decode_b1"]
    assert own["memory_achieved_gb_per_s"] == pytest.approx(
        [c["tflop_per_s"] * 1e12 / 1e9 for c in b1], rel=1e-12)
    assert own["memory_peak_gb_per_s"] == pytest.approx(3350.0, rel=1e-12)
    b200 = G.efficiencies("b200", "fp8")                 # no own measurements: the H100's
    scale = 1000.0 / 700.0                               # datasheet watts, B200 over H100
    assert b200["borrowed_from"] == "h100"
    assert b200["watts_scale"] == pytest.approx(scale, rel=1e-12)
    fp8 = G.efficiencies("h100", "fp8")
    assert b200["watts_memory"] == pytest.approx(fp8["watts_memory"] * scale, rel=1e-12)
    assert b200["watts_compute"] == pytest.approx(fp8["watts_compute"] * scale, rel=1e-12)
    assert b200["compute"] == fp8["compute"] and b200["memory"] == fp8["memory"]
    with pytest.raises(ValueError, match="no datasheet power"):
        G.efficiencies("tpu-v5e", "bf16")               # no datasheet watts to scale by
    with pytest.raises(ValueError, match="no measured gemm"):
        G.efficiencies("h100", "int8")


def test_gpu_plan_edges_of_its_arguments():
    from torch_photonic.energy.gpu import gpu_plan
    w = _gpu_work()
    gpu_plan(w, "h100", batch=1, context=1, kv_bytes=1, op_overhead_s=0.0, usd_per_kwh=0.0,
             pue=1.0, utilization=1.0, amortization_years=0.5)
    for bad in (dict(batch=0), dict(context=0), dict(kv_bytes=0), dict(op_overhead_s=-1e-9),
                dict(usd_per_kwh=-0.01), dict(pue=0.99), dict(utilization=1.01),
                dict(utilization=0.0), dict(amortization_years=0.0)):
        kw = dict(batch=1, context=1)
        kw.update(bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            gpu_plan(w, "h100", **kw)
    with pytest.raises(ValueError, match="not supported"):
        gpu_plan(w, "b200", batch=1, context=1, dtype="fp4")     # a peak, but no byte size
    with pytest.raises(ValueError, match="not supported"):
        gpu_plan(w, "h100", batch=1, context=1, dtype="int8")


def test_gpu_plan_prices_and_memory_per_gpu_by_hand(monkeypatch):
    from torch_photonic.energy import baselines
    from torch_photonic.energy.gpu import gpu_plan
    w = _gpu_work()                                      # 120 GB of bf16 weights: 2 H100s
    r = gpu_plan(w, "h100", batch=1, context=64)
    need = 120e9 + 1 * 64 * 256 * 2
    assert r["gpus_needed"] == 2
    assert r["hbm_bytes_per_gpu"] == pytest.approx(need / 2, rel=1e-12)
    assert r["cost"]["gpus_usd"] == 2 * 30000.0
    assert r["bound"] == "memory"
    assert r["efficiency"]["watts_case"] == r["efficiency"]["memory_cases"]
    big = gpu_plan(w, "h100", batch=8192, context=1)
    assert big["bound"] == "compute"
    assert big["efficiency"]["watts_case"] == [big["efficiency"]["compute_case"]]
    # an empty model still takes one GPU
    from torch_photonic.energy.workload import Workload
    none = gpu_plan(Workload(name="0", layers=[], params=0, hidden=8, vocab=0), "h100",
                    batch=1, context=1)
    assert none["gpus_needed"] == 1
    # a free GPU: nothing to own
    entry = baselines.get("h100")
    free = dict(entry, system=dict(entry["system"], price_usd=0.0))
    real_get = baselines.get
    monkeypatch.setattr(baselines, "get", lambda k: free if k in ("h100", "H100") else real_get(k))
    r0 = gpu_plan(w, "h100", batch=1, context=64)
    assert r0["cost"]["owning"] == 0.0 and r0["cost"]["gpus_usd"] == 0.0
    bad = dict(entry, system=dict(entry["system"], price_usd=-1.0))
    monkeypatch.setattr(baselines, "get", lambda k: bad if k in ("h100", "H100") else real_get(k))
    with pytest.raises(ValueError, match="price_usd"):
        gpu_plan(w, "h100", batch=1, context=64)


# ============================================================ hardware/checks.py, config.py
def test_checks_integers_and_ranges():
    import numpy as np
    from torch_photonic.hardware import checks as C
    assert C.INT64_MAX == 9223372036854775807
    assert C.integer("p", 5) == 5 and C.integer("p", np.int64(7)) == 7
    for bad in (3.0, True, "3", None):
        with pytest.raises(ValueError, match="p must be an integer"):
            C.integer("p", bad)
    assert C.integer_at_least("p", 5, 1) == 5
    assert C.integer_at_least("p", 1, 1) == 1
    with pytest.raises(ValueError, match="p must be >= 1"):
        C.integer_at_least("p", 0, 1)
    assert C.integer_in("p", 0, 0, 9) == 0 and C.integer_in("p", 9, 0, 9) == 9
    for bad in (-1, 10):
        with pytest.raises(ValueError, match=r"p must be an integer in \[0, 9\]"):
            C.integer_in("p", bad, 0, 9)


def _base(field):
    return SI if field.startswith("array__") else GLASS   # one tile per chip: any array edge


def _rejects(field, value, match=None):
    with pytest.raises(ValueError, match=match or field.replace("__", ".")):
        tp.preset(_base(field), **{field: value})


# (field, the edge value accepted, the value past it rejected)
EDGES = [
    ("array__tile_rows", 1, 0), ("array__tile_cols", 1, 0), ("array__tiles_per_chip", 1, 0),
    ("array__tiles_in_parallel", 1, 0), ("array__cells_per_weight", 1, 0),
    ("pcm__levels", 2, 1), ("pcm__levels", 256, 257), ("pcm__parallel_writers", 1, 0),
    ("converters__dac_bits", 2, 1), ("converters__adc_bits", 2, 1),
    ("converters__dac_bits", 23, 24), ("converters__adc_bits", 23, 24),
    ("mapping__input_percentile", 100.0, 100.01), ("mapping__adc_percentile", 100.0, 100.5),
    ("optics__wall_plug_efficiency", 1.0, 1.01), ("optics__wdm_channels", 1, 0),
    ("power__laser_idle_fraction", 1.0, 1.01), ("power__chips_per_host", 1, 0),
    ("interconnect__supernode_chips", 1, 0), ("interconnect__activation_bytes", 1, 0),
    ("memory__kv_bytes", 1, 0), ("cost__pue", 1.0, 0.99), ("cost__pue", 1.0, 0.5),
    ("cost__utilization", 1.0, 1.01), ("chips", 1, 0),
]


@pytest.mark.parametrize("field, ok, bad", EDGES, ids=[f"{f}={b}" for f, _, b in EDGES])
def test_config_validation_edges(field, ok, bad):
    tp.preset(_base(field), **{field: ok})
    path = field.replace("__", ".")
    lower = isinstance(ok, int) and bad == ok - 1 and field not in ("array__cells_per_weight",)
    _rejects(field, bad, match=f"{path} must be >= {ok}" if lower else None)


def test_config_cells_of_a_tile_and_of_a_chip():
    # 128 x 128 weights x 2 cells = 32 768 cells: a chip of exactly that holds one tile
    base = dict(array__tile_rows=128, array__tile_cols=128, array__cells_per_weight=2,
                array__tiles_in_parallel=1)
    tp.preset(GLASS, **base, array__tiles_per_chip=1, array__cells_per_chip=32768)
    with pytest.raises(ValueError, match="tile_rows x tile_cols"):
        tp.preset(GLASS, **base, array__tiles_per_chip=1, array__cells_per_chip=32767)
    tp.preset(GLASS, **base, array__tiles_per_chip=2, array__cells_per_chip=65536)
    with pytest.raises(ValueError, match="tiles_per_chip"):
        tp.preset(GLASS, **base, array__tiles_per_chip=2, array__cells_per_chip=65535)
    with pytest.raises(ValueError, match="cells_per_chip must be >= 1"):
        tp.preset(GLASS, **base, array__tiles_per_chip=1, array__cells_per_chip=0)


@pytest.mark.parametrize("g0", [0.25, 0.5, 0.75, 1.0])
def test_config_programming_noise_must_stay_non_negative_at_each_sampled_level(g0):
    # sigma(g) = 100 (g - g0)^2 - 0.01: negative only within 0.01 of g0
    coeffs = (100 * g0 * g0 - 0.01, -200 * g0, 100.0)
    with pytest.raises(ValueError, match="program_noise_coeffs"):
        tp.preset(GLASS, pcm__program_noise_coeffs=coeffs)
    # a negative slope is fine while sigma stays >= 0 on [0, 1]
    tp.preset(GLASS, pcm__program_noise_coeffs=(0.05, -0.01, 0.0))


def test_config_groups_and_name():
    import dataclasses
    cfg = tp.preset(GLASS)
    assert dataclasses.replace(cfg, claim=None).claim is None      # the claim is optional
    for group in ("array", "optics", "pcm", "memory"):
        with pytest.raises(ValueError, match=group):
            dataclasses.replace(cfg, **{group: None})
    with pytest.raises(ValueError, match="name"):
        dataclasses.replace(cfg, name="")
    with pytest.raises(ValueError, match="kv_tiers"):
        tp.preset(GLASS, memory__kv_tiers=())


def test_system_host_time_without_an_hbm_tier():
    from torch_photonic.energy.workload import Attention, Layer, Product, Workload
    cfg = tp.preset(GLASS, memory__capacity_gb={"dram": 1024.0},
                    memory__gb_per_s={"dram": 460.0}, memory__kv_tiers=("dram",),
                    memory__weights_tier="dram")
    att = Attention(heads=1, cached_values=64, flops_per_position=1e6)
    layer = Layer(name="layers.0", products=[Product("p", 1024, 1024)], attention=att,
                  hidden=1024)
    w = Workload(name="h", layers=[layer], params=1024 * 1024, hidden=1024, vocab=0)
    p = tp.plan(w, cfg, batch=1, context=1000, gpu=None)
    flops = 1000 * 1e6 + layer.host_flops_per_token()
    compute = flops / cfg.host.flop_per_s               # no HBM: no element-wise traffic term
    assert p["by_stage"]["host"] == pytest.approx(
        layer.host_ops * cfg.host.op_overhead_s + max(0.0, compute - p["by_stage"]["kv"]),
        rel=1e-12)


def test_system_empty_workload_and_wavelengths():
    from torch_photonic.energy.workload import Layer, Workload
    w = Workload(name="e", layers=[Layer(name="layers.0")], params=0, hidden=8, vocab=0)
    p = tp.plan(w, SI, batch=1, context=1, gpu=None)
    assert p["chips_needed"] == 0 and p["chips"] == 1 and p["weights"] == 0
    cfg = tp.preset(SI, optics__wdm_channels=4)
    p = tp.plan(_chain(1), cfg, batch=8, context=1, gpu=None)
    peak = 128 * 128 * cfg.optics.clock_hz * 4 * cfg.array.tiles_in_parallel
    assert p["utilization"] == pytest.approx(128 * 128 * p["tokens_per_s"] / peak, rel=1e-12)


def test_photon_budget_of_faint_and_dark_lasers():
    cfg = tp.preset(GLASS)
    fs = cfg.mapping.adc_full_scale
    faint = _dim(cfg, 0.5 / PB.photons_per_unit(cfg))     # half a photon per unit
    ppu, rx = PB.photons_per_unit(faint), PB.receiver_sigma(faint)
    b = tp.link_budget(faint)
    assert b["shot_sigma"] == pytest.approx(math.sqrt(fs / ppu) / fs, rel=1e-9)
    assert b["snr_db"] == pytest.approx(10 * math.log10(fs * fs / (fs / ppu + rx * rx)),
                                        rel=1e-9)
    q = 2.0 ** (cfg.converters.adc_bits - 1) - 1.0
    target = (fs / (2 * q)) ** 2
    a = (rx * ppu) ** 2
    u = (-fs + math.sqrt(fs * fs + 4 * a * target)) / (2 * a)
    assert PB.laser_power_for_adc_bits(faint) == pytest.approx(
        faint.optics.laser_power_w / u / ppu, rel=1e-9)
    # no light and no receiver noise: nothing to measure, nothing wrong
    dark = cfg.replace(optics__laser_power_w=0.0, optics__tia_noise_a_per_rthz=0.0)
    b = tp.link_budget(dark)
    assert b["shot_sigma"] == 0.0 and b["snr_db"] == math.inf

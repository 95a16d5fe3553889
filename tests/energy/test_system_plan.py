"""The system plan (tp.plan): every term against a hand computation from the preset's fields,
the laws it must obey (static energy linear in time, a chain of layers no faster than the sum
of their critical paths, rewrites that fetch their weights), and clear errors on bad input."""
import math
import re

import pytest
import torch
import torch.nn as nn

import torch_photonic as tp
from torch_photonic.energy import capacity as CAP
from torch_photonic.energy import cost as C
from torch_photonic.energy import interconnect as IC
from torch_photonic.energy import kv_tiers as KV
from torch_photonic.energy.static import static_power
from torch_photonic.energy.workload import Attention, Layer, Product, Workload, touched_experts
from torch_photonic.energy.workload import workload as workload_of
from torch_photonic.models import deepseek_shapes as D

GLASS = "glass-pcm-200mm"


def one_layer(k=2048, n=1024, hidden=1024, cached=64, fpp=1024.0):
    layer = Layer(name="layers.0", products=[Product("layers.0.proj", k=k, n=n)],
                  attention=Attention(heads=4, cached_values=cached, flops_per_position=fpp),
                  hidden=hidden)
    return Workload(name="one-layer", layers=[layer], params=k * n, hidden=hidden, vocab=0)


def test_one_layer_by_hand():
    cfg = tp.preset(GLASS)
    a, cv, o, h, pw = cfg.array, cfg.converters, cfg.optics, cfg.host, cfg.power
    k, n, hidden, cached, fpp, ctx = 2048, 1024, 1024, 64, 1024.0, 100
    p = tp.plan(one_layer(k, n, hidden, cached, fpp), cfg, batch=1, context=ctx, chips=1,
                gpu=None)
    # optics: 2 x 1 tiles of 1024 x 1024, all in parallel: one pass of one clock
    t_optics = 1 / o.clock_hz
    e_laser_conv = o.laser_power_w / o.wall_plug_efficiency / (
        a.tiles_in_parallel * a.tile_cols * o.wdm_channels * o.clock_hz)
    conversions = n * 2                      # every k-tile's partial sum is digitised
    samples = k * 1                          # every input enters each of the 1 column-blocks
    dyn = dict(
        laser=conversions * e_laser_conv,
        dac=samples * (cv.dac_energy_j + cv.modulator_energy_j),
        adc=conversions * (cv.adc_energy_j + cv.pd_energy_j + cv.tia_energy_j),  # 2 GS/s, 8 b
        digital=conversions * cv.accumulate_energy_j,
        memory=(k * cv.dac_bits + n * cv.adc_bits) * h.sram_pj_per_bit * 1e-12)
    # host: attention over the context + element-wise work (13 FLOPs per hidden element)
    flops = ctx * fpp + 13 * hidden
    elem_bytes = 13 * hidden * 2
    compute = flops / h.flop_per_s + elem_bytes / (cfg.memory.gb_per_s["hbm"] * 1e9)
    kv_bytes = ctx * cached * 2 + cached * 2  # read the cache, write the new entry (bf16)
    t_kv = kv_bytes / (cfg.memory.gb_per_s["hbm"] * 1e9)
    t_host = 9 * h.op_overhead_s + max(0.0, compute - t_kv)
    dyn["host"] = flops * h.energy_per_flop_j + elem_bytes * h.energy_per_byte_j
    dyn["kv"] = kv_bytes * 8 * h.tier_pj_per_bit["hbm"] * 1e-12
    # activations to the host and back: 2 transfers of 1024 bf16 values
    ic = cfg.interconnect
    t_link = 2 * (ic.latency_s + 2048 / (ic.gb_per_s * 1e9))
    dyn["interconnect"] = 2 * 2048 * 8 * ic.pj_per_bit * 1e-12
    period = t_optics + cv.latency_s + t_host + t_kv + t_link

    assert p["latency_s_per_token"] == pytest.approx(period, rel=1e-12)
    st = p["by_stage"]
    assert st["optics"] == pytest.approx(t_optics, rel=1e-12)
    assert st["converters"] == pytest.approx(cv.latency_s, rel=1e-12)
    assert st["host"] == pytest.approx(t_host, rel=1e-12)
    assert st["kv"] == pytest.approx(t_kv, rel=1e-12)
    assert st["interconnect"] == pytest.approx(t_link, rel=1e-12)
    assert st["rewrite"] == 0 and st["pipeline_wait"] == 0
    got = p["by_component"]["dynamic"]
    for c, v in dyn.items():
        assert got[c] == pytest.approx(v, rel=1e-12), c
    assert got["pcm_rewrite"] == 0 and got["weight_fetch"] == 0
    # static: one chip and one host over the period
    laser_w = o.laser_power_w / o.wall_plug_efficiency
    watts = dict(laser=laser_w * pw.laser_idle_fraction,
                 drivers=a.tiles_per_chip * a.tile_rows * pw.driver_w,
                 receivers=a.tiles_per_chip * a.tile_cols * pw.receiver_w,
                 clock=pw.clock_w, tuning=0.0, control=pw.control_w, host=pw.host_idle_w)
    for c, w in watts.items():
        assert p["by_component"]["static"][c] == pytest.approx(w * period, rel=1e-12), c
    j = sum(dyn.values()) + sum(watts.values()) * period
    assert p["joules_per_token"] == pytest.approx(j, rel=1e-12)
    assert p["joules_per_token_static"] == pytest.approx(sum(watts.values()) * period, rel=1e-12)
    assert p["tokens_per_s"] == pytest.approx(1 / period, rel=1e-12)
    peak_macs = a.tile_rows * a.tile_cols * o.clock_hz * a.tiles_in_parallel
    assert p["utilization"] == pytest.approx(k * n / period / peak_macs, rel=1e-12)
    # cost: the chip (substrate + CMOS per channel + lasers) and a host, paid off over the
    # tokens served at half utilisation in 4 years, plus electricity at PUE 1.2
    cc = cfg.cost
    chip = (cc.substrate_usd + a.tiles_per_chip * (a.tile_rows + a.tile_cols)
            * cc.cmos_mm2_per_channel * cc.cmos_usd_per_mm2 + cc.laser_usd_per_w * o.laser_power_w)
    served = cc.amortization_years * 365.25 * 86400 * cc.utilization / period
    usd = 1e6 * ((chip + cc.host_usd) / served + j * cc.pue * cc.usd_per_kwh / 3.6e6)
    assert p["usd_per_million_tokens"] == pytest.approx(usd, rel=1e-12)
    assert p["chips"] == 1 and p["fits"] and p["wear_out_tokens"] is None


def test_static_energy_linear_in_time_and_zero_static_assumption():
    cfg = tp.preset(GLASS)
    w = sum(static_power(cfg, 3).values())
    assert w > 0
    e1, e2 = (sum(tp.energy.static.static_energy(cfg, t, 3).values()) for t in (1e-3, 3e-3))
    assert e2 == pytest.approx(3 * e1, rel=1e-12) and e1 == pytest.approx(w * 1e-3, rel=1e-12)
    # hosts: one per 8 chips
    assert static_power(cfg, 9)["host"] == pytest.approx(2 * cfg.power.host_idle_w)
    # with every static term zero, the plan's static joules vanish and the total is the dynamic
    zero = cfg.replace(power__laser_idle_fraction=0.0, power__driver_w=0.0,
                       power__receiver_w=0.0, power__clock_w=0.0, power__control_w=0.0,
                       power__host_idle_w=0.0)
    p = tp.plan(one_layer(), zero, chips=1, gpu=None)
    assert p["joules_per_token_static"] == 0
    assert p["joules_per_token"] == pytest.approx(p["zero_static"]["joules_per_token"], rel=1e-12)
    # a CW laser is all static: none of it per conversion
    cw = tp.plan(one_layer(), cfg.replace(power__laser="cw"), chips=1, gpu=None)
    assert cw["by_component"]["dynamic"]["laser"] == 0
    laser_w = cfg.optics.laser_power_w / cfg.optics.wall_plug_efficiency
    assert cw["by_component"]["static"]["laser"] == pytest.approx(
        laser_w * cw["latency_s_per_token"], rel=1e-12)


def test_static_energy_per_token_is_watts_times_period_over_batch():
    p = tp.plan("deepseek-tiny-random", GLASS, batch=8, context=64, gpu=None)
    w = sum(p["static_watts"].values())
    assert p["joules_per_token_static"] == pytest.approx(w * p["latency_s_per_token"] / 8,
                                                         rel=1e-12)


def test_chain_of_layers_no_faster_than_sum_of_critical_paths():
    model = D.build_meta_model(D.v3_config(num_hidden_layers=4, first_k_dense_replace=1))
    cfg = tp.preset(GLASS)
    p = tp.plan(model, cfg, batch=1, context=128, gpu=None)
    work = workload_of(model)
    cc = cfg.replace(chips=p["chips"])
    floor = 0.0
    for layer in work.layers:
        for prod in layer.products:
            floor += tp.energy.model.mvm_latency(cc, 1, prod.k, prod.n) + cfg.converters.latency_s
        floor += layer.host_ops * cfg.host.op_overhead_s
    assert p["latency_s_per_token"] >= floor
    # batch 1 cannot pipeline: the period is the whole chain
    assert p["micro_batches"] == 1 and p["by_stage"]["pipeline_wait"] == 0
    assert p["latency_s_per_token"] == pytest.approx(
        sum(v for s, v in p["by_stage"].items()), rel=1e-12)


def test_rewrite_mode_fetches_weights_from_their_tier():
    model = D.build_meta_model(D.v3_config(num_hidden_layers=2, first_k_dense_replace=1))
    cfg = tp.preset(GLASS)
    p = tp.plan(model, cfg, batch=1, context=64, chips=1, gpu=None)
    assert not p["fits"] and p["chips_needed"] > 1
    work = workload_of(model)
    # the share not resident: cells or tiles, whichever runs out first (here the tiles)
    overflow = max(1 - p["capacity_cells"] / p["cells_needed"],
                   1 - cfg.array.tiles_per_chip / p["tiles_needed"])
    assert overflow > 1 - p["capacity_cells"] / p["cells_needed"]
    weights = work.active_weights(1) * overflow
    fetch = weights * cfg.memory.weight_bytes
    tier = cfg.memory.weights_tier
    dyn = p["by_component"]["dynamic"]
    assert dyn["weight_fetch"] == pytest.approx(
        fetch * 8 * cfg.host.tier_pj_per_bit[tier] * 1e-12, rel=1e-12)
    cells = weights * cfg.array.cells_per_weight
    assert dyn["pcm_rewrite"] == pytest.approx(cells * cfg.pcm.write_energy_j, rel=1e-12)
    writers = cfg.array.tiles_per_chip * cfg.array.tile_cols
    t_rw = math.ceil(cells / writers) * cfg.pcm.write_time_s
    t_fetch = fetch / (cfg.memory.gb_per_s[tier] * 1e9)
    assert p["by_stage"]["rewrite"] == pytest.approx(t_rw + t_fetch, rel=1e-12)
    # wear-out: every cell's endurance over the cells rewritten per token
    assert p["wear_out_tokens"] == pytest.approx(
        cfg.pcm.endurance_cycles * p["capacity_cells"] / cells, rel=1e-12)
    assert p["wear_out_hours"] == pytest.approx(
        p["wear_out_tokens"] / p["tokens_per_s"] / 3600, rel=1e-12)


def test_transfer_and_kv_tiers_by_hand():
    cfg = tp.preset(GLASS)
    ic = cfg.interconnect
    j, s = IC.transfer(cfg, 1e6)
    assert j == pytest.approx(1e6 * 8 * ic.pj_per_bit * 1e-12)
    assert s == pytest.approx(ic.latency_s + 1e6 / (ic.gb_per_s * 1e9))
    j, s = IC.transfer(cfg, 1e6, scaleout=True)
    assert j == pytest.approx(1e6 * 8 * ic.scaleout_pj_per_bit * 1e-12)
    assert s == pytest.approx(ic.scaleout_latency_s + 1e6 / (ic.scaleout_gb_per_s * 1e9))
    # two hosts: 160 GB HBM, then DRAM
    fill = KV.kv_fill(cfg, 200e9, hosts=2)
    assert fill == {"hbm": pytest.approx(160e9), "dram": pytest.approx(40e9), "ssd": 0.0}
    assert KV.tier_time(cfg, "dram", 40e9, 2) == pytest.approx(40e9 / (2 * 460e9))
    with pytest.raises(ValueError, match="does not fit in any tier"):
        KV.kv_fill(cfg, KV.kv_capacity_bytes(cfg, 1) * 1.01, hosts=1)


def test_placement_fills_chips_in_order():
    cfg = tp.preset(GLASS)               # 309 tiles per chip
    big = Product("p", k=1024 * 200, n=1024)              # 200 tiles
    layers = [Layer(name=f"layers.{i}", products=[big]) for i in range(3)]
    w = Workload(name="w", layers=layers, params=0, hidden=1024, vocab=0)
    pl = IC.place(w, cfg, 2)
    assert pl.fits and [(l.first_chip, l.last_chip) for l in pl.layers] == [(0, 0), (0, 1), (1, 1)]
    assert not IC.place(w, cfg, 1).fits


def test_touched_experts_and_kv_bytes():
    p = Product("e", k=8, n=8, count=256, per_token=8, kind="experts")
    assert touched_experts(p, 1) == pytest.approx(8)
    assert touched_experts(p, 64) == pytest.approx(256 * (1 - (1 - 8 / 256) ** 64))
    w = workload_of(D.build_meta_model())
    assert w.cached_values_per_token() == 61 * (512 + 64)
    assert w.kv_bytes(3, 10, 2) == 3 * 10 * 61 * 576 * 2


def test_batch_sweep_throughput_rises_and_static_share_falls():
    rows = tp.energy.sweep("deepseek-tiny-random", GLASS, batches=(1, 16, 256), context=64,
                           gpu=None)
    tps = [r["tokens_per_s"] for r in rows]
    assert tps[0] < tps[1] < tps[2]
    share = [r["joules_per_token_static"] / r["joules_per_token"] for r in rows]
    assert share[0] > share[2]


@pytest.mark.parametrize("kw,arg", [(dict(batch=0), "batch"), (dict(context=-1), "context"),
                                    (dict(batch=1.5), "batch"), (dict(chips=0), "chips")])
def test_bad_batch_context_chips(kw, arg):
    with pytest.raises(ValueError, match=arg):
        tp.plan(one_layer(), GLASS, gpu=None, **kw)


@pytest.mark.parametrize("arg", ["batch", "context", "chips"])
@pytest.mark.parametrize("bad", [4.0, 2.5, True, "4", None])
def test_batch_context_chips_must_be_ints(arg, bad):
    if arg == "chips" and bad is None:       # chips=None: as many as hold the weights
        return
    with pytest.raises(ValueError, match=rf"{arg} must be a positive integer .*not a bool or a "
                                         rf"float.*got {re.escape(repr(bad))}"):
        tp.plan(one_layer(), GLASS, gpu=None, **{arg: bad})


def test_batch_context_chips_take_any_integer_type():
    import numpy as np
    p = tp.plan(one_layer(), GLASS, batch=np.int64(2), context=np.int32(8), chips=np.int64(1),
                gpu=None)
    assert (p["batch"], p["context"], p["chips"]) == (2, 8, 1)
    assert all(type(p[k]) is int for k in ("batch", "context", "chips"))


def test_overflow_is_the_resource_that_runs_out_first():
    cfg = tp.preset(GLASS)                       # 1 chip: 6.5e8 cells, 309 tiles
    cells, tiles = cfg.array.cells_per_chip, cfg.array.tiles_per_chip
    assert CAP.overflow(cfg, cells, tiles) == 0.0
    assert CAP.overflow(cfg, 0, 0) == 0.0
    assert CAP.overflow(cfg, 4 * cells, tiles) == pytest.approx(0.75, rel=1e-12)
    assert CAP.overflow(cfg, 10, 4 * tiles) == pytest.approx(0.75, rel=1e-12)
    assert CAP.overflow(cfg, 2 * cells, 4 * tiles) == pytest.approx(0.75, rel=1e-12)
    assert CAP.overflow(cfg.replace(chips=4), 4 * cells, 4 * tiles) == 0.0


@pytest.mark.parametrize("as_workload", [False, True])
def test_rewrites_when_tiles_bind_but_cells_do_not(as_workload):
    # 400 matrices of 8 x 8 on one glass chip: 51,200 cells of 6.5e8, but 400 tiles of 309
    cfg = tp.preset(GLASS)
    with torch.device("meta"):
        model = nn.Sequential(*[nn.Linear(8, 8, bias=False) for _ in range(400)])
    cap = tp.energy.capacity_plan(model, cfg)
    assert cap["cells_needed"] == 400 * 64 * 2 < cap["capacity_cells"]
    assert cap["tiles_needed"] == 400 > cfg.array.tiles_per_chip and not cap["fits"]
    share = 1 - cfg.array.tiles_per_chip / 400
    assert cap["rewrite_cells_per_token"] == pytest.approx(400 * 64 * 2 * share, rel=1e-12)
    target = workload_of(model) if as_workload else model
    p = tp.plan(target, cfg, batch=1, context=1, chips=1, gpu=None)
    assert not p["fits"] and p["tiles_needed"] == 400
    # the system plan rewrites what the capacity plan says does not stay resident
    assert p["rewrite_cells_per_step"] == pytest.approx(cap["rewrite_cells_per_token"], rel=1e-12)
    assert p["by_component"]["dynamic"]["pcm_rewrite"] == pytest.approx(
        cap["rewrite_joules_per_token"], rel=1e-12)
    assert p["by_stage"]["rewrite"] > 0
    # with chips for every tile nothing is rewritten
    q = tp.plan(target, cfg, batch=1, context=1, chips=2, gpu=None)
    assert q["fits"] and q["rewrite_cells_per_step"] == 0


def test_chips_that_cannot_hold_the_kv_cache():
    with pytest.raises(ValueError, match="does not fit in any tier"):
        tp.plan("deepseek-v3", GLASS, batch=1024, context=1_000_000, chips=8, gpu=None)


@pytest.mark.parametrize("field", ["power__driver_w", "power__host_idle_w", "cost__usd_per_kwh",
                                   "cost__host_usd", "interconnect__pj_per_bit"])
def test_negative_prices_and_powers_are_rejected(field):
    group, name = field.split("__")
    with pytest.raises(ValueError, match=f"{group}.{name}"):
        tp.preset(GLASS, **{field: -1.0})


def test_unknown_model_name():
    with pytest.raises(ValueError, match="model_or_name"):
        tp.plan("gpt-9", GLASS)


def test_converted_model_plans_the_same_work():
    """A converted model (photonic layers in place of nn.Linear) is the same work as its source."""
    from torch_photonic.models import build_deepseek
    model = build_deepseek("deepseek-tiny-random")
    before = workload_of(model)
    conv = tp.convert(model, "ideal")
    after = workload_of(conv)
    assert after.optical_weights == before.optical_weights > 0
    assert after.macs_per_token() == before.macs_per_token()
    assert [l.name for l in after.layers] == [l.name for l in before.layers]
    assert tp.energy.capacity_plan(conv, "ideal")["weights"] == before.optical_weights


def test_placement_is_reported_and_covers_every_chip():
    p = tp.plan("deepseek-v3", GLASS, batch=1, context=128, gpu=None)
    pl = p["placement"]
    assert [x["layer"] for x in pl][0] == "layers.0" and pl[-1]["layer"] == "head"
    assert pl[0]["first_chip"] == 0 and pl[-1]["last_chip"] == p["chips"] - 1
    assert sum(x["tiles"] for x in pl) == p["tiles_needed"]
    # in order: a layer starts on the chip where the previous one ends, or the next
    for a, b in zip(pl, pl[1:]):
        assert b["first_chip"] in (a["last_chip"], a["last_chip"] + 1)

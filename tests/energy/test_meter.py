"""Meter: events -> joules, nesting, threads, capacity, KV/host, reports and bad input."""
import json
import struct
import threading

import pytest

import torch_photonic as tp
from torch_photonic.energy import model as E
from torch_photonic.energy import events, report
from torch_photonic.energy.static import static_power

GLASS = "glass-pcm-200mm"


def test_nothing_recorded_outside_a_meter():
    cfg = tp.preset(GLASS)
    assert not events.active()
    events.record_mvm("l", "linear", 4, 64, 64, cfg)
    events.record_host("softmax", 100, 100)
    with tp.meter() as m:
        assert events.active()
    assert not events.active()
    assert m.joules == 0.0 and m.macs == 0 and m.breakdown() == {}


def test_pcm_write_paid_once_for_100_forwards():
    cfg = tp.preset(GLASS)
    k, n = 512, 256
    cells = k * n * cfg.array.cells_per_weight
    with tp.meter() as m:
        events.record_program("l", k * n, cells, cfg)          # programmed once
        for _ in range(100):
            events.record_mvm("l", "linear", 1, k, n, cfg)
    b = m.breakdown("bottom_up")
    assert b["pcm_write"] == pytest.approx(cells * cfg.pcm.write_energy_j)
    assert "pcm_rewrite" not in b                            # fits: no rewrites
    one = E.mvm_energy(cfg, 1, k, n)
    assert b["adc"] == pytest.approx(100 * one["adc"])
    assert m.macs == 100 * k * n


def test_meters_nest():
    cfg = tp.preset(GLASS)
    with tp.meter() as outer:
        events.record_mvm("a", "linear", 1, 1024, 1024, cfg)
        with tp.meter() as inner:
            events.record_mvm("b", "linear", 2, 1024, 1024, cfg)
        events.record_mvm("c", "linear", 1, 1024, 1024, cfg)
    assert inner.macs == 2 * 1024 * 1024
    assert outer.macs == 4 * 1024 * 1024
    dyn = lambda m: m.joules - m.breakdown()["static"]
    assert dyn(outer) == pytest.approx(4 * dyn(inner) / 2)
    # static energy is linear in the metered time
    watts = sum(static_power(cfg).values())
    assert outer.breakdown()["static"] == pytest.approx(watts * outer.seconds, rel=1e-12)
    assert inner.breakdown()["static"] == pytest.approx(watts * inner.seconds, rel=1e-12)
    assert [r["module"] for r in inner.per_layer()] == ["b"]


def test_thread_safe():
    cfg = tp.preset("silicon-photonic-128")
    n_threads, n_events = 8, 500

    def work(i):
        for _ in range(n_events):
            events.record_mvm(f"t{i % 2}", "linear", 1, 128, 128, cfg)
            events.record_kv(10, 1)

    with tp.meter() as m:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert m.macs == n_threads * n_events * 128 * 128
    kv = m.breakdown()["kv"]
    assert kv == pytest.approx(n_threads * n_events * 11 * 8 * 3.9e-12)


def test_kv_tier_and_host_reported_apart():
    cfg = tp.preset(GLASS, host__kv_tier="ssd")
    with tp.meter(config=cfg) as m:
        events.record_mvm("l", "linear", 1, 1024, 1024, cfg)
        events.record_kv(1e6, 2e3, module="kv_cache")
        events.record_host("softmax", 1e6, 4e6, module="attn")
    b = m.breakdown()
    assert b["kv"] == pytest.approx((1e6 + 2e3) * 8 * cfg.host.tier_pj_per_bit["ssd"] * 1e-12)
    assert b["host"] == pytest.approx(1e6 * cfg.host.energy_per_flop_j + 4e6 * cfg.host.energy_per_byte_j)
    rows = {(r["module"], r["op"]): r for r in m.per_layer()}
    assert set(rows[("kv_cache", "kv")]["joules"]) == {"kv"}
    assert set(rows[("attn", "softmax")]["joules"]) == {"host"}
    # KV and host are charged bottom-up in claim mode too, the optics by the claim
    c = m.breakdown("claim")
    assert c["kv"] == pytest.approx(b["kv"]) and c["host"] == pytest.approx(b["host"])
    assert "laser" not in c and "claim" in c


def test_dynamic_products_electronic_or_optical():
    cfg = tp.preset(GLASS)
    with tp.meter() as m:
        events.record_mvm("attn", "qk", 1, 64, 100, cfg, dynamic=True, batch=4)
    macs = 4 * 64 * 100
    flops, nbytes = 2 * macs, 4 * (64 + 100) * 2
    host_s = cfg.host.op_overhead_s + max(flops / cfg.host.flop_per_s,
                                          nbytes / (cfg.memory.gb_per_s["hbm"] * 1e9))
    assert m.seconds == pytest.approx(host_s, rel=1e-12)
    assert m.breakdown() == {
        "host": pytest.approx(flops * cfg.host.energy_per_flop_j
                              + nbytes * cfg.host.energy_per_byte_j, rel=1e-12),
        "static": pytest.approx(sum(static_power(cfg).values()) * host_s, rel=1e-12)}
    opt = cfg.replace(dynamic__mode="optical")
    with tp.meter() as m2:
        events.record_mvm("attn", "qk", 1, 64, 100, opt, dynamic=True, batch=4)
    # the changing operand is modulated too: 4 * 64 * 100 extra DAC samples
    per = cfg.converters.dac_energy_j + cfg.converters.modulator_energy_j
    assert m2.breakdown()["dac"] == pytest.approx((4 * 64 + macs) * per)
    assert m2.capacity()["cells_read"] == 0                 # no PCM cells for dynamic operands


def test_capacity_rewrites_and_wear():
    cfg = tp.preset("silicon-photonic-128")            # 32768 cells per chip
    k = n = 256                                        # 65536 weights = 131072 cells = 4 chips
    cells = k * n * 2
    with tp.meter() as m:
        events.record_program("l", k * n, cells, cfg)
        for _ in range(10):
            events.record_mvm("l", "linear", 1, k, n, cfg)
    m.per_token(10)
    cap = m.capacity()
    assert cap["chips_needed"] == 4 and not cap["fits"]
    overflow = 1 - 32768 / cells                       # pin 1/4, stream 3/4
    rw = 10 * cells * overflow
    assert cap["rewrite_cells"] == pytest.approx(rw)
    assert m.breakdown()["pcm_rewrite"] == pytest.approx(rw * 100e-12)
    rw_time = E.program_time(cfg, cells * overflow) * 10
    assert cap["rewrite_seconds"] == pytest.approx(E.program_time(cfg, rw))
    assert m.seconds >= rw_time * 0.99
    wear = 1e4 / (rw / m.seconds / 32768) / 3600
    assert cap["wear_hours"] == pytest.approx(wear)
    assert cap["wear_out_tokens"] == pytest.approx(1e4 * 32768 / (rw / 10))
    # policy "chips": nothing charged, chips needed still reported
    with tp.meter(capacity="chips") as m2:
        events.record_program("l", k * n, cells, cfg)
        events.record_mvm("l", "linear", 1, k, n, cfg)
    assert "pcm_rewrite" not in m2.breakdown() and m2.capacity()["chips_needed"] == 4
    # enough chips: fits, nothing rewritten
    with tp.meter() as m3:
        c4 = cfg.replace(chips=4)
        events.record_program("l", k * n, cells, c4)
        events.record_mvm("l", "linear", 1, k, n, c4)
    assert m3.capacity()["fits"] and "pcm_rewrite" not in m3.breakdown()


def _meter_with_work(name=GLASS):
    cfg = tp.preset(name)
    with tp.meter() as m:
        events.record_program("model.fc1", 1024 * 1024, 2 * 1024 * 1024, cfg)
        for _ in range(3):
            events.record_mvm("model.fc1", "linear", 1, 1024, 1024, cfg)
            events.record_mvm("model.fc2", "linear", 1, 1024, 512, cfg)
            events.record_host("softmax", 1e5, 1e5, module="model.attn")
            events.record_kv(1e5, 1e3)
    return m


def test_per_token_cost_and_bad_input():
    m = _meter_with_work()
    pt = m.per_token(3)
    assert pt["joules"] == pytest.approx(m.joules / 3)
    assert pt["bottom_up"]["seconds"] == pytest.approx(m.seconds / 3)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            m.per_token(bad)
    c = m.cost(0.10, pue=1.2)
    assert c["cost_per_million_tokens"] == pytest.approx(m.joules / 3 * 1e6 * 1.2 / 3.6e6 * 0.10)
    # owning: the chip and its host paid off over the tokens served at the metered rate
    cfg = m._cfg()
    cc = cfg.cost
    a = cfg.array
    chip = (cc.substrate_usd + a.tiles_per_chip * (a.tile_rows + a.tile_cols)
            * cc.cmos_mm2_per_channel * cc.cmos_usd_per_mm2
            + cc.laser_usd_per_w * cfg.optics.laser_power_w)
    served = cc.amortization_years * 365.25 * 86400 * cc.utilization * 3 / m.seconds
    assert c["owning_per_million_tokens"] == pytest.approx(1e6 * (chip + cc.host_usd) / served)
    assert c["total_per_million_tokens"] == pytest.approx(
        c["owning_per_million_tokens"] + c["cost_per_million_tokens"])
    with pytest.raises(ValueError, match="token count"):
        _meter_with_work().cost(0.1)                 # no token count known yet
    with pytest.raises(ValueError):
        m.cost(0.1, pue=0.5)


def test_compare_gpu():
    m = _meter_with_work()
    r = m.compare("h100")
    assert r["regime"] == "decode_b1"
    meas = [x for x in r["rows"] if x["kind"] == "measured"]
    ds = [x for x in r["rows"] if x["kind"] == "datasheet"]
    assert len(meas) == 8 and len(ds) == 2
    flops = 2 * m.macs + 3 * 1e5
    b1 = max((x for x in meas if "batch1" in x["case"]), key=lambda x: x["tflop_per_joule"])
    assert r["ratio_energy"] == pytest.approx(flops / (b1["tflop_per_joule"] * 1e12) / m.joules)
    assert all(x["source"] for x in r["rows"])
    assert m.compare("B200")["rows"][0]["kind"] == "datasheet"
    with pytest.raises(ValueError, match="h100"):
        m.compare("gtx-9000")


def test_json_validates_and_renders(tmp_path):
    import jsonschema
    m = _meter_with_work()
    m.per_token(3)
    p = tmp_path / "r.json"
    m.to_json(str(p))
    d = json.loads(p.read_text())
    report.validate(d)
    assert d["modes"]["bottom_up"]["joules"] == pytest.approx(m.joules)
    assert d["modes"]["claim"]["breakdown"]["claim"] > 0
    bad = dict(d, modes=dict(d["modes"], bottom_up=dict(d["modes"]["bottom_up"], joules=-1)))
    with pytest.raises(jsonschema.ValidationError):
        report.validate(bad)
    text = report.render(str(p))
    assert "bottom_up" in text and "claim" in text and "model.fc1" in text
    assert m.summary() == report.render(d)
    # a preset without a claim says so rather than printing a number
    m2 = _meter_with_work("silicon-photonic-128")
    assert m2.total_joules("claim") is None
    assert "(no claim)" in m2.summary()
    report.validate(m2.to_dict())


def test_plot_png(tmp_path):
    m = _meter_with_work()
    p = tmp_path / "m.png"
    m.plot(str(p))
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert w > 300 and h > 200 and len(data) > 5000
    with pytest.raises(FileNotFoundError, match="does not exist"):
        m.plot(str(tmp_path / "missing" / "m.png"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        m.to_json(str(tmp_path / "missing" / "m.json"))

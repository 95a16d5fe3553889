"""The meter by value on both paths (a ``tp.convert`` layer and an ``nn.Linear`` on the device):
exact MACs, the (m, k, n) each path records, conversions, and joules and seconds component by
component, worked out by hand from the preset's fields.

Shapes: fan-in ``k`` differs from fan-out ``n`` (a swap of the two shows), inputs are 3-D (every
leading dimension is a row), and the layers either divide the tiles exactly or leave a partial
tile (``silicon-photonic-128``: 128x128 tiles, one tile per chip of 32 768 cells).
"""
from __future__ import annotations

import math

import pytest
import torch

import torch_photonic as tp
from torch_photonic.energy import model as E
from torch_photonic.energy.events import Recorder
from torch_photonic.energy.static import static_power

SI = "silicon-photonic-128"
GLASS = "glass-pcm-200mm"

# (preset, k, n, leading dims, k_tiles, n_tiles)
CASES = [
    (SI, 256, 128, (2, 3), 2, 1),        # divides the tiles exactly; 65 536 cells: 2x the chip
    (SI, 128, 64, (5, 1, 2), 1, 1),      # half a tile of outputs; fits
    (SI, 200, 130, (4, 5), 2, 2),        # partial tiles both ways; 52 000 cells
    (GLASS, 4096, 64, (3, 2), 4, 1),     # glass: 1024x1024 tiles, k divides, n does not
]
IDS = ["si-256x128", "si-128x64", "si-200x130", "glass-4096x64"]


def _cfg(name):
    # one product per forward: no bound-management passes on top of it
    return tp.preset(name, mapping__bound_management=0)


def _by_hand(cfg, m, k, n, kt, nt):
    """Joules by optical component of one [m, k] @ [k, n] product, from the docstring's formulas."""
    c = cfg.converters
    dac_samples = m * k * nt
    conversions = m * n * kt
    o, a = cfg.optics, cfg.array
    laser = o.laser_power_w / o.wall_plug_efficiency / (
        a.tiles_in_parallel * a.tile_cols * o.wdm_channels * o.clock_hz)
    adc = c.adc_energy_j
    if c.adc_ref_hz > 0:
        adc *= max(1.0, o.clock_hz / c.adc_ref_hz)
    if c.adc_schreier_db > 0:
        adc = max(adc, 0.5 * 10.0 ** ((6.02 * c.adc_bits + 1.76 - c.adc_schreier_db) / 10.0))
    return dict(
        laser=0.0 if cfg.power.laser == "cw" else conversions * laser,
        dac=dac_samples * (c.dac_energy_j + c.modulator_energy_j),
        adc=conversions * (adc + c.pd_energy_j + c.tia_energy_j),
        digital=conversions * c.accumulate_energy_j,
        memory=(m * k * c.dac_bits + m * n * c.adc_bits) * cfg.host.sram_pj_per_bit * 1e-12,
    )


def _latency_by_hand(cfg, m, kt, nt):
    tiles = kt * nt
    parallel = min(cfg.array.tiles_in_parallel * cfg.chips, tiles)
    cycles = math.ceil(m / cfg.optics.wdm_channels) * math.ceil(tiles / parallel)
    return cycles / cfg.optics.clock_hz + cfg.converters.latency_s


def _run(path, cfg, k, n, lead, seed=0):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(k, n)
    x = torch.randn(*lead, k)
    if path == "convert":
        layer = tp.convert(lin, cfg)
        with torch.no_grad(), Recorder() as rec, tp.meter() as m:
            y = layer(x)
    else:
        dev = lin.to("photonic")
        with torch.photonic.set_config(cfg), torch.no_grad(), Recorder() as rec, \
                tp.meter() as m:
            y = dev(x.to("photonic")).cpu()
    assert y.shape == (*lead, n)
    return rec, m


def _strip(p):
    return {a: b for a, b in p.items() if a not in ("op", "config")}


@pytest.mark.parametrize("path", ["convert", "device"])
@pytest.mark.parametrize("name, k, n, lead, kt, nt", CASES, ids=IDS)
def test_one_forward_by_value(path, name, k, n, lead, kt, nt):
    cfg = _cfg(name)
    m_rows = math.prod(lead)
    rec, m = _run(path, cfg, k, n, lead)

    # what was recorded: one product (m, k, n) on this config, and one programming
    mvm = rec.of("mvm")
    assert [(p["m"], p["k"], p["n"], p["batch"], p["dynamic"], p["expert"]) for p in mvm] \
        == [(m_rows, k, n, 1, False, None)]
    assert mvm[0]["config"] == cfg
    cells = k * n * cfg.array.cells_per_weight
    assert [(p["weights"], p["cells"]) for p in rec.of("program")] == [(k * n, cells)]

    # counts
    assert m.macs == m.optical_macs == m_rows * k * n
    counts = E.mvm_counts(cfg, m_rows, k, n)
    assert (counts["k_tiles"], counts["n_tiles"]) == (kt, nt)
    assert counts["dac_samples"] == m_rows * k * nt
    assert counts["adc_conversions"] == m_rows * n * kt
    assert counts["tile_passes"] == m_rows * kt * nt

    # the product's row: joules by component equal the model's and the hand computation
    product = [r for r in m.per_layer() if r["macs"]]
    assert len(product) == 1 and product[0]["calls"] == 1
    j = product[0]["joules"]
    hand = _by_hand(cfg, m_rows, k, n, kt, nt)
    model = E.mvm_energy(cfg, m_rows, k, n)
    cap = E.capacity_cells(cfg)
    overflow = max(0.0, 1.0 - cap / cells)
    for comp in E.OPTICAL_COMPONENTS:
        assert j[comp] == model[comp], comp
        assert j[comp] == pytest.approx(hand[comp], rel=1e-12, abs=0.0), comp
    if overflow:   # the weight does not fit: its cells past the chip are rewritten when read
        assert j["pcm_rewrite"] == pytest.approx(cells * overflow * cfg.pcm.write_energy_j,
                                                 rel=1e-12)
    else:
        assert "pcm_rewrite" not in j
    assert set(j) == set(E.OPTICAL_COMPONENTS) | ({"pcm_rewrite"} if overflow else set())
    rewrite_s = E.program_time(cfg, cells * overflow) if overflow else 0.0
    assert product[0]["seconds"] == pytest.approx(
        _latency_by_hand(cfg, m_rows, kt, nt) + rewrite_s, rel=1e-12)

    # the meter's totals, component by component
    b = m.breakdown()
    for comp in E.OPTICAL_COMPONENTS:
        assert b[comp] == model[comp], comp
    assert b["pcm_write"] == pytest.approx(cells * cfg.pcm.write_energy_j, rel=1e-12)
    program_row = [r for r in m.per_layer() if r["op"] == "program"]
    assert len(program_row) == 1
    assert program_row[0]["seconds"] == pytest.approx(E.program_time(cfg, cells), rel=1e-12)
    assert E.program_time(cfg, cells) == pytest.approx(
        math.ceil(cells / (cfg.array.tiles_per_chip * cfg.array.tile_cols * cfg.chips))
        * cfg.pcm.write_time_s, rel=1e-12)
    host = [r for r in m.per_layer() if r["module"] == "device.host"]
    if path == "convert":      # the bias is added inside the product
        assert host == [] and "host" not in b
    else:                      # the device adds it in the epilogue, on the host
        assert [r["op"] for r in host] == ["photonic::epilogue.addmm"]
        # it reads the [m, n] product and the bias, writes [m, n] (float32); one FLOP per
        # element read or written, whichever is more
        read, written = (m_rows * n + n) * 4, m_rows * n * 4
        flops = max(m_rows * n, read // 4)
        assert host[0]["joules"] == {"host": pytest.approx(
            flops * cfg.host.energy_per_flop_j + (read + written) * cfg.host.energy_per_byte_j,
            rel=1e-12)}
        assert host[0]["seconds"] == pytest.approx(
            E.host_seconds(cfg, flops, read + written, 1), rel=1e-12)
        assert b["host"] == host[0]["joules"]["host"]
    assert b["static"] == pytest.approx(sum(static_power(cfg).values()) * m.seconds, rel=1e-12)
    assert m.static() == pytest.approx({c: w * m.seconds for c, w in static_power(cfg).items()},
                                       rel=1e-12)
    assert m.seconds == pytest.approx(sum(r["seconds"] for r in m.per_layer()), rel=1e-12)
    assert m.joules == pytest.approx(sum(b.values()), rel=1e-12)
    assert m.tops_per_watt == pytest.approx(2.0 * m.macs / m.joules / 1e12, rel=1e-12)


@pytest.mark.parametrize("name, k, n, lead, kt, nt", CASES, ids=IDS)
def test_both_paths_record_the_same_events(name, k, n, lead, kt, nt):
    cfg = _cfg(name)
    rec_c, m_c = _run("convert", cfg, k, n, lead, seed=3)
    rec_d, m_d = _run("device", cfg, k, n, lead, seed=3)
    for kind in ("mvm", "program"):
        assert [_strip(p) for p in rec_c.of(kind)] == [_strip(p) for p in rec_d.of(kind)], kind
    assert [p["config"] for p in rec_c.of("mvm")] == [p["config"] for p in rec_d.of("mvm")]
    assert m_c.macs == m_d.macs
    bc, bd = m_c.breakdown(), m_d.breakdown()
    for comp in (*E.OPTICAL_COMPONENTS, "pcm_write", "pcm_rewrite"):
        assert bc.get(comp) == bd.get(comp), comp
    cc, cd = m_c.capacity(), m_d.capacity()
    for key in ("resident_cells", "cells_read", "rewrite_cells", "chips_needed", "fits"):
        assert cc[key] == cd[key], key


def test_capacity_by_value_when_the_weight_does_not_fit():
    cfg = _cfg(SI)
    k, n, lead = 256, 128, (2, 3)
    _, m = _run("convert", cfg, k, n, lead)
    cells = k * n * 2
    cap = E.capacity_cells(cfg)
    assert cap == cfg.array.cells_per_chip * cfg.chips == 32768
    c = m.capacity()
    assert c["resident_cells"] == cells
    assert c["chips_needed"] == 2 and not c["fits"]
    assert c["cells_read"] == cells
    assert c["rewrite_cells"] == pytest.approx(cells * (1 - cap / cells), rel=1e-12)
    assert c["rewrite_joules"] == pytest.approx(c["rewrite_cells"] * cfg.pcm.write_energy_j,
                                                rel=1e-12)
    assert c["charged"] is True

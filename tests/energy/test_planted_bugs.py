"""One-line bugs a review planted in a copy of the package, each pinned by a test that fails on it.

1. the sign of the insertion loss in the photon budget (more loss must mean less light);
2. the host fallback's written bytes left out of an op's bytes (bytes = read + written);
3. ``k`` and ``n`` swapped when a product is reported (the ADC then converts ``k`` outputs);
4. the MX scale rule's default changed from ``floor`` to ``rceil``;
5. a tile count ``ceil(a / b)`` written ``a // b + 1`` (a 1024x1024 layer then takes 4 tiles);
6. ``PhotonicLinear`` metering ``x.shape[0]`` rows instead of every leading dimension.

Every number is worked out by hand from the preset's fields or from the formats' definitions.
"""
from __future__ import annotations

import importlib
import math

import pytest
import torch

import torch_photonic as tp
from torch_photonic.energy import capacity, interconnect
from torch_photonic.energy import model as E
from torch_photonic.energy.events import Recorder
from torch_photonic.hardware import photon_budget as pb
from torch_photonic.hardware.presets import presets
from torch_photonic.quant import fake_quantize, quantize

# ``torch_photonic.energy.meter`` is also the name of the function the package exports
meter_mod = importlib.import_module("torch_photonic.energy.meter")

GLASS = "glass-pcm-200mm"
PLANCK_J_S = 6.62607015e-34
LIGHT_M_S = 299792458.0


# ---- 1. insertion loss: light reaching a detector falls with the loss -------------------------
@pytest.mark.parametrize("name", [GLASS, "silicon-photonic-128"])
def test_photons_at_the_detector_by_hand(name):
    cfg = tp.preset(name)
    o, a = cfg.optics, cfg.array
    loss_db = pb.losses_db(cfg)["total"]
    assert loss_db > 0
    watts = (o.laser_power_w * 10.0 ** (-loss_db / 10.0)
             / (a.tiles_in_parallel * a.tile_cols * o.wdm_channels))
    photon_j = PLANCK_J_S * LIGHT_M_S / o.wavelength_m
    assert pb.photons_full_on(cfg) == pytest.approx(watts / (photon_j * o.clock_hz), rel=1e-12)
    assert pb.photons_per_unit(cfg) == pytest.approx(
        watts / (photon_j * o.clock_hz) / a.tile_rows, rel=1e-12)
    # the detector receives less than the laser's share of the light, never more
    lossless = o.laser_power_w / (a.tiles_in_parallel * a.tile_cols * o.wdm_channels)
    assert pb.photons_full_on(cfg) < lossless / (photon_j * o.clock_hz)


def test_more_insertion_loss_means_fewer_photons_and_the_same_laser_energy():
    cfg = tp.preset(GLASS)
    lossy = cfg.replace(optics__coupler_loss_db=cfg.optics.coupler_loss_db + 10.0)
    assert pb.losses_db(lossy)["total"] == pytest.approx(pb.losses_db(cfg)["total"] + 10.0)
    # 10 dB more loss: a tenth of the photons at the detector, the same wall power per conversion
    assert pb.photons_full_on(lossy) == pytest.approx(pb.photons_full_on(cfg) / 10.0, rel=1e-12)
    assert pb.receiver_sigma(lossy) == pytest.approx(10.0 * pb.receiver_sigma(cfg), rel=1e-12)
    assert E.laser_energy_per_conversion(lossy) == E.laser_energy_per_conversion(cfg)


@pytest.mark.parametrize("name", [GLASS, "silicon-photonic-128", "pcm-tensor-core-2021"])
def test_laser_energy_per_conversion_by_hand(name):
    cfg = tp.preset(name)
    o, a = cfg.optics, cfg.array
    per_s = a.tiles_in_parallel * a.tile_cols * o.wdm_channels * o.clock_hz
    expected = o.laser_power_w / o.wall_plug_efficiency / per_s
    assert E.laser_energy_per_conversion(cfg) == pytest.approx(expected, rel=1e-12)
    assert tp.link_budget(name)["laser_energy_per_conversion_j"] == pytest.approx(expected,
                                                                                   rel=1e-12)
    assert E.mvm_energy(cfg, 1, a.tile_rows, a.tile_cols)["laser"] == pytest.approx(
        a.tile_cols * expected, rel=1e-12)


# ---- 2. host ops: bytes read plus bytes written -----------------------------------------------
def test_host_op_event_charges_bytes_read_and_written():
    ev = meter_mod._host_op_event("aten::relu", dict(calls=1, bytes_in=400, bytes_out=120,
                                                     elements_out=30))
    assert ev["bytes"] == 520.0
    assert ev["flops"] == 100.0            # max(elements written, 4-byte elements read)
    assert ev["module"] == "device.host" and ev["op"] == "aten::relu"
    ev = meter_mod._host_op_event("aten::cat", dict(calls=1, bytes_in=8, bytes_out=4000,
                                                    elements_out=1000))
    assert (ev["bytes"], ev["flops"]) == (4008.0, 1000.0)
    ev = meter_mod._host_op_event("aten::view", dict(calls=1))
    assert (ev["bytes"], ev["flops"]) == (0.0, 0.0)


def test_device_host_op_energy_counts_what_it_writes():
    cfg = tp.preset(GLASS)
    x = torch.randn(64, 32).to("photonic")
    with torch.photonic.count_host_ops() as stats:
        torch.relu(x)
    s = stats["aten::relu"]
    assert (s["bytes_in"], s["bytes_out"]) == (64 * 32 * 4, 64 * 32 * 4)
    with tp.meter(GLASS) as m:
        torch.relu(x)
    rows = [r for r in m.per_layer() if r["op"] == "aten::relu"]
    assert len(rows) == 1 and rows[0]["module"] == "device.host"
    nbytes = 2 * 64 * 32 * 4
    assert rows[0]["joules"]["host"] == pytest.approx(E.host_energy(cfg, 64 * 32, nbytes),
                                                      rel=1e-12)
    assert rows[0]["joules"]["host"] == pytest.approx(
        64 * 32 * cfg.host.energy_per_flop_j + nbytes * cfg.host.energy_per_byte_j, rel=1e-12)


# ---- 3. the device reports [m, k] @ [k, n] as (m, k, n) -----------------------------------------
def test_device_linear_4096_to_64_records_m_k_n_and_prices_them():
    cfg = tp.preset(GLASS, mapping__bound_management=0)   # no repeated passes: one product
    torch.manual_seed(0)
    lin = torch.nn.Linear(4096, 64).to("photonic")
    x = torch.randn(3, 4096).to("photonic")
    with torch.photonic.set_config(cfg), torch.no_grad(), Recorder() as rec, tp.meter() as m:
        lin(x).cpu()
    mvm = rec.of("mvm")
    assert [(p["m"], p["k"], p["n"], p["dynamic"], p["batch"]) for p in mvm] \
        == [(3, 4096, 64, False, 1)]
    assert m.macs == m.optical_macs == 3 * 4096 * 64
    c = E.mvm_counts(cfg, 3, 4096, 64)
    assert (c["k_tiles"], c["n_tiles"]) == (4, 1)
    assert c["dac_samples"] == 3 * 4096 * 1          # every input converted once per column block
    assert c["adc_conversions"] == 3 * 64 * 4        # every output digitised once per row block
    product = [r for r in m.per_layer() if r["macs"]]
    assert len(product) == 1
    assert product[0]["joules"] == E.mvm_energy(cfg, 3, 4096, 64)
    b = m.breakdown()
    expected = E.mvm_energy(cfg, 3, 4096, 64)
    for comp in E.OPTICAL_COMPONENTS:
        assert b[comp] == expected[comp], comp
    # by hand: 12 288 DAC samples and 768 ADC conversions
    cv = cfg.converters
    assert b["dac"] == pytest.approx(3 * 4096 * (cv.dac_energy_j + cv.modulator_energy_j),
                                     rel=1e-12)
    assert b["adc"] == pytest.approx(3 * 64 * 4 * E.output_conversion_energy(cfg), rel=1e-12)
    assert b["laser"] == pytest.approx(3 * 64 * 4 * E.laser_energy_per_conversion(cfg),
                                       rel=1e-12)


def test_device_linear_stock_glass_records_the_product_as_m_k_n():
    torch.manual_seed(1)
    lin = torch.nn.Linear(4096, 64).to("photonic")
    x = torch.randn(3, 4096).to("photonic")
    cfg = tp.preset(GLASS)
    with torch.photonic.set_config(GLASS), torch.no_grad(), tp.meter() as m:
        lin(x).cpu()
    mm = [r for r in m.per_layer() if r["op"] == "mm"]
    assert len(mm) == 1 and mm[0]["macs"] == 3 * 4096 * 64
    assert mm[0]["joules"] == E.mvm_energy(cfg, 3, 4096, 64)


@pytest.mark.parametrize("mode", ["electronic", "optical"])
def test_device_bmm_records_m_k_n_and_prices_them(mode):
    cfg = tp.preset(GLASS, dynamic__mode=mode, mapping__bound_management=0)
    a, b = torch.randn(2, 3, 40), torch.randn(2, 40, 7)
    with torch.photonic.set_config(cfg), Recorder() as rec, tp.meter() as m:
        (a.to("photonic") @ b.to("photonic")).cpu()
    assert [(p["m"], p["k"], p["n"], p["batch"], p["dynamic"]) for p in rec.of("mvm")] \
        == [(3, 40, 7, 2, True)]
    assert m.macs == 2 * 3 * 40 * 7
    row = [r for r in m.per_layer() if r["macs"]][0]
    if mode == "electronic":  # 2 FLOP per MAC; the [m, k] input and [m, n] result, bf16
        assert m.optical_macs == 0
        assert row["joules"] == {"host": pytest.approx(E.host_energy(
            cfg, 2.0 * 2 * 3 * 40 * 7, 2 * (3 * 40 + 3 * 7) * 2), rel=1e-12)}
    else:                     # both operands through modulators: k * n more samples per batch
        assert m.optical_macs == 2 * 3 * 40 * 7
        assert row["joules"] == E.mvm_energy(cfg, 3, 40, 7, batch=2, dynamic=True)
        assert row["joules"]["dac"] == pytest.approx(
            (2 * 3 * 40 + 2 * 40 * 7) * E.input_sample_energy(cfg), rel=1e-12)
        assert row["joules"]["adc"] == pytest.approx(
            2 * 3 * 7 * E.output_conversion_energy(cfg), rel=1e-12)


# ---- 4. MX scale rule: floor by default --------------------------------------------------------
def _floor_and_rceil_differ() -> torch.Tensor:
    # one 32-element block whose abs-max 480 lies above fp8_e4m3's 448 with log2(480) < 9:
    # floor gives e = floor(log2 480) - 8 = 0 (480 clips to 448), rceil e = ceil(log2(480/448)) = 1
    x = torch.linspace(-1.0, 1.0, 64)
    x[5] = 480.0
    x[40] = -3.0
    return x


def test_default_mx_rule_is_floor_bit_for_bit():
    x = _floor_and_rceil_differ()
    floor = fake_quantize(x, "fp8_e4m3", "mx", "floor")
    rceil = fake_quantize(x, "fp8_e4m3", "mx", "rceil")
    assert floor[5].item() == 448.0 and rceil[5].item() == 480.0
    assert not torch.equal(floor, rceil)
    default = fake_quantize(x, "fp8_e4m3", "mx")
    assert torch.equal(default.view(torch.int32), floor.view(torch.int32))
    q = quantize(x, "fp8_e4m3", "mx")
    assert q.scale_rule == "floor"
    assert torch.equal(q.dequantize().view(torch.int32), floor.view(torch.int32))
    assert torch.equal(q.scales.view(torch.uint8),
                       quantize(x, "fp8_e4m3", "mx", "floor").scales.view(torch.uint8))
    assert torch.equal(fake_quantize(x, "fp8_e4m3", "mx", weight=True),
                       fake_quantize(x, "fp8_e4m3", "mx", "floor", weight=True))


def test_default_config_scale_rule_is_floor():
    from torch_photonic.hardware.config import FormatConfig
    assert FormatConfig().scale_rule == "floor"
    for name in presets():
        assert tp.preset(name).formats.scale_rule == "floor", name
    cfg = tp.preset("ideal", formats__weight_format="fp8_e4m3", formats__weight_scaling="mx")
    assert cfg.formats.scale_rule == "floor"


# ---- 5. tiles: ceil(a / b) ------------------------------------------------------------------------
@pytest.mark.parametrize("k, n, tiles", [(1024, 1024, 1), (2048, 1024, 2), (1024, 2048, 2),
                                         (1025, 1024, 2), (1024, 1025, 2), (2048, 2048, 4),
                                         (1, 1, 1), (3073, 1, 4)])
def test_matrix_tiles_on_glass(k, n, tiles):
    cfg = tp.preset(GLASS)
    assert interconnect.matrix_tiles(cfg, k, n) == tiles
    c = E.mvm_counts(cfg, 1, k, n)
    assert c["k_tiles"] * c["n_tiles"] == tiles


@pytest.mark.parametrize("inp, out, tiles", [(1024, 1024, 1), (2048, 1024, 2), (1024, 2048, 2),
                                             (1025, 1024, 2), (1024, 1025, 2)])
def test_capacity_plan_counts_tiles(inp, out, tiles):
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(inp, out, bias=False))
    p = capacity.capacity_plan(model, GLASS)
    assert p["tiles_needed"] == tiles
    assert p["weights"] == inp * out
    assert p["cells_needed"] == inp * out * 2
    assert p["chips_needed"] == 1 and p["fits"]


def test_capacity_plan_tiles_add_over_layers():
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.Linear(1024, 2048),
                                    torch.nn.Linear(2048, 1025))
    assert capacity.capacity_plan(model, GLASS)["tiles_needed"] == 1 + 2 + 2 * 2
    # silicon-photonic-128: 128x128 tiles
    assert capacity.capacity_plan(model, "silicon-photonic-128")["tiles_needed"] == \
        8 * 8 + 8 * 16 + 16 * 9


# ---- 6. PhotonicLinear meters every leading dimension -----------------------------------------
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 2), (7,)])
def test_convert_linear_meters_all_leading_dims(shape):
    k, n = 600, 40
    rows = math.prod(shape)
    layer = tp.convert(torch.nn.Linear(k, n), "silicon-photonic-128")
    x = torch.randn(*shape, k)
    with torch.no_grad(), Recorder() as rec, tp.meter() as m:
        y = layer(x)
    assert y.shape == (*shape, n)
    assert [(p["m"], p["k"], p["n"]) for p in rec.of("mvm")] == [(rows, k, n)]
    assert m.macs == rows * k * n


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 2)])
def test_device_linear_meters_all_leading_dims(shape):
    k, n = 600, 40
    rows = math.prod(shape)
    lin = torch.nn.Linear(k, n).to("photonic")
    x = torch.randn(*shape, k).to("photonic")
    with torch.photonic.set_config("silicon-photonic-128"), torch.no_grad(), \
            Recorder() as rec, tp.meter() as m:
        y = lin(x).cpu()
    assert y.shape == (*shape, n)
    assert [(p["m"], p["k"], p["n"]) for p in rec.of("mvm")] == [(rows, k, n)]
    assert m.macs == rows * k * n

"""Meters, events and planners at their boundaries: a meter's config is checked when the meter is
made, events with negative amounts fail naming the argument while a meter listens, and no
planner figure goes negative (the tile-bound model that once gave negative rewrites included)."""
import math

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.energy import events
from torch_photonic.energy.capacity import capacity_plan

PRESETS = ["glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021", "ideal"]


# ---- tp.meter(config=...) --------------------------------------------------------------------

def test_meter_resolves_a_preset_name_at_once():
    m = tp.meter(config="ideal")
    with m as opened:
        assert opened.config == tp.preset("ideal")
    with tp.meter(config=tp.preset("silicon-photonic-128")) as opened:
        assert opened.config.name == "silicon-photonic-128"


def test_meter_rejects_a_bad_preset_when_made_not_at_breakdown():
    with pytest.raises(ValueError, match=r"^config: unknown preset 'no-such-chip'.*ideal"):
        tp.meter(config="no-such-chip")  # no ``with``: nothing is metered yet
    with pytest.raises(TypeError, match=r"^config must be a preset name"):
        tp.meter(config=3.5)
    with pytest.raises(ValueError, match=r"config: config file .*missing\.toml"):
        tp.meter(config="missing.toml")
    with pytest.raises(ValueError, match=r"array\.tile_rows must be an integer"):
        tp.Meter(config={"base": "ideal", "array": {"tile_rows": 4.0}})


def test_meter_rejects_bad_capacity_and_resident_cells_when_made():
    with pytest.raises(ValueError, match="capacity"):
        tp.meter(capacity="grow")
    for bad in (-1, float("nan"), float("inf"), "10", True):
        with pytest.raises(ValueError, match="resident_cells"):
            tp.meter(resident_cells=bad)
    with tp.meter(resident_cells=10) as m:
        pass
    assert m.resident_cells == 10


# ---- events ----------------------------------------------------------------------------------

@pytest.mark.parametrize("call,arg", [
    (lambda c: events.record_host("op", -5.0, 10.0), "flops"),
    (lambda c: events.record_host("op", 5.0, -10.0), "bytes_moved"),
    (lambda c: events.record_host("op", float("nan"), 10.0), "flops"),
    (lambda c: events.record_host("op", 1.0, float("inf")), "bytes_moved"),
    (lambda c: events.record_kv(-1.0, 0.0), "bytes_read"),
    (lambda c: events.record_kv(0.0, -2.0), "bytes_written"),
    (lambda c: events.record_mvm("l", "linear", -1, 4, 4, c), "m"),
    (lambda c: events.record_mvm("l", "linear", 1, -4, 4, c), "k"),
    (lambda c: events.record_mvm("l", "linear", 1, 4, -4, c), "n"),
    (lambda c: events.record_mvm("l", "linear", 1, 4, 4, c, batch=-1), "batch"),
    (lambda c: events.record_mvm("l", "linear", 1.5, 4, 4, c), "m"),
    (lambda c: events.record_program("l", -8, 16, c), "weights"),
    (lambda c: events.record_program("l", 8, -16, c), "cells"),
])
def test_negative_event_amounts_fail_naming_the_argument(call, arg):
    cfg = tp.preset("ideal")
    with tp.meter(cfg) as m:
        with pytest.raises(ValueError, match=rf"record_\w+: {arg} must be"):
            call(cfg)
    assert m.breakdown() == {}  # nothing was recorded
    call(cfg)  # no meter open: nothing is checked or recorded


def test_valid_events_still_priced():
    cfg = tp.preset("ideal")
    with tp.meter(cfg) as m:
        events.record_host("op", 10.0, 20.0)
        events.record_kv(4.0, 4.0)
        events.record_mvm("l", "linear", 2, 4, 4, cfg)
        events.record_program("l", 16, 32, cfg)
        events.record_mvm("l", "linear", 0, 4, 4, cfg)
    assert m.macs == 32
    assert all(v >= 0 for v in m.breakdown().values())


# ---- planners --------------------------------------------------------------------------------

def _negatives(x, path=""):
    """(path, value) of every number below zero (or NaN) inside ``x``, recursively."""
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            out += _negatives(v, f"{path}.{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            out += _negatives(v, f"{path}[{i}]")
    elif isinstance(x, bool) or x is None or isinstance(x, str):
        pass
    elif isinstance(x, (int, float)):
        if math.isnan(x) or x < 0:
            out.append((path, x))
    else:
        raise AssertionError(f"{path}: unexpected {type(x).__name__}")
    return out


def _many_small(n=400):
    return nn.Sequential(*[nn.Linear(8, 8) for _ in range(n)])


def test_capacity_plan_of_a_tile_bound_model_is_not_negative():
    p = capacity_plan(_many_small(), "glass-pcm-200mm")
    assert not _negatives(p), _negatives(p)
    cfg = tp.preset("glass-pcm-200mm")
    tiles = 400
    assert p["tiles_needed"] == tiles and p["chips_needed"] == 2 and not p["fits"]
    # 309 of the 400 one-tile matrices stay resident; the other 91 are rewritten per token
    overflow = 1 - cfg.array.tiles_per_chip / tiles
    assert p["rewrite_cells_per_token"] == pytest.approx(400 * 64 * 2 * overflow)
    assert p["rewrite_joules_per_token"] == pytest.approx(
        p["rewrite_cells_per_token"] * cfg.pcm.write_energy_j)
    assert p["rewrite_seconds_per_token"] > 0 and p["wear_hours"] > 0


def test_capacity_plan_of_a_cell_bound_model_is_unchanged():
    cfg = tp.preset("silicon-photonic-128")  # one 128x128 tile per chip
    p = capacity_plan(nn.Sequential(nn.Linear(128, 128), nn.Linear(128, 128)), cfg)
    assert p["chips_needed"] == 2 and not p["fits"]
    assert p["rewrite_cells_per_token"] == pytest.approx(2 * 128 * 128 * 2 * 0.5)


def test_capacity_plan_rejects_an_active_fraction_outside_0_1():
    for bad in (-0.5, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="active_fraction"):
            capacity_plan(_many_small(2), "ideal", active_fraction=bad)


def _models():
    return {
        "many-small": _many_small(),
        "mlp": nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64)),
        "deepseek-tiny": "deepseek-tiny",
    }


@pytest.mark.parametrize("preset", PRESETS)
def test_plan_numbers_are_never_negative(preset):
    for name, model in _models().items():
        for kw in (dict(), dict(chips=1), dict(chips=1, batch=8, context=64)):
            r = tp.plan(model, preset, gpu="h100" if name == "deepseek-tiny" else None, **kw)
            bad = _negatives(r)
            assert not bad, (name, preset, kw, bad)
            m = tp.build_deepseek(model, device="meta") if isinstance(model, str) else model
            c = capacity_plan(m, preset, **({"chips": kw["chips"]} if "chips" in kw else {}))
            assert not _negatives(c), (name, preset, kw, _negatives(c))


# ---- the layer's self-check is not metered ---------------------------------------------------

@pytest.mark.parametrize("wrap", [False, True])
def test_converted_linear_on_device_is_metered_once(wrap):
    torch.manual_seed(0)
    m_rows, k, n = 5, 64, 32
    source = nn.Sequential(nn.Linear(k, n)) if wrap else nn.Linear(k, n)
    model = tp.convert(source, "glass-pcm-200mm").eval().to("photonic")
    layer = model[0] if wrap else model
    assert isinstance(layer, tp.PhotonicLinear) and layer.weight.device.type == "photonic"
    x = torch.randn(m_rows, k).to("photonic")
    cfg = tp.preset("glass-pcm-200mm")
    with events.Recorder() as rec, tp.meter() as meter:
        with torch.no_grad():
            y = model(x)
    assert y.device.type == "photonic" and layer.calibration_error is not None  # check ran
    assert meter.macs == m_rows * k * n
    assert meter.optical_macs == m_rows * k * n
    programs = rec.of("program")
    assert len(programs) == 1
    assert programs[0]["cells"] == k * n * cfg.array.cells_per_weight
    assert meter._programmed_cells == k * n * cfg.array.cells_per_weight
    assert [e["m"] for e in rec.of("mvm")] == [m_rows]
    with tp.meter() as again:
        with torch.no_grad():
            model(x)
    assert again.macs == m_rows * k * n and again._programmed_cells == 0

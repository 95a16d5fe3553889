"""The one store of programmed weights: the device path and ``convert()`` agree bit for bit, the
store is keyed by the whole config and weakly by the weight, seeds are per weight, one clock."""
from __future__ import annotations

import copy
import dataclasses
import gc

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.energy.events import Recorder
from torch_photonic.hardware import names
from torch_photonic.optics.store import store


@pytest.fixture(autouse=True)
def fresh_store():
    tp.nn.clear_programmed()
    store.set_age(0.0)
    with torch.photonic.set_config("exact"):
        yield
    tp.nn.clear_programmed()
    store.set_age(0.0)


def noisy_config():
    """Every noise term on: programming, 1/f read noise, drift with spread, shot and receiver
    noise, converters (the glass preset as it is)."""
    return tp.preset("glass-pcm-200mm")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(96, 160)
        self.down = nn.Linear(160, 48)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


def test_convert_and_device_paths_agree_bit_for_bit_on_first_forward():
    torch.manual_seed(0)
    model = MLP()
    x = torch.randn(2, 5, 96)
    cfg = noisy_config()
    store.set_age(3600.0)  # one clock for both paths: an hour of drift
    converted = tp.convert(copy.deepcopy(model), cfg).eval()
    y_convert = converted(x)
    on_device = copy.deepcopy(model).to("photonic")
    with torch.photonic.set_config(cfg):
        y_device = on_device(x.to("photonic")).cpu()
    assert torch.equal(y_convert, y_device)
    assert not torch.equal(y_device, model(x))  # the noise really was on


def test_calibrated_ranges_agree_bit_for_bit_on_both_paths():
    """Static input ranges and per-column ADC ranges, calibrated over several batches on each
    path, give the same cells, ranges and outputs."""
    torch.manual_seed(1)
    model = MLP()
    cfg = tp.preset("glass-pcm-200mm", array__tile_rows=64, array__tile_cols=64,
                    mapping__input_range="static", mapping__adc_range="calibrated",
                    mapping__adc_percentile=99.0)
    batches = [torch.randn(7, 96) for _ in range(3)]
    x = torch.randn(5, 96)
    converted = tp.convert(copy.deepcopy(model), cfg).eval()
    tp.calibrate(converted, batches)
    y_convert = converted(x)
    on_device = copy.deepcopy(model).to("photonic")
    with torch.photonic.set_config(cfg):
        tp.calibrate(on_device, [b.to("photonic") for b in batches])
        y_device = on_device(x.to("photonic")).cpu()
    assert torch.equal(y_convert, y_device)
    st = converted.up.state
    assert st.input_range is not None and st.full_scale is not None
    rates = tp.clip_rates(converted)
    assert set(rates) == {"up", "down"} and rates["up"]["outputs"] > 0


def test_deepseek_convert_and_device_agree_bit_for_bit():
    from torch_photonic.models import deepseek as M

    cfg_m = M.get_model_config("deepseek-tiny-random")
    model = M.build_deepseek(cfg_m, seed=0)
    ids = torch.randint(2, cfg_m.vocab_size, (1, 12), generator=torch.Generator().manual_seed(1))
    cfg = noisy_config()
    with torch.no_grad():
        converted = tp.convert(copy.deepcopy(model), cfg).eval()  # lm_head and routers stay digital
        y_convert = converted(ids).logits
        on_device = tp.keep_digital(copy.deepcopy(model), ["lm_head", "*.mlp.gate"]).to("photonic")
        with torch.photonic.set_config(cfg):
            y_device = on_device(ids.to("photonic")).logits.cpu()
    assert torch.equal(y_convert, y_device)


def _changed(value, path):
    """A different valid value for a config field (candidates, tried in order)."""
    group, _, field = path.partition(".")
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, value * 2]
    if isinstance(value, float):
        return [value * 1.5 if value else 0.5, value * 0.5, 1.0]
    if isinstance(value, str):
        pools = {"formats.weight_format": names.FORMATS, "formats.activation_format": names.FORMATS,
                 "formats.weight_scaling": names.SCALINGS, "formats.activation_scaling": names.SCALINGS,
                 "formats.scale_rule": names.SCALE_RULES,
                 "pcm.drift_compensation": names.DRIFT_COMPENSATIONS,
                 "mapping.input_range": names.INPUT_RANGES, "mapping.adc_range": names.ADC_RANGES,
                 "dynamic.mode": names.DYNAMIC_MODES, "host.kv_tier": ("sram", "dram", "ssd"),
                 "mode": names.MODES, "power.laser": names.LASER_MODES,
                 "memory.weights_tier": ("hbm", "dram", "ssd")}
        return [v for v in pools.get(path, (value + " (changed)",)) if v != value]
    if isinstance(value, dict):
        return [{**value, "sram": value.get("sram", 0) + 1.0},
                {k: v * 2 for k, v in value.items()}]
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return [value[:-1]]                              # a shorter list of tiers
    if isinstance(value, tuple):
        return [tuple(v + 0.01 for v in value)]
    return []


def _field_paths(cfg):
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            for g in dataclasses.fields(v):
                yield f"{f.name}.{g.name}", getattr(v, g.name)
        elif f.name != "sources":
            yield f.name, v


def test_changing_any_field_of_the_config_reprograms():
    cfg = tp.preset("glass-pcm-200mm")
    w = torch.randn(8, 16)
    first = store.entry(w, w, cfg)
    assert store.entry(w, w, cfg) is first
    checked, unchangeable = [], []
    for path, value in _field_paths(cfg):
        key = path.replace(".", "__")
        # fields bound to another one change with it (all tiles run in parallel on this chip)
        companion = {"array.tiles_per_chip": {"array__tiles_in_parallel": 100}}.get(path, {})
        for new in _changed(value, path):
            try:
                cfg2 = cfg.replace(**{key: new}, **companion)
            except ValueError:
                continue
            break
        else:
            unchangeable.append(path)
            continue
        assert store.entry(w, w, cfg2) is not first, f"changing {path} did not reprogram"
        checked.append(path)
    assert not unchangeable, f"no valid other value tried for {unchangeable}"
    assert len(checked) > 50


def test_set_config_with_other_converters_reprograms_programmed_weights():
    torch.manual_seed(0)
    lin = nn.Linear(256, 64).to("photonic")
    x = torch.randn(32, 256)
    ref = torch.nn.functional.linear(x, lin.weight.cpu(), lin.bias.cpu())

    def rel():
        y = lin(x.to("photonic")).cpu()
        return float((y - ref).norm() / ref.norm())

    with torch.photonic.set_config("glass-pcm-200mm"):
        err8 = rel()
    with torch.photonic.set_config(tp.preset("glass-pcm-200mm", converters__adc_bits=3,
                                             converters__dac_bits=3)):
        err3 = rel()
    assert err8 < 0.1 and err3 > 3 * err8


def test_temporary_weights_under_inference_mode_leave_the_store_empty():
    x = torch.randn(4, 8, device="photonic")
    with torch.photonic.set_config("glass-pcm-200mm"), torch.inference_mode():
        for _ in range(10_000):
            w = torch.randn(8, 8, device="photonic")
            x @ w
    del w
    gc.collect()
    assert len(store) == 0


def test_store_entries_die_with_the_model():
    lin = nn.Linear(32, 16).to("photonic")
    with torch.photonic.set_config("glass-pcm-200mm"):
        lin(torch.randn(2, 32, device="photonic"))
    assert len(store) == 1
    del lin
    gc.collect()
    assert len(store) == 0


def test_equal_weights_on_the_device_draw_independent_programming_noise():
    cfg = tp.preset("glass-pcm-200mm", optics__shot_noise=False,
                    optics__tia_noise_a_per_rthz=0.0)
    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(128, 64, bias=False)
            self.b = copy.deepcopy(self.a)

        def forward(self, x):
            return self.a(x), self.b(x)

    model = Twin().to("photonic")
    x = torch.randn(8, 128, device="photonic")
    with torch.photonic.set_config(cfg):
        ya, yb = (y.cpu() for y in model(x))
        ya2, _ = model(x)
    assert torch.equal(ya, ya2.cpu())  # no read noise: the same cells give the same result
    assert not torch.equal(ya, yb)  # equal values, other cells
    wa = store.states(model.a.weight)
    wb = store.states(model.b.weight)
    (sa,), (sb,) = wa.values(), wb.values()
    assert sa.seed != sb.seed and not torch.equal(sa.base_weight(), sb.base_weight())


def test_device_meter_rows_carry_module_names_without_labelling():
    model = MLP()
    model(torch.randn(3, 96))  # a forward on the cpu first does not spoil the naming
    model = model.to("photonic")
    with torch.photonic.set_config("glass-pcm-200mm"), Recorder() as rec:
        model(torch.randn(3, 96, device="photonic"))
    assert {p["module"] for p in rec.of("mvm")} == {"up", "down"}
    assert {p["module"] for p in rec.of("program")} == {"up", "down"}


def test_one_ageing_clock_for_both_paths():
    cfg = tp.preset("glass-pcm-200mm", optics__shot_noise=False,
                    optics__tia_noise_a_per_rthz=0.0)
    torch.manual_seed(0)
    model = MLP()
    x = torch.randn(4, 96)
    converted = tp.convert(copy.deepcopy(model), cfg).eval()
    on_device = copy.deepcopy(model).to("photonic")
    with torch.photonic.set_config(cfg):
        young = (converted(x), on_device(x.to("photonic")).cpu())
        tp.set_time(1e6)
        old = (converted(x), on_device(x.to("photonic")).cpu())
    assert torch.equal(young[0], young[1]) and torch.equal(old[0], old[1])
    assert not torch.equal(young[0], old[0])  # drift changed both paths alike


def test_set_time_of_one_model_leaves_others_alone():
    cfg = tp.preset("glass-pcm-200mm")
    a, b = tp.convert(MLP(), cfg), tp.convert(MLP(), cfg)
    tp.set_time(a, 500.0)
    assert a.up.seconds == 500.0 and b.up.seconds == 0.0
    with pytest.raises(ValueError, match="seconds"):
        tp.set_time(a, -1.0)
    with pytest.raises(ValueError, match="seconds"):
        tp.set_time(float("nan"))


def test_in_place_update_on_the_device_reprograms_once():
    lin = nn.Linear(32, 16).to("photonic")
    x = torch.randn(2, 32, device="photonic")
    with torch.photonic.set_config("glass-pcm-200mm"), Recorder() as rec:
        lin(x)
        lin(x)
        with torch.no_grad():
            lin.weight.mul_(0.5)
        lin(x)
        lin(x)
    assert len(rec.of("program")) == 2

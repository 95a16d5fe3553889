import dataclasses
import json

import pytest

import torch_photonic as tp
from torch_photonic.hardware import HardwareConfig, load

PHYSICAL = ["glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021"]


def test_presets_listed_and_build():
    names = tp.presets()
    for n in ["ideal"] + PHYSICAL:
        assert n in names
        cfg = tp.preset(n)
        assert isinstance(cfg, HardwareConfig) and cfg.name == n
        hash(cfg)


def test_unknown_preset_lists_known():
    with pytest.raises(ValueError) as e:
        tp.preset("glass-pcm-300mm")
    msg = str(e.value)
    assert "glass-pcm-300mm" in msg
    for n in ["ideal"] + PHYSICAL:
        assert n in msg


def test_ideal_is_exact_and_physical_are_not():
    assert tp.preset("ideal").is_exact
    for n in PHYSICAL:
        assert not tp.preset(n).is_exact


def test_glass_numbers_and_claim():
    g = tp.preset("glass-pcm-200mm")
    assert g.array.tile_rows == g.array.tile_cols == 1024
    assert g.array.cells_per_chip == 650_000_000
    assert g.optics.clock_hz == 2e9
    assert g.claim is not None and g.claim.tops_per_watt == 1000 and g.claim.pops == 2600
    assert "[V]" in g.claim.source and "[V]" in g.sources["claim"]
    assert g.pcm.drifts and g.pcm.read_noisy  # electrical-PCM figures as the assumption
    assert g.mapping.input_range == "dynamic" and g.mapping.adc_full_scale == 12.0
    s = tp.preset("silicon-photonic-128")
    assert (s.array.tile_rows, s.array.tile_cols) == (128, 128)
    f = tp.preset("pcm-tensor-core-2021")
    assert (f.array.tile_rows, f.array.tile_cols, f.optics.wdm_channels) == (9, 4, 4)
    assert f.converters.adc_bits == 5


@pytest.mark.parametrize("name", PHYSICAL)
def test_every_number_has_a_source(name):
    cfg = tp.preset(name)
    missing = []
    for g in ("array", "pcm", "converters", "optics"):
        for f in dataclasses.fields(getattr(cfg, g)):
            if f.name in ("quantize_levels", "dac_rounding", "adc_rounding"):
                continue  # switches, not hardware numbers
            if f"{g}.{f.name}" not in cfg.sources:
                missing.append(f"{g}.{f.name}")
    for f in dataclasses.fields(cfg.host):
        if f.name != "tier_pj_per_bit" and f"host.{f.name}" not in cfg.sources:
            missing.append(f"host.{f.name}")
    for k in cfg.host.tier_pj_per_bit:
        if f"host.tier_pj_per_bit.{k}" not in cfg.sources:
            missing.append(k)
    for g in ("power", "interconnect", "memory", "cost"):
        for f in dataclasses.fields(getattr(cfg, g)):
            v = getattr(getattr(cfg, g), f.name)
            keys = [f"{g}.{f.name}.{t}" for t in v] if isinstance(v, dict) else [f"{g}.{f.name}"]
            missing += [k for k in keys if k not in cfg.sources]
    assert not missing, missing
    assert all(any(t in v for t in ("[P", "[S", "[V", "[E", "[D", "[M", "[pre"))
               for v in cfg.sources.values())


def test_overrides_and_frozen():
    cfg = tp.preset("glass-pcm-200mm", pcm__levels=16, converters__adc_bits=6, chips=4,
                    mode="claim")
    assert cfg.pcm.levels == 16 and cfg.converters.adc_bits == 6 and cfg.chips == 4
    assert cfg.mode == "claim"
    base = tp.preset("glass-pcm-200mm")
    assert base.pcm.levels == 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.pcm.levels = 3
    with pytest.raises(TypeError):
        base.host.tier_pj_per_bit["hbm"] = 0.0
    with pytest.raises(ValueError, match="pcm.bogus"):
        base.replace(pcm__bogus=1)
    with pytest.raises(ValueError, match="nogroup"):
        base.replace(nogroup__x=1)


@pytest.mark.parametrize("override,field", [
    (dict(converters__adc_bits=0), "converters.adc_bits"),
    (dict(converters__dac_bits=0), "converters.dac_bits"),
    (dict(pcm__write_energy_j=-1e-12), "pcm.write_energy_j"),
    (dict(converters__adc_energy_j=-1.0), "converters.adc_energy_j"),
    (dict(array__tile_rows=10**6), "array.tile_rows"),
    (dict(array__cells_per_chip=1000), "array.tile_rows"),
    (dict(mode="magic"), "mode"),
    (dict(optics__laser_power_w=-1.0), "optics.laser_power_w"),
    (dict(optics__shot_noise=1), "optics.shot_noise"),
    (dict(pcm__program_noise_coeffs=(0.01, 0.02)), "pcm.program_noise_coeffs"),
    (dict(pcm__program_noise_coeffs=(0.01, -0.5, 0.0)), "pcm.program_noise_coeffs"),
    (dict(pcm__drift_nu_range=(0.1, 0.05)), "pcm.drift_nu_range"),
    (dict(pcm__drift_compensation="daily"), "pcm.drift_compensation"),
    (dict(mapping__input_range="maybe"), "mapping.input_range"),
    (dict(mapping__adc_range="auto"), "mapping.adc_range"),
    (dict(mapping__input_percentile=101.0), "mapping.input_percentile"),
    (dict(mapping__bound_management=-1), "mapping.bound_management"),
    (dict(formats__weight_format="int3"), "formats.weight_format"),
    (dict(pcm__levels=1), "pcm.levels"),
    (dict(array__cells_per_weight=3), "array.cells_per_weight"),
    (dict(mapping__adc_full_scale="manual"), "mapping.adc_full_scale"),
    (dict(mapping__adc_full_scale=-2.0), "mapping.adc_full_scale"),
    (dict(pcm__drift_t0_s=0.0), "pcm.drift_t0_s"),
    (dict(optics__wall_plug_efficiency=1.5), "optics.wall_plug_efficiency"),
])
def test_impossible_values_fail_naming_the_field(override, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        tp.preset("silicon-photonic-128", **override)


def test_claim_mode_needs_claim():
    with pytest.raises(ValueError, match="claim"):
        tp.preset("silicon-photonic-128", mode="claim")


@pytest.mark.parametrize("name", ["ideal"] + PHYSICAL)
def test_dict_json_roundtrip(name, tmp_path):
    cfg = tp.preset(name)
    assert HardwareConfig.from_dict(cfg.to_dict()) == cfg
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg.to_dict()))
    assert load(p) == cfg


def test_toml_full_and_base(tmp_path):
    cfg = tp.preset("silicon-photonic-128")
    lines = [f'name = "{cfg.name}"', f'description = "{cfg.description}"']
    for g in ("array", "pcm", "converters", "mapping", "optics", "formats", "host", "dynamic",
              "power", "interconnect", "memory", "cost"):
        d = getattr(cfg, g).to_dict()
        lines.append(f"[{g}]")
        for k, v in d.items():
            if isinstance(v, dict):
                continue
            lines.append(f"{k} = {json.dumps(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                lines.append(f"[{g}.{k}]")
                lines += [f"{t} = {x}" for t, x in v.items()]
    p = tmp_path / "full.toml"
    p.write_text("\n".join(lines) + "\n")
    got = load(p)
    assert got.replace(sources={}) == cfg.replace(sources={})

    p2 = tmp_path / "base.toml"
    p2.write_text('base = "glass-pcm-200mm"\nname = "mine"\n[pcm]\nlevels = 16\n')
    got2 = load(p2)
    assert got2.name == "mine" and got2.pcm.levels == 16 and got2.array.tile_rows == 1024


def test_missing_field_is_named(tmp_path):
    d = tp.preset("glass-pcm-200mm").to_dict()
    del d["pcm"]["levels"]
    with pytest.raises(ValueError, match=r"pcm\.levels"):
        HardwareConfig.from_dict(d)
    d = tp.preset("glass-pcm-200mm").to_dict()
    del d["optics"]
    p = tmp_path / "x.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="optics"):
        load(p)

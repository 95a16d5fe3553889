"""The one config resolver: every kind of spec, overrides, and errors that name what was wrong."""
from __future__ import annotations

import json

import pytest

import torch_photonic as tp
from torch_photonic.hardware import DEFAULT_PRESET, HardwareConfig, resolve


def test_none_is_the_default_preset():
    assert resolve(None) == tp.preset(DEFAULT_PRESET)
    assert DEFAULT_PRESET == "glass-pcm-200mm"


def test_name_config_mapping_and_file_resolve_to_the_same_config(tmp_path):
    cfg = tp.preset("silicon-photonic-128")
    path = tmp_path / "si.json"
    path.write_text(cfg.to_json())
    for spec in ("silicon-photonic-128", cfg, cfg.to_dict(), str(path), path):
        assert resolve(spec) == cfg


def test_overrides_apply_on_any_spec(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text('base = "glass-pcm-200mm"\n[converters]\nadc_bits = 6\n')
    cfg = resolve(path, pcm__levels=16)
    assert cfg.converters.adc_bits == 6 and cfg.pcm.levels == 16
    assert resolve("ideal", chips=3).chips == 3


def test_unknown_name_names_the_spec_and_the_presets():
    with pytest.raises(ValueError, match=r"spec: unknown preset 'glas'.*glass-pcm-200mm"):
        resolve("glas")


def test_missing_file_and_bad_type():
    with pytest.raises(ValueError, match="does not exist"):
        resolve("no/such/config.toml")
    with pytest.raises(TypeError, match="spec must be"):
        resolve(42)


def test_bad_files_name_themselves(tmp_path):
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps("glass"))
    with pytest.raises(ValueError, match=r"bare\.json: a config file must hold a table"):
        resolve(bare)
    broken = tmp_path / "broken.toml"
    broken.write_text("[pcm\nlevels = 3")
    with pytest.raises(ValueError, match=r"broken\.toml: not a valid TOML file"):
        resolve(broken)
    base = tmp_path / "base.toml"
    base.write_text('base = "nope"\n')
    with pytest.raises(ValueError, match=r"base\.toml: base must name a preset"):
        resolve(base)


def test_every_verb_takes_a_spec():
    import torch
    from torch import nn

    layer = tp.PhotonicLinear(8, 4, config="ideal")
    assert isinstance(layer.config, HardwareConfig) and layer.config.name == "ideal"
    with torch.photonic.set_config("ideal"):
        assert torch.photonic.get_config().name == "ideal"
    with tp.meter(config="ideal") as m:
        assert m.config.name == "ideal"
    with pytest.raises(ValueError, match="unknown preset"):  # at once, not at breakdown()
        tp.meter(config="glas").__enter__()
    m = tp.convert(nn.Sequential(nn.Linear(8, 4)), "ideal", exclude=())
    assert m.photonic_report.preset == "ideal"

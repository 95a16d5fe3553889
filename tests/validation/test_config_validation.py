"""Hardware configs at their boundaries: integer fields take integers only (floats such as 128.0
and bools fail naming the field, through keyword overrides, dicts, TOML and JSON files alike),
the seed fits in int64, and a config file that does not decode names its path and line."""
import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.hardware import HardwareConfig, load
from torch_photonic.hardware.config import _GROUPS
from torch_photonic.hardware.presets import PRESET_DIR

PRESET = "glass-pcm-200mm"

#: Every integer field of a config, by hand: counts, bits, sizes and the seed.
INTEGER_FIELDS = [
    "array.tile_rows", "array.tile_cols", "array.tiles_per_chip", "array.cells_per_chip",
    "array.cells_per_weight", "array.tiles_in_parallel",
    "pcm.levels", "pcm.parallel_writers",
    "converters.dac_bits", "converters.adc_bits",
    "mapping.bound_management",
    "optics.wdm_channels",
    "power.rings_per_chip", "power.chips_per_host",
    "interconnect.supernode_chips", "interconnect.activation_bytes",
    "memory.kv_bytes",
    "chips", "seed",
]


def _override_key(path: str) -> str:
    return path.replace(".", "__")


def _value(cfg: HardwareConfig, path: str):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def test_the_list_names_every_field_annotated_int():
    annotated = {f"{g}.{f.name}" for g, cls in _GROUPS.items() for f in dataclasses.fields(cls)
                 if f.type in ("int", int)}
    annotated |= {f.name for f in dataclasses.fields(HardwareConfig) if f.type in ("int", int)}
    assert annotated == set(INTEGER_FIELDS)


@pytest.mark.parametrize("path", INTEGER_FIELDS)
def test_integer_field_rejects_an_integral_float(path):
    v = float(_value(tp.preset(PRESET), path))
    with pytest.raises(ValueError) as e:
        tp.preset(PRESET, **{_override_key(path): v})
    assert str(e.value) == f"{path} must be an integer, got {v!r}"


@pytest.mark.parametrize("path", INTEGER_FIELDS)
def test_integer_field_rejects_a_bool(path):
    with pytest.raises(ValueError, match=rf"^{path.replace('.', '[.]')} must be an integer, got True$"):
        tp.preset(PRESET, **{_override_key(path): True})


@pytest.mark.parametrize("path", ["array.tile_rows", "pcm.levels", "chips", "seed"])
def test_integer_field_rejects_strings_and_fractions(path):
    for bad in ("128", 2.5, None):
        with pytest.raises(ValueError, match=path.replace(".", "[.]") + " must be an integer"):
            tp.preset(PRESET, **{_override_key(path): bad})


def test_tile_rows_as_float_is_named_before_any_kernel_sees_it():
    with pytest.raises(ValueError, match=r"^array\.tile_rows must be an integer, got 128\.0$"):
        tp.preset(PRESET, array__tile_rows=128.0)


def test_numpy_integers_are_stored_as_int():
    cfg = tp.preset(PRESET, array__tile_rows=np.int64(512), seed=np.int32(7), chips=np.uint8(2))
    assert type(cfg.array.tile_rows) is int and cfg.array.tile_rows == 512
    assert type(cfg.seed) is int and type(cfg.chips) is int
    assert cfg == tp.preset(PRESET, array__tile_rows=512, seed=7, chips=2)


def test_dict_with_float_integer_field_names_it():
    d = tp.preset(PRESET).to_dict()
    d["converters"]["adc_bits"] = 8.0
    with pytest.raises(ValueError, match=r"converters\.adc_bits must be an integer, got 8\.0"):
        HardwareConfig.from_dict(d)


def test_toml_file_with_float_integer_field_names_file_and_field(tmp_path):
    p = tmp_path / "chip.toml"
    p.write_text(f'base = "{PRESET}"\n[array]\ntile_rows = 128.0\n')
    with pytest.raises(ValueError) as e:
        load(p)
    assert str(p) in str(e.value)
    assert "array.tile_rows must be an integer, got 128.0" in str(e.value)
    with pytest.raises(ValueError, match=r"array\.tile_rows must be an integer"):
        tp.resolve(str(p))


def test_json_file_with_float_integer_field_names_file_and_field(tmp_path):
    p = tmp_path / "chip.json"
    p.write_text(json.dumps({"base": PRESET, "chips": 2.0}))
    with pytest.raises(ValueError) as e:
        load(p)
    assert str(p) in str(e.value) and "chips must be an integer, got 2.0" in str(e.value)


def test_preset_toml_files_hold_integers_where_they_must():
    for f in sorted(Path(PRESET_DIR).glob("*.toml")):
        table = tomllib.loads(f.read_text())
        for path in INTEGER_FIELDS:
            *groups, name = path.split(".")
            node = table
            for g in groups:
                node = node.get(g, {})
            if name in node:
                assert type(node[name]) is int, f"{f.name}: {path} = {node[name]!r}"
    g = tomllib.loads((Path(PRESET_DIR) / f"{PRESET}.toml").read_text())
    assert g["array"]["tiles_per_chip"] == 309 and type(g["array"]["tiles_per_chip"]) is int


@pytest.mark.parametrize("name", tp.presets())
def test_every_preset_holds_ints_in_integer_fields(name):
    cfg = tp.preset(name)
    for path in INTEGER_FIELDS:
        assert type(_value(cfg, path)) is int, (name, path)


# ---- seed ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [2 ** 70, 2 ** 63, -1])
def test_seed_outside_int64_fails_naming_seed_and_range(seed):
    with pytest.raises(ValueError) as e:
        tp.preset(PRESET, seed=seed)
    msg = str(e.value)
    assert msg.startswith("seed ") and "[0, 9223372036854775807]" in msg and str(seed) in msg


def test_largest_int64_seed_programs_a_layer():
    cfg = tp.preset("silicon-photonic-128", seed=2 ** 63 - 1)
    layer = tp.convert(nn.Linear(16, 8), cfg).eval()
    with torch.no_grad():
        y = layer(torch.randn(3, 16))
    assert y.shape == (3, 8) and torch.isfinite(y).all()


# ---- config files ----------------------------------------------------------------------------

def test_toml_decode_error_names_path_and_line(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text(f'base = "{PRESET}"\n[array]\ntile_rows = = 3\n')
    for fn in (load, tp.resolve):
        with pytest.raises(ValueError) as e:
            fn(str(p))
        msg = str(e.value)
        assert msg.startswith(f"{p}: not a valid TOML file") and "line 3" in msg, msg


def test_json_decode_error_names_path_and_line(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{\n  "base": "ideal",\n  "chips": \n}\n')
    for fn in (load, tp.resolve):
        with pytest.raises(ValueError) as e:
            fn(str(p))
        msg = str(e.value)
        assert msg.startswith(f"{p}: not a valid JSON file") and "line 4" in msg, msg


def test_non_utf8_file_names_path_and_line(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'base = "ideal"\nchips = 1 # \xe9\n')
    with pytest.raises(ValueError) as e:
        load(p)
    assert str(e.value).startswith(f"{p}: not a valid TOML file") and "line 2" in str(e.value)


@pytest.mark.parametrize("text", ["[1, 2]", '"ideal"', "3", "null"])
def test_json_top_level_not_a_table_names_the_path(tmp_path, text):
    p = tmp_path / "list.json"
    p.write_text(text)
    with pytest.raises(ValueError) as e:
        load(p)
    assert str(e.value).startswith(f"{p}: a config file must hold a table of fields")


def test_group_not_a_table_names_path_and_group(tmp_path):
    p = tmp_path / "flat.toml"
    p.write_text(f'base = "{PRESET}"\narray = 3\n')
    with pytest.raises(ValueError) as e:
        load(p)
    assert str(p) in str(e.value) and "array must be a table" in str(e.value)

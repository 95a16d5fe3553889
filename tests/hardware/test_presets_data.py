"""Preset files: every value equals the frozen snapshot (type included), and every source
cites a key that docs/sources.md defines."""
import importlib
import json
import re
from pathlib import Path

import pytest

import torch_photonic as tp
from torch_photonic.hardware.presets import PRESET_DIR

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = json.loads((Path(__file__).with_name("presets_snapshot.json")).read_text())
SOURCES_MD = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
TAGS = {"P", "pre", "V", "E", "S", "D", "M", "P/D", "P/S"}
KEYS = set(re.findall(r"^- \*\*\[([a-z0-9][a-z0-9-]*)\]\*\*", SOURCES_MD, flags=re.M))


def _same(a, b, where):
    """Assert ``a == b`` with equal types all the way down (1e6 is not 1000000)."""
    assert type(a) is type(b), f"{where}: type {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_snapshot_covers_the_preset_files():
    files = sorted(p.stem for p in Path(PRESET_DIR).glob("*.toml"))
    assert files == sorted(SNAPSHOT)
    assert set(files) <= set(tp.presets())


@pytest.mark.parametrize("name", sorted(SNAPSHOT))
def test_values_match_snapshot(name):
    d = json.loads(json.dumps(tp.preset(name).to_dict()))  # the snapshot's JSON types
    d.pop("sources")
    _same(d, SNAPSHOT[name], name)


def test_sources_md_defines_keys():
    assert {"feldmann2021", "najafi1992", "murmann2025", "oconnor2017"} <= KEYS
    assert not KEYS & {t.lower() for t in TAGS}


@pytest.mark.parametrize("name", sorted(SNAPSHOT))
def test_sources_cite_known_keys(name):
    cfg = tp.preset(name)
    assert cfg.sources, f"{name}: no sources"
    for field, text in cfg.sources.items():
        assert "shared/research" not in text, f"{name} {field}: cites a path outside the repo"
        cited = set(re.findall(r"\[([^\]]+)\]", text)) - TAGS
        assert cited, f"{name} {field}: cites no key of docs/sources.md: {text!r}"
        assert cited <= KEYS, f"{name} {field}: keys {sorted(cited - KEYS)} not in docs/sources.md"


@pytest.mark.parametrize("name", ["glass-pcm-200mm", "silicon-photonic-128",
                                  "pcm-tensor-core-2021"])
def test_every_field_has_a_source(name):
    cfg = tp.preset(name)
    for group in ("array", "pcm", "optics", "mapping"):
        for field in getattr(cfg, group).to_dict():
            if field in ("quantize_levels",):
                continue
            assert f"{group}.{field}" in cfg.sources, f"{name}: {group}.{field} has no source"


def test_claim_source_is_a_vendor_claim():
    g = tp.preset("glass-pcm-200mm")
    assert g.claim is not None and g.claim.source.startswith("[V]")
    assert tp.preset("ideal").claim is None


def test_bad_preset_file_names_the_file(tmp_path, monkeypatch):
    P = importlib.import_module("torch_photonic.hardware.presets")
    (tmp_path / "broken.toml").write_text('base = "no-such-preset"\n')
    monkeypatch.setattr(P, "PRESET_DIR", str(tmp_path))
    monkeypatch.setitem(P._PRESETS, "broken", lambda: P._from_file("broken"))
    P._table.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"broken\.toml: base must name a preset"):
            tp.preset("broken")
    finally:
        P._table.cache_clear()

"""GPU baselines data: every source cites a key that docs/sources.md defines, and none points
to a path outside the repository."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINES = json.loads((ROOT / "torch_photonic" / "energy" / "data" / "gpu_baselines.json")
                       .read_text(encoding="utf-8"))
SOURCES_MD = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
TAGS = {"P", "pre", "V", "E", "S", "D", "M", "P/D", "P/S"}
KEYS = set(re.findall(r"^- \*\*\[([a-z0-9][a-z0-9-]*)\]\*\*", SOURCES_MD, flags=re.M))


def _sources():
    """(gpu, kind, source text) for every measured and datasheet entry."""
    out = []
    for gpu, entry in BASELINES["gpus"].items():
        for kind in ("measured", "datasheet"):
            if kind in entry:
                out.append((gpu, kind, entry[kind].get("source")))
    return out


SOURCES = _sources()


def test_every_gpu_has_a_cited_entry():
    gpus = {gpu for gpu, _, _ in SOURCES}
    assert gpus == set(BASELINES["gpus"])
    assert {"h100", "tpu7x", "ascend-910c"} <= gpus


def test_sources_md_defines_the_tags_used():
    assert "| `[E]` |" in SOURCES_MD
    assert "### Accelerator baselines" in SOURCES_MD
    assert not KEYS & {t.lower() for t in TAGS}


@pytest.mark.parametrize("gpu,kind,text", SOURCES, ids=[f"{g}-{k}" for g, k, _ in SOURCES])
def test_sources_cite_known_keys(gpu, kind, text):
    assert text, f"{gpu} {kind}: no source"
    assert "shared/research" not in text, f"{gpu} {kind}: cites a path outside the repo"
    tags = set(re.findall(r"\[([^\]]+)\]", text)) & TAGS
    assert tags, f"{gpu} {kind}: names no tag of docs/sources.md: {text!r}"
    cited = set(re.findall(r"\[([^\]]+)\]", text)) - TAGS
    assert cited, f"{gpu} {kind}: cites no key of docs/sources.md: {text!r}"
    assert cited <= KEYS, f"{gpu} {kind}: keys {sorted(cited - KEYS)} not in docs/sources.md"


def test_measured_entries_carry_the_measured_tag():
    for gpu, kind, text in SOURCES:
        if kind == "measured":
            assert "[M]" in text, f"{gpu}: a measured entry must be tagged [M]"

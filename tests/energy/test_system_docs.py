"""The README's system numbers and the worked example of docs/energy_model.md are what the
system plan gives today: regenerate them with ``python examples/system_plan.py --write``."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

import torch_photonic as tp

ROOT = Path(__file__).resolve().parents[2]


def _example():
    spec = importlib.util.spec_from_file_location("system_plan_example",
                                                  ROOT / "examples" / "system_plan.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _block(path: Path, tag: str) -> str:
    m = re.search(rf"<!-- {tag}:begin -->\n(.*?)\n<!-- {tag}:end -->", path.read_text(), re.S)
    assert m, f"{path.name}: no {tag} block"
    return m.group(1)


@pytest.fixture(scope="module")
def data():
    return json.loads((ROOT / "docs" / "system_plan.json").read_text())


def test_readme_and_worked_example_render_the_json(data):
    ex = _example()
    assert _block(ROOT / "README.md", "system-plan") == ex.readme_block(data)
    assert _block(ROOT / "docs" / "energy_model.md", "worked-example") == ex.worked_example(data)


def test_json_is_what_the_plan_gives_now(data):
    p = tp.plan(data["model"], data["preset"], batch=1, context=data["context"])
    old = next(r for r in data["sweep"] if r["batch"] == 1)
    for key in ("joules_per_token", "joules_per_token_static", "latency_s_per_token",
                "tokens_per_s", "utilization", "usd_per_million_tokens", "chips"):
        assert p[key] == pytest.approx(old[key], rel=1e-9), key
    for key in ("gpus_needed", "joules_per_token", "latency_s_per_token"):
        assert p["gpu"][key] == pytest.approx(old["gpu"][key], rel=1e-9), key

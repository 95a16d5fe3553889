"""The error budget (``tp.diagnose``) on small MLPs: each effect isolated, the ideal preset exact,
inactive effects not listed, and the dominant effect where the inputs decide it."""
import gc
import math
import warnings

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.eval.diagnose import call_model, diagnose, format_diagnosis, main_output
from torch_photonic.hardware.effects import active_effects, only
from torch_photonic.optics.store import store

SMALL = dict(array__tile_rows=64, array__tile_cols=64)


def glass(**overrides):
    return tp.resolve("glass-pcm-200mm", **SMALL, **overrides)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(128, 96)
        self.fc2 = nn.Linear(96, 64)
        self.lm_head = nn.Linear(64, 10)

    def forward(self, x, scale=1.0):
        return self.lm_head(torch.relu(self.fc2(torch.relu(self.fc1(x * scale)))))


class Outlier(nn.Module):
    """Two layers on the same tokens: ``normal`` sees Gaussian inputs; ``outlier`` sees them with
    one huge channel whose weights are zero. That channel sets the input gain of its tile without
    contributing to the product, so the tile's partial sums fall far below one ADC step: the ADC
    loses the tile while level rounding costs ``outlier`` no more than ``normal``."""

    def __init__(self):
        super().__init__()
        self.normal = nn.Linear(128, 64)
        self.outlier = nn.Linear(128, 64)
        with torch.no_grad():
            self.outlier.weight[:, 5] = 0.0

    def forward(self, x):
        xo = x.clone()
        xo[:, 5] = 1e4
        return torch.cat([self.normal(x), self.outlier(xo)], dim=-1)


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return MLP().eval(), torch.randn(16, 128)


@pytest.fixture(scope="module")
def glass_budget(mlp):
    model, x = mlp
    return diagnose(model, x, glass())


def test_all_effects_bound_each_effect_alone(glass_budget):
    d = glass_budget
    cfg = glass()
    assert d["preset"] == cfg.name and d["effects"] == active_effects(cfg)
    assert [r["name"] for r in d["layers"]] == ["fc1", "fc2"]  # lm_head is left digital
    for r in d["layers"]:
        assert set(r["errors"]) == set(d["effects"])
        assert 0 < r["error"] < 1
        for e, err in r["errors"].items():
            assert r["error"] >= err - (0.1 * err + 1e-4), (r["name"], e, err, r["error"])
        assert r["dominant"] == max(r["errors"], key=r["errors"].get)
        assert 0 <= r["input_clip_rate"] <= 1 and 0 <= r["output_clip_rate"] <= 1
        assert r["retries"] >= 0 and r["rows"] == 16
        assert r["shape"] == dict(fc1=(96, 128), fc2=(64, 96))[r["name"]]
    s = d["summary"]
    assert s["worst"]["error"] == max(r["error"] for r in d["layers"])
    assert [e for _, e in s["by_error"]] == sorted((r["error"] for r in d["layers"]), reverse=True)
    assert s["dominant"] in d["effects"] and sum(s["dominant_counts"].values()) == 2
    assert math.isclose(s["mean_error"]["all"], sum(r["error"] for r in d["layers"]) / 2)
    e2e = d["end_to_end"]
    assert 0 < e2e["rel_error"] < 1 and e2e["shape"] == (16, 10)


def test_ideal_preset_is_exact(mlp):
    model, x = mlp
    d = diagnose(model, x, "ideal")
    assert d["effects"] == [] and d["summary"]["dominant"] is None
    for r in d["layers"]:
        assert r["error"] < 1e-5 and r["errors"] == {} and r["dominant"] is None
    assert d["end_to_end"]["rel_error"] < 1e-5
    assert "no effect is active" in format_diagnosis(d)


def test_switched_off_effect_is_not_listed(mlp):
    model, x = mlp
    cfg = glass(optics__shot_noise=False)
    assert "shot" not in active_effects(cfg)
    d = diagnose(model, x, cfg, effects=None)
    assert "shot" not in d["effects"]
    assert all("shot" not in r["errors"] for r in d["layers"])
    with pytest.raises(ValueError, match="shot"):
        diagnose(model, x, cfg, effects=["shot"])
    with pytest.raises(ValueError, match="unknown effect"):
        diagnose(model, x, cfg, effects=["bogus"])


def test_dominant_effect_follows_the_inputs():
    """Only level rounding (8 levels) and the ADC are on. With each effect really alone, level
    rounding dominates the layer with ordinary inputs and the ADC the layer whose input has the
    outlier channel. Running every product with the full config, or switching one effect off
    instead of keeping it alone, names the same effect for both layers or swaps them."""
    torch.manual_seed(1)
    model = Outlier().eval()
    x = torch.randn(32, 128)
    cfg = only(glass(pcm__levels=8), ["levels", "adc"])
    d = diagnose(model, x, cfg)
    assert d["effects"] == ["levels", "adc"]
    rows = {r["name"]: r for r in d["layers"]}
    normal, outlier = rows["normal"], rows["outlier"]
    assert normal["dominant"] == "levels", normal
    assert outlier["dominant"] == "adc", outlier
    assert outlier["errors"]["adc"] > 0.3 > normal["errors"]["adc"]
    # level rounding depends on the weights only: the same order of error on both layers
    assert 0.3 < outlier["errors"]["levels"] / normal["errors"]["levels"] < 3
    assert d["summary"]["dominant_counts"] == {"levels": 1, "adc": 1}


def test_inputs_as_tuple_or_dict_and_outputs(mlp):
    model, x = mlp
    a = diagnose(model, (x, 2.0), "ideal", effects=[])
    b = diagnose(model, dict(x=x, scale=2.0), "ideal")
    assert [r["name"] for r in a["layers"]] == [r["name"] for r in b["layers"]]
    assert call_model(model, dict(x=x)).shape == (16, 10)
    t = torch.ones(2)
    assert main_output(t) is t and main_output((t, 1)) is t and main_output({"a": 1, "b": t}) is t
    assert main_output(dict(logits=t, other=torch.zeros(1))) is t
    with pytest.raises(TypeError):
        main_output(3)


class InPlace(nn.Module):
    """Puts an outlier channel into its activations in place after layer ``a`` has read them
    (``b`` reads them with it); a third layer never runs."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.unused = nn.Linear(64, 32), nn.Linear(64, 32), nn.Linear(64, 32)
        with torch.no_grad():
            self.a.weight[:, 0] = self.b.weight[:, 0] = 0.0

    def forward(self, x):
        x = x.clone()
        y = self.a(x)
        x[:, 0] = 1e4
        return torch.cat([y, self.b(x)], dim=-1)


def test_captured_inputs_are_taken_when_the_layer_runs():
    """``a`` is diagnosed on the activations it read, not on what they became after it ran: with
    only the ADC on, the outlier written later costs ``b`` its tile but not ``a``."""
    torch.manual_seed(2)
    d = diagnose(InPlace(), torch.randn(8, 64), only(glass(), ["adc"]))
    rows = {r["name"]: r for r in d["layers"]}
    assert set(rows) == {"a", "b"} and d["not_run"] == ["unused"]
    assert rows["a"]["error"] < 0.1 < 0.5 < rows["b"]["error"], rows
    assert "not reached by the inputs: unused" in format_diagnosis(d)


def test_exclude_and_bad_arguments(mlp):
    model, x = mlp
    d = diagnose(model, x, "ideal", exclude=("lm_head", "fc2"))
    assert [r["name"] for r in d["layers"]] == ["fc1"]
    with pytest.raises(TypeError):
        diagnose("model", x)
    with pytest.raises(ValueError, match="seconds"):
        diagnose(model, x, "ideal", seconds=-1)
    with pytest.raises(ValueError, match="no nn.Linear"):
        diagnose(model, x, "ideal", exclude=("fc", "lm_head"))


def test_states_are_freed(mlp):
    model, x = mlp
    gc.collect()
    before = len(store)
    diagnose(model, x, glass(), effects=["adc"])
    gc.collect()
    assert len(store) == before


def test_calibrated_mapping_is_calibrated_on_the_captured_inputs(mlp):
    model, x = mlp
    cfg = glass(mapping__input_range="static", mapping__adc_range="calibrated")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an uncalibrated static range warns
        d = diagnose(model, x, cfg, effects=["adc"])
    assert all(0 < r["error"] < 0.5 for r in d["layers"])
    assert 0 < d["end_to_end"]["rel_error"] < 0.5


def test_exported():
    assert tp.diagnose is diagnose and "diagnose" in tp.__all__


def test_format_diagnosis(glass_budget):
    text = format_diagnosis(glass_budget)
    for needle in ("fc1", "fc2", "96x128", "dominant effect", "end to end", "worst layers",
                   *glass_budget["effects"]):
        assert needle in text
    assert "lm_head" not in text

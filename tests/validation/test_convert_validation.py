"""``tp.convert`` at its boundaries: converting a converted model again moves its photonic
layers onto the new preset (so the report and the layers agree), and a bare ``nn.Linear``
becomes a photonic layer instead of being left alone."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_photonic as tp
from torch_photonic.energy import events


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8)).eval()


def _float_forward(model, x):
    h = F.relu(F.linear(x, model[0].weight, model[0].bias))
    return F.linear(h, model[2].weight, model[2].bias)


def test_second_convert_moves_every_layer_to_the_new_preset():
    model = tp.convert(_mlp(), "glass-pcm-200mm")
    x = torch.randn(4, 16)
    with torch.no_grad():
        model(x)  # programmed on the glass chip
    model = tp.convert(model, "ideal")
    assert [m.config.name for m in (model[0], model[2])] == ["ideal", "ideal"]
    report = model.photonic_report
    assert report.preset == "ideal" and report.reconfigured == ["0", "2"]
    assert report.converted == [] and report.other_configs == {}
    assert "moved onto ideal" in str(report)
    with events.Recorder() as rec, torch.no_grad():
        y = model(x)
    # the ideal preset is the float product: nothing of the glass chip is left
    torch.testing.assert_close(y, _float_forward(model, x), rtol=1e-6, atol=1e-6)
    assert [p["config"].name for p in rec.of("program")] == ["ideal", "ideal"]
    assert {p["config"].name for p in rec.of("mvm")} == {"ideal"}


def test_reconverted_model_matches_a_fresh_conversion():
    src = _mlp()
    fresh = tp.convert(copy.deepcopy(src), "silicon-photonic-128")
    twice = tp.convert(tp.convert(copy.deepcopy(src), "glass-pcm-200mm"), "silicon-photonic-128")
    x = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.equal(twice(x), fresh(x))
    assert twice[0].calibration_error == fresh[0].calibration_error


def test_same_preset_again_changes_nothing():
    model = tp.convert(_mlp(), "ideal")
    with torch.no_grad():
        model(torch.randn(2, 16))
    layer = model[0]
    model = tp.convert(model, "ideal")
    assert model[0] is layer and model.photonic_report.reconfigured == []
    with events.Recorder() as rec, torch.no_grad():
        model(torch.randn(2, 16))
    assert rec.of("program") == []  # still programmed


def test_layers_left_out_by_the_patterns_keep_their_config_and_are_reported():
    model = tp.convert(_mlp(), "glass-pcm-200mm")
    model = tp.convert(model, "ideal", include=("0",))
    assert model[0].config.name == "ideal" and model[2].config.name == "glass-pcm-200mm"
    report = model.photonic_report
    assert report.reconfigured == ["0"] and report.other_configs == {"2": "glass-pcm-200mm"}
    assert "2 (glass-pcm-200mm)" in str(report)


def test_reconvert_with_program_writes_the_cells_at_once():
    model = tp.convert(_mlp(), "glass-pcm-200mm", program=True)
    with events.Recorder() as rec:
        tp.convert(model, "ideal", program=True)
    assert sorted(p["module"] for p in rec.of("program")) == ["0", "2"]
    assert {p["config"].name for p in rec.of("program")} == {"ideal"}


def test_layer_with_learned_ranges_refuses_and_nothing_moves():
    model = tp.convert(_mlp(), "glass-pcm-200mm")
    model[2].input_range = nn.Parameter(torch.ones(1))  # as hwa.prepare_training would
    with pytest.raises(ValueError, match=r"photonic layer '2' holds ranges learned on preset "
                                         r"'glass-pcm-200mm' \(input_range\)"):
        tp.convert(model, "ideal")
    assert model[0].config.name == model[2].config.name == "glass-pcm-200mm"
    assert model.photonic_report.preset == "glass-pcm-200mm"


def test_reconfigure_resets_the_faithfulness_check():
    layer = tp.convert(nn.Linear(16, 8), "glass-pcm-200mm").eval()
    with torch.no_grad():
        layer(torch.randn(4, 16))
    assert layer.calibration_error is not None and layer.calibration_error > 0
    assert layer.reconfigure("ideal") is True
    assert layer.calibration_error is None
    with torch.no_grad():
        layer(torch.randn(4, 16))
    assert layer.calibration_error == pytest.approx(0.0, abs=1e-6)
    assert layer.reconfigure(tp.preset("ideal")) is False


# ---- a bare layer ----------------------------------------------------------------------------

def test_bare_linear_becomes_a_photonic_linear():
    lin = nn.Linear(8, 8)
    out = tp.convert(lin, "ideal")
    assert isinstance(out, tp.PhotonicLinear)
    assert out.weight is lin.weight and out.bias is lin.bias  # shared, not copied
    assert out.config.name == "ideal"
    r = out.photonic_report
    assert r.converted == [""] and r.params_optical == 64 and r.params_digital == 8
    x = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(out(x), lin(x), rtol=1e-6, atol=1e-6)


def test_bare_linear_keeps_its_mode_and_can_be_programmed_at_once():
    lin = nn.Linear(8, 4).eval()
    with events.Recorder() as rec:
        out = tp.convert(lin, "glass-pcm-200mm", program=True)
    assert not out.training and len(rec.of("program")) == 1


def test_bare_linear_left_out_by_include_stays_digital():
    lin = nn.Linear(8, 8)
    out = tp.convert(lin, "ideal", include=("blocks.*",))
    assert out is lin and out.photonic_report.excluded == [""]
    assert "left digital: (model)" in str(out.photonic_report)


def test_bare_photonic_linear_is_moved_in_place():
    layer = tp.convert(nn.Linear(8, 8), "glass-pcm-200mm")
    again = tp.convert(layer, "ideal")
    assert again is layer and layer.config.name == "ideal"
    assert again.photonic_report.reconfigured == [""]
    assert again.photonic_report.params_optical == 64

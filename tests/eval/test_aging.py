"""Accuracy over time (``accuracy_over_time``) with a stand-in metric on a small MLP: programmed
once, read at growing ages, the error grows with the glass preset's drift."""
import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.eval import accuracy_over_time, plot_accuracy_over_time
from torch_photonic.eval.aging import DEFAULT_TIMES
from torch_photonic.eval.diagnose import relative_error
from torch_photonic.hardware.effects import only
from torch_photonic.optics import kernels


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(128, 96), nn.ReLU(), nn.Linear(96, 64)).eval()


X = torch.randn(32, 128, generator=torch.Generator().manual_seed(1))


def _metric(reference_model):
    ref = reference_model(X).detach()

    def output_error(m):
        return relative_error(m(X), ref)
    return output_error


def drift_only(**kw):
    cfg = tp.resolve("glass-pcm-200mm", array__tile_rows=64, array__tile_cols=64, **kw)
    return only(cfg, ["drift"])


def test_error_grows_with_drift_and_weights_are_programmed_once(monkeypatch):
    model = _model()
    calls = []
    real = kernels.program
    monkeypatch.setattr(kernels, "program", lambda *a, **k: calls.append(1) or real(*a, **k))
    rows = accuracy_over_time(_metric(model), drift_only(), model=model)
    assert len(calls) == 2  # one programming per weight, aged in place afterwards
    assert [r["seconds"] for r in rows] == [float(t) for t in DEFAULT_TIMES]
    values = [r["value"] for r in rows]
    assert all(b >= a - 1e-6 for a, b in zip(values, values[1:])), values
    assert values[-1] > 2 * values[1] > 0, values
    assert all(r["reference"] == 0.0 and r["metric"] == "output_error" for r in rows)
    assert {r["preset"] for r in rows} == {"glass-pcm-200mm"}


def test_no_drift_no_growth():
    model = _model()
    rows = accuracy_over_time(_metric(model), drift_only(), times=(1, 31536000), model=model,
                              pcm__drift_nu_coeffs=(0.0, 0.0), pcm__drift_nu_range=(0.0, 0.0),
                              pcm__drift_nu_std_coeffs=(0.0, 0.0),
                              pcm__drift_nu_std_range=(0.0, 0.0))
    assert all(r["value"] < 1e-5 for r in rows), rows
    assert rows[0]["preset"].startswith("glass-pcm-200mm(")  # the overrides are in the label


def test_several_presets_and_plot(tmp_path):
    model = _model()
    rows = accuracy_over_time(_metric(model), [drift_only(), "ideal"], times=(0, 1, 86400),
                              model=model)
    assert [r["preset"] for r in rows] == ["glass-pcm-200mm"] * 3 + ["ideal"] * 3
    assert all(r["value"] < 1e-5 for r in rows if r["preset"] == "ideal")
    path = plot_accuracy_over_time(rows, str(tmp_path / "age.png"))
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_calibrated_mapping_needs_calibration_batches():
    model = _model()
    cfg = drift_only(mapping__input_range="static")
    with pytest.raises(ValueError, match="calibration"):
        accuracy_over_time(_metric(model), cfg, times=(1,), model=model)
    rows = accuracy_over_time(_metric(model), cfg, times=(1, 31536000), model=model,
                              calibration=[X])
    assert rows[0]["value"] < rows[1]["value"] < 0.5


def test_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match="unknown metric"):
        accuracy_over_time("bleu", "ideal")
    with pytest.raises(ValueError, match="model="):
        accuracy_over_time(lambda m: 0.0, "ideal")
    for times in ((), (1, -1), (float("nan"),)):
        with pytest.raises(ValueError, match="times"):
            accuracy_over_time(lambda m: 0.0, "ideal", times=times, model=model)
    with pytest.raises(ValueError, match="preset"):
        accuracy_over_time(lambda m: 0.0, "no-such-preset", model=model)
    with pytest.raises(ValueError, match="no rows"):
        plot_accuracy_over_time([], "x.png")

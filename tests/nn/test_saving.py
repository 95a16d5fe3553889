"""Saving and loading a programmed model: the cells with their noise, age and ranges come back
exactly, with nothing programmed again, on both paths."""
import pytest
import torch
import torch.nn as nn

import torch_photonic as tp
from torch_photonic.energy import events

GLASS = "glass-pcm-200mm"


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(96, 200), nn.GELU(), nn.Linear(200, 48))


def _x(seed=1):
    torch.manual_seed(seed)
    return torch.randn(5, 96)


def test_convert_path_reload_is_bit_identical(tmp_path):
    a = tp.convert(_mlp(), GLASS)
    a.eval()
    x = _x()
    with torch.no_grad():
        a(x)                                   # programs, one read
        tp.age(a, 3600.0)
        a(x)
    f = tmp_path / "model.pt"
    info = tp.save_programmed(a, str(f))
    assert info["weights"] == 2 and info["matrices"] == 2
    with torch.no_grad():
        ya = a(x)                              # the saved model's next read

    b = tp.convert(_mlp(seed=7), GLASS)        # other weights: the file brings them
    b.eval()
    tp.load_programmed(b, str(f))
    with events.Recorder() as rec, torch.no_grad():
        yb = b(x)
    assert torch.equal(ya, yb)
    assert not rec.of("program")               # nothing written again
    # the saved weights came back with the cells
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("saved_on,loaded_on", [("cpp", "torch"), ("torch", "cpp")])
def test_reload_on_the_other_kernel_backend_is_bit_identical(tmp_path, monkeypatch, saved_on,
                                                             loaded_on):
    """Cells programmed, aged and read on one kernel backend, saved, and loaded on the other: the
    next read (drift, the read noise accumulated so far, shot and receiver noise, converters)
    gives the saved model's next read, bit for bit."""
    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", saved_on)
    a = tp.convert(_mlp(), GLASS)
    a.eval()
    x = _x()
    with torch.no_grad():
        y0 = a(x)                              # programs, one read
        tp.age(a, 3600.0)
        a(x)
    f = tmp_path / f"{saved_on}.pt"
    tp.save_programmed(a, str(f))
    with torch.no_grad():
        ya = a(x)                              # the saved model's next read
    assert not torch.equal(ya, y0)             # the age and the reads moved the cells

    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", loaded_on)
    assert tp.kernel_backend() == loaded_on
    b = tp.convert(_mlp(seed=7), GLASS)
    b.eval()
    tp.load_programmed(b, str(f))
    with events.Recorder() as rec, torch.no_grad():
        yb = b(x)
    assert torch.equal(ya, yb)
    assert not rec.of("program")


def test_device_path_reload_is_bit_identical(tmp_path):
    with torch.photonic.set_config(GLASS):
        a = _mlp().to("photonic")
        x = _x().to("photonic")
        with torch.no_grad():
            a(x)
        f = tmp_path / "dev.pt"
        tp.save_programmed(a, str(f))
        with torch.no_grad():
            ya = a(x).cpu()
        b = _mlp(seed=3).to("photonic")
        tp.load_programmed(b, str(f))
        with events.Recorder() as rec, torch.no_grad():
            yb = b(x).cpu()
    assert torch.equal(ya, yb) and not rec.of("program")


def test_calibrated_ranges_come_back(tmp_path):
    cfg = tp.preset(GLASS, mapping__input_range="static", mapping__adc_range="calibrated")
    a = tp.convert(_mlp(), cfg)
    a.eval()
    tp.calibrate(a, [_x(s) for s in range(3)])
    with torch.no_grad():
        a(_x())
    f = tmp_path / "cal.pt"
    tp.save_programmed(a, str(f))
    with torch.no_grad():
        ya = a(_x(9))
    b = tp.convert(_mlp(), cfg)
    b.eval()
    tp.load_programmed(b, str(f))
    with torch.no_grad():
        yb = b(_x(9))
    assert torch.equal(ya, yb)


def test_mismatches_are_refused(tmp_path):
    a = tp.convert(_mlp(), GLASS)
    with torch.no_grad():
        a(_x())
    f = tmp_path / "m.pt"
    tp.save_programmed(a, str(f))
    other = tp.convert(_mlp(), "silicon-photonic-128")
    with pytest.raises(ValueError, match="same preset"):
        tp.load_programmed(other, str(f))
    with pytest.raises(ValueError, match="does not match"):
        tp.load_programmed(tp.convert(nn.Sequential(nn.Linear(96, 10)), GLASS), str(f))
    with pytest.raises(ValueError, match="no weight of the model is programmed"):
        tp.save_programmed(tp.convert(_mlp(), GLASS), str(tmp_path / "n.pt"))
    with pytest.raises(ValueError, match="no file"):
        tp.load_programmed(a, str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(Exception):
        tp.load_programmed(a, str(tmp_path / "junk.pt"))

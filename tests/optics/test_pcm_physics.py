"""PCM cells over time against the closed forms of the PCM model (docs/design.md): programming
noise by conductance, drift (t/t0)^-nu with a conductance-dependent exponent and its spread, 1/f
read noise accumulated since programming, drift compensation. >= 1e5 cells per statistic."""
import math

import pytest
import torch

import torch_photonic as tp
from torch_photonic.optics import kernels as optical

OPS = torch.ops.photonic
TILE = 128
NO_NU = dict(nu=(0.0, 0.0), nu_range=(0.0, 0.0), sd=(0.0, 0.0), sd_range=(0.0, 0.0))


def program_raw(W, coeffs, seed=0, cpw=2):
    return OPS.program(W, "none", "none", "floor", 32, cpw, False, list(coeffs), TILE, seed)


def drift_raw(state, seconds, *, nu=(0.0, 0.0), nu_range=(0.0, 0.0), sd=(0.0, 0.0),
              sd_range=(0.0, 0.0), read=(0.0, 0.65, 0.2, 2.5e-7), comp="none", cpw=2, seed=0):
    weff, scales = state
    return OPS.drift(weff, scales, cpw, TILE, list(nu), list(nu_range), list(sd),
                     list(sd_range), 20.0, list(read), float(seconds), comp, seed)


def _levels(g, n=400):
    """Rows whose block max is 1 (column 0) and every other cell at conductance g."""
    W = torch.full((n, 4 * TILE), float(g))
    W[:, ::TILE] = 1.0
    return W


@pytest.mark.parametrize("g", [0.25, 0.5, 0.75])
def test_programming_noise_follows_the_polynomial(g):
    coeffs = (0.0105392, 0.0786, -0.046924)
    W = _levels(g)
    weff, _ = program_raw(W, coeffs)
    err = (weff - W)[W == g]
    assert err.numel() >= 1e5
    sigma = coeffs[0] + coeffs[1] * g + coeffs[2] * g * g
    assert abs(err.mean().item()) < 5 * sigma / math.sqrt(err.numel())
    assert err.std().item() == pytest.approx(sigma, rel=0.03)


def test_programming_noise_seeded_and_reset_cells_quiet():
    W = _levels(0.5)
    W[:, 1::7] = 0.0
    a, _ = program_raw(W, (0.02, 0.0, 0.0), seed=1)
    b, _ = program_raw(W, (0.02, 0.0, 0.0), seed=1)
    c, _ = program_raw(W, (0.02, 0.0, 0.0), seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a[W == 0] == 0).all()  # the reset cell of a pair holds no light


@pytest.mark.parametrize("age", [1.0, 3600.0, 86400.0, 3.15e7])
def test_drift_follows_the_power_law(age):
    W = _levels(0.5)
    st = program_raw(W, (0, 0, 0))
    wt = drift_raw(st, age, nu=(0.0, 0.06), nu_range=(0.0, 1.0))
    torch.testing.assert_close(wt, W * ((age + 20.0) / 20.0) ** -0.06, rtol=3e-6, atol=1e-7)
    torch.testing.assert_close(drift_raw(st, 0.0, nu=(0.0, 0.06), nu_range=(0.0, 1.0)), W)


def test_drift_exponent_depends_on_the_conductance():
    a_, b_, lo, hi = -0.0155, 0.0244, 0.049, 0.1
    age = 1e5
    L = math.log((age + 20.0) / 20.0)
    for g in (0.02, 0.1, 0.9):
        W = _levels(g, n=8)
        st = program_raw(W, (0, 0, 0))
        wt = drift_raw(st, age, nu=(a_, b_), nu_range=(lo, hi))
        nu = min(max(a_ * math.log(g) + b_, lo), hi)
        ratio = (wt / W)[W == g]
        torch.testing.assert_close(ratio, torch.full_like(ratio, math.exp(-nu * L)), rtol=3e-6,
                                   atol=0)


def test_drift_spread_is_a_folded_normal_in_expectation():
    mu, sd = 0.05, 0.03
    age = 2e5
    W = _levels(0.5)
    st = program_raw(W, (0, 0, 0))
    wt = drift_raw(st, age, nu=(0.0, mu), nu_range=(0.0, 1.0), sd=(0.0, sd), sd_range=(0.0, 1.0))
    L = math.log((age + 20.0) / 20.0)
    nu = (-torch.log((wt / W)[W == 0.5]) / L).double()
    assert nu.numel() >= 1e5
    # |N(mu, sd)|: mean sd sqrt(2/pi) e^(-mu^2/2sd^2) + mu (1 - 2 Phi(-mu/sd))
    phi = 0.5 * math.erfc(mu / sd / math.sqrt(2))
    mean = sd * math.sqrt(2 / math.pi) * math.exp(-mu * mu / (2 * sd * sd)) + mu * (1 - 2 * phi)
    var = mu * mu + sd * sd - mean * mean
    assert nu.mean().item() == pytest.approx(mean, abs=5 * math.sqrt(var / nu.numel()))
    assert nu.var().item() == pytest.approx(var, rel=0.03)
    assert (nu >= 0).all()
    # the exponent of each cell is fixed by the seed: the same at another age
    wt2 = drift_raw(st, 2e6, nu=(0.0, mu), nu_range=(0.0, 1.0), sd=(0.0, sd), sd_range=(0.0, 1.0))
    nu2 = -torch.log((wt2 / W)[W == 0.5]) / math.log((2e6 + 20.0) / 20.0)
    torch.testing.assert_close(nu2.double(), nu, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("g", [0.1, 0.6])
def test_read_noise_accumulates_as_one_over_f(g):
    q0, qe, qmax, tr = 0.0088, 0.65, 0.2, 2.5e-7
    W = _levels(g)
    st = program_raw(W, (0, 0, 0))
    for age in (0.0, 3600.0, 3.15e7):
        wt = drift_raw(st, age, read=(q0, qe, qmax, tr))
        rel = ((wt - W) / W)[W == g]
        t = age + 20.0
        q = min(q0 / g ** qe, qmax)
        sigma = q * math.sqrt(math.log((t + tr) / (2 * tr)))
        assert rel.std().item() == pytest.approx(sigma, rel=0.03)
        assert abs(rel.mean().item()) < 5 * sigma / math.sqrt(rel.numel())
    a = drift_raw(st, 3600.0, read=(q0, qe, qmax, tr))
    assert torch.equal(a, drift_raw(st, 3600.0, read=(q0, qe, qmax, tr)))  # one age, one draw
    assert not torch.equal(a, drift_raw(st, 3601.0, read=(q0, qe, qmax, tr)))


@pytest.mark.parametrize("comp", ["global", "per_column"])
def test_drift_compensation_restores_the_summed_conductance(comp):
    torch.manual_seed(0)
    W = torch.rand(256, 4 * TILE)
    st = program_raw(W, (0, 0, 0))
    kw = dict(nu=(-0.0155, 0.0244), nu_range=(0.049, 0.1), sd=(-0.0125, -0.0059),
              sd_range=(0.008, 0.045))
    raw = drift_raw(st, 3.15e7, **kw)
    wt = drift_raw(st, 3.15e7, comp=comp, **kw)
    assert (raw.abs().sum() / W.abs().sum()).item() < 0.5
    if comp == "global":
        assert (wt.abs().sum() / W.abs().sum()).item() == pytest.approx(1.0, rel=1e-5)
        alpha = wt / raw
        assert (alpha.max() - alpha.min()).item() < 1e-5  # one scale for the matrix
    else:
        torch.testing.assert_close(wt.abs().sum(1), W.abs().sum(1), rtol=1e-5, atol=0)


def test_age_is_one_clock_for_convert_and_the_device():
    cfg = tp.preset("glass-pcm-200mm", array__tile_rows=64, array__tile_cols=64)
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 16)
    x = torch.randn(4, 64)
    model = tp.convert(torch.nn.Sequential(lin), cfg)
    tp.age(model, 3600.0)
    st = model[0].state
    want = optical.drift(st, 3600.0)
    torch.testing.assert_close(st.weight_at(3600.0), want, rtol=0, atol=0)
    y1 = model(x)
    tp.age(model, 3.15e7)
    y2 = model(x)
    assert not torch.equal(y1, y2)
    with pytest.raises(ValueError, match="seconds"):
        tp.age(model, -1.0)


def test_lifecycle_verbs_name_their_bad_arguments():
    model = tp.convert(torch.nn.Sequential(torch.nn.Linear(8, 4)), "ideal")
    with pytest.raises(ValueError, match="seconds"):
        tp.age(model, "an hour")
    with pytest.raises(ValueError, match="seconds"):
        torch.photonic.age(-3)
    with pytest.raises(ValueError, match="batches"):
        tp.calibrate(model, [])
    with pytest.raises(TypeError, match="model"):
        tp.calibrate("model", [torch.ones(1, 8)])
    with pytest.raises(TypeError, match="model"):
        tp.clip_rates("model")

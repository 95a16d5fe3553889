"""How a layer meets the array: per-token, per-tile input gains (dynamic abs-max, static ranges,
block exponents), DAC rounding per tile, bound management, and calibration over many batches,
each against a pure-Python reference."""
import pytest
import torch

import torch_photonic as tp
from torch_photonic.optics import calibration, kernels as optical

OPS = torch.ops.photonic
TILE = 64


def program_raw(W, tile=TILE):
    return OPS.program(W, "none", "none", "floor", 32, 2, False, [0.0, 0.0, 0.0], tile, 0)


def mvm_raw(x, state, fs=1e9, *, ranges=None, dac=True, block=False, adc=False, bm=0):
    weff, scales = state
    return OPS.mvm(x, weff, scales, torch.tensor(float(fs)), ranges, None, "none", "none",
                   "floor", 8, dac, block, 8, adc, 0.0, 0.0, bm, TILE, TILE, 2, 0, None)


def reference(x, W, gains, q=127, fs=None, adc_q=127):
    """Per tile t: x_hat = clamp(round(x / a[m, t] * q) / q), y += a * (x_hat @ W_t^T), with an
    optional ADC (clip at fs, round to fs / adc_q) on the normalised partial sums."""
    out = torch.zeros(x.shape[0], W.shape[0], dtype=torch.float64)
    for t in range(gains.shape[1]):
        sl = slice(t * TILE, (t + 1) * TILE)
        a = gains[:, t:t + 1].double()
        xh = torch.round((x[:, sl].double() / a).clamp(-1, 1) * q) / q
        s = W[:, sl].double().abs().amax(1)
        yh = (xh @ W[:, sl].double().t()) / s
        if fs is not None:
            yh = torch.round(yh.clamp(-fs, fs) / fs * adc_q) * fs / adc_q
        out += a * yh * s
    return out


def test_per_tile_gain_keeps_the_other_tiles_resolution():
    torch.manual_seed(0)
    K = 4 * TILE
    W, x = torch.randn(48, K), torch.randn(20, K)
    x[:, 3] = 1000.0  # one outlier channel in tile 0
    st = program_raw(W)
    y, _ = mvm_raw(x, st)
    gains = x.abs().reshape(20, 4, TILE).amax(2)
    torch.testing.assert_close(y.double(), reference(x, W, gains), rtol=1e-5, atol=1e-3)
    # tiles 1-3 are converted as if the outlier did not exist: their error is the same as in a
    # run without it, and far below what one whole-row gain would give them
    exact = x[:, TILE:] @ W[:, TILE:].t()
    per_tile = reference(x[:, TILE:], W[:, TILE:], gains[:, 1:]).float()
    whole_row = reference(x[:, TILE:], W[:, TILE:], torch.full((20, 3), 1000.0)).float()
    e_tile = (per_tile - exact).norm() / exact.norm()
    e_row = (whole_row - exact).norm() / exact.norm()
    assert e_tile < 0.02 < e_row


def test_static_ranges_clip_and_count():
    torch.manual_seed(1)
    K = 2 * TILE
    W, x = torch.randn(32, K), torch.randn(40, K)
    ranges = torch.tensor([1.5, 0.7])
    y, stats = mvm_raw(x, program_raw(W), ranges=ranges)
    gains = ranges.reshape(1, 2).expand(40, 2)
    torch.testing.assert_close(y.double(), reference(x, W, gains), rtol=1e-5, atol=1e-4)
    clipped = int((x[:, :TILE].abs() > 1.5).sum() + (x[:, TILE:].abs() > 0.7).sum())
    assert clipped > 0 and int(stats[1]) == clipped and int(stats[0]) == x.numel()


def test_block_exponent_rounds_gains_up_to_powers_of_two():
    torch.manual_seed(2)
    K = 2 * TILE
    W, x = torch.randn(16, K), torch.randn(10, K) * 3
    y, _ = mvm_raw(x, program_raw(W), block=True)
    g = x.abs().reshape(10, 2, TILE).amax(2)
    gains = torch.exp2(torch.ceil(torch.log2(g)))
    assert not torch.equal(gains, g)
    torch.testing.assert_close(y.double(), reference(x, W, gains), rtol=1e-5, atol=1e-4)


def test_bound_management_halves_the_input_scale_of_saturated_tokens():
    W = torch.ones(4, TILE)
    x = torch.ones(3, TILE)
    x[1] *= 0.05   # this token's partial sum (64 units) also saturates at fs = 40 ...
    x[2, :16] = 0  # ... this one is 48 units
    st = program_raw(W)
    fs = 40.0
    y0, s0 = mvm_raw(x, st, fs=fs, adc=True, bm=0)
    assert int(s0[3]) == 12  # every output clipped
    y, s = mvm_raw(x, st, fs=fs, adc=True, bm=3)
    # one halving brings 64 -> 32 and 48 -> 24 units under the bound: the result is the product
    # at twice the gain (the DAC rounds x / 2a, the ADC rounds the halved sums), unclipped
    gains = 2 * x.abs().amax(1, keepdim=True)
    torch.testing.assert_close(y.double(), reference(x, W, gains, fs=fs), rtol=1e-6, atol=1e-4)
    assert (y - x @ W.t()).abs().max() < 1.0 < (y0 - x @ W.t()).abs().max()
    assert int(s[3]) == 0 and int(s[4]) == 3  # one retry per (token, tile)


def test_calibrated_static_ranges_are_percentiles_over_all_batches():
    cfg = tp.preset("ideal", array__tile_rows=TILE, array__tile_cols=TILE,
                    mapping__input_range="static", mapping__input_percentile=90.0)
    torch.manual_seed(3)
    lin = torch.nn.Linear(2 * TILE, 8)
    model = tp.convert(torch.nn.Sequential(lin), cfg)
    batches = [torch.randn(50, 2 * TILE) * (i + 1) for i in range(4)]
    tp.calibrate(model, batches)
    st = model[0].state
    allx = torch.cat(batches)
    for t in range(2):
        vals = allx[:, t * TILE:(t + 1) * TILE].abs().flatten()
        want = calibration.percentile(vals, 90.0)
        assert st.input_range[t].item() == pytest.approx(want.item(), rel=1e-6)
    # the batches were not those of the last batch only
    last = batches[-1][:, :TILE].abs().flatten()
    assert st.input_range[0].item() != pytest.approx(calibration.percentile(last, 90.0).item())


def test_uncalibrated_static_ranges_warn_and_use_per_token_gains():
    cfg = tp.preset("ideal", array__tile_rows=TILE, array__tile_cols=TILE,
                    mapping__input_range="static")
    W, x = torch.randn(8, TILE), torch.randn(5, TILE)
    st = optical.program(W, cfg)
    with pytest.warns(RuntimeWarning, match="not been calibrated"):
        y = optical.mvm(x, st)
    torch.testing.assert_close(y, x @ W.t(), rtol=1e-5, atol=1e-5)


def test_calibrated_adc_ranges_per_column():
    cfg = tp.preset("ideal", array__tile_rows=TILE, array__tile_cols=TILE,
                    mapping__adc_range="calibrated", mapping__adc_percentile=100.0)
    torch.manual_seed(4)
    model = tp.convert(torch.nn.Sequential(torch.nn.Linear(TILE, 6, bias=False)), cfg)
    batches = [torch.randn(30, TILE) for _ in range(3)]
    tp.calibrate(model, batches)
    st = model[0].state
    xs = torch.cat(batches)
    W = model[0].weight.detach()
    y_hat = (xs / xs.abs().amax(1, keepdim=True)) @ (W / W.abs().amax(1, keepdim=True)).t()
    torch.testing.assert_close(st.full_scale[:, 0], y_hat.abs().amax(0), rtol=1e-5, atol=1e-6)


def test_bound_management_is_per_physical_tile():
    """Only the output tile that saturated is read again; the token's other output tiles keep
    the full input scale (and their exact first read)."""
    W = torch.cat([torch.ones(TILE, TILE), 0.01 * torch.ones(TILE, TILE)])  # 2 output tiles
    W[TILE:, 0] = 1.0  # the second tile's column scale is 1, its sums stay small
    x = torch.ones(3, TILE)
    st = program_raw(W)
    y0, s0 = mvm_raw(x, st, fs=40.0, adc=True, bm=0)
    y, s = mvm_raw(x, st, fs=40.0, adc=True, bm=2)
    assert int(s0[3]) == 3 * TILE and int(s[3]) == 0
    assert int(s[4]) == 3  # one (token, output tile) pair per token
    assert torch.equal(y[:, TILE:], y0[:, TILE:])  # the unsaturated tile was read once
    assert not torch.equal(y[:, :TILE], y0[:, :TILE])

"""Read-out noise, ADC and determinism of the optical kernel against closed forms (>= 1e5 samples
each). Noise is in normalised partial-sum units: inputs scaled to |x| <= 1 per token and tile,
conductances to |g| <= 1 per column and tile."""
import math

import pytest
import torch

from torch_photonic.optics import kernels as optical
import torch_photonic as tp

OPS = torch.ops.photonic
T = 64  # tile rows = K


def program_raw(W, tile=T, coeffs=(0.0, 0.0, 0.0), levels=32, quantize=False, cpw=2, seed=0):
    return OPS.program(W, "none", "none", "floor", levels, cpw, quantize, list(coeffs), tile, seed)


def mvm_raw(x, W, fs, *, ranges=None, dac=False, dac_bits=8, block=False, adc=False, adc_bits=8,
            ppu=0.0, rx=0.0, bm=0, tile=T, cpw=2, seed=0, state=None):
    weff, scales = state if state is not None else program_raw(W, tile, cpw=cpw)
    fs_t = fs if isinstance(fs, torch.Tensor) else torch.tensor(float(fs))
    return OPS.mvm(x, weff, scales, fs_t, ranges, None, "none", "none", "floor", dac_bits, dac,
                   block, adc_bits, adc, float(ppu), float(rx), bm, tile, tile, cpw, seed, None)


def _staircase(N=64):
    """W[n, :n+1] = 1: with x = 1 the normalised partial sum of column n is exactly n+1."""
    W = torch.zeros(N, T)
    for n in range(N):
        W[n, : n + 1] = 1.0
    return W


def _balanced(N=32):
    """W[n] = n+1 ones then n+1 minus-ones: with x = 1 the net sum is 0 and the common-mode
    light is 2(n+1)."""
    W = torch.zeros(N, T)
    for n in range(N):
        W[n, : n + 1] = 1.0
        W[n, n + 1: 2 * n + 2] = -1.0
    return W


def test_shot_noise_variance_is_common_mode_over_photons():
    ppu, M = 50.0, 4000
    x = torch.ones(M, T)
    y, _ = mvm_raw(x, _staircase(), 1e9, ppu=ppu, seed=123)
    exact = torch.arange(1, 65, dtype=torch.float32)
    z = (y - exact) / torch.sqrt(exact / ppu)
    assert z.numel() >= 1e5
    assert abs(z.mean().item()) < 5 / math.sqrt(z.numel())
    assert abs(z.var().item() - 1) < 0.03
    for q in range(4):  # the variance follows the light in every part of the range
        assert abs(z[:, q * 16:(q + 1) * 16].var().item() - 1) < 0.05, q


def test_balanced_detection_sees_the_common_mode_not_the_net_sum():
    ppu, M = 50.0, 4000
    y, _ = mvm_raw(torch.ones(M, T), _balanced(), 1e9, ppu=ppu, seed=7)
    assert y.mean().abs().item() < 0.05  # the net products are zero ...
    cm = 2 * torch.arange(1, 33, dtype=torch.float32)
    z = y / torch.sqrt(cm / ppu)           # ... but each column's light is 2(n+1) units
    assert abs(z.var().item() - 1) < 0.03


def test_receiver_noise_is_constant_and_gaussian():
    rx, M = 0.3, 2000
    y, _ = mvm_raw(torch.ones(M, T), _staircase(), 1e9, rx=rx, seed=3)
    z = ((y - torch.arange(1, 65, dtype=torch.float32)) / rx).flatten()
    assert abs(z.var().item() - 1) < 0.03
    frac1 = (z.abs() < 1).float().mean().item()
    frac2 = (z.abs() < 2).float().mean().item()
    assert abs(frac1 - 0.6827) < 0.01 and abs(frac2 - 0.9545) < 0.01


def test_shot_and_receiver_variances_add():
    ppu, rx, M = 80.0, 0.2, 3000
    y, _ = mvm_raw(torch.ones(M, T), _staircase(), 1e9, ppu=ppu, rx=rx, seed=11)
    exact = torch.arange(1, 65, dtype=torch.float32)
    z = (y - exact) / torch.sqrt(exact / ppu + rx ** 2)
    assert abs(z.var().item() - 1) < 0.03


def test_single_cell_noise_counts_the_offset_light():
    """One cell per weight at g = (w+1)/2: the detector sees sum |x| g; the weight is 2g - 1, so
    the variance is 4 x 0.5 (sum |x| w_hat + sum |x|) / ppu."""
    ppu, M = 100.0, 3000
    W = _staircase()
    y, _ = mvm_raw(torch.ones(M, T), W, 1e9, ppu=ppu, cpw=1, seed=5)
    exact = W.sum(1)
    var = 4 * 0.5 * (exact + T) / ppu
    z = (y - exact) / var.sqrt()
    assert abs(z.var().item() - 1) < 0.04


def test_read_noise_seeded_and_fresh():
    W, x = _staircase(), torch.ones(50, T)
    a, _ = mvm_raw(x, W, 64, ppu=10, rx=0.1, seed=5)
    b, _ = mvm_raw(x, W, 64, ppu=10, rx=0.1, seed=5)
    c, _ = mvm_raw(x, W, 64, ppu=10, rx=0.1, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_adc_clips_exactly_at_full_scale_rounds_and_counts():
    W = _staircase()
    x = torch.ones(3, T)
    fs, bits = 20.0, 6
    y, stats = mvm_raw(x, W, fs, adc=True, adc_bits=bits)
    exact = torch.arange(1, 65, dtype=torch.float32)
    step = fs / (2 ** (bits - 1) - 1)
    want = torch.round(exact.clamp(-fs, fs) / step) * step
    torch.testing.assert_close(y[0], want, rtol=1e-6, atol=1e-6)
    assert (y[0, 19:] == y[0, 19]).all() and y[0, 18].item() < fs
    yn, _ = mvm_raw(-x, W, fs, adc=True, adc_bits=bits)
    torch.testing.assert_close(yn, -y)
    # stats: [input samples, inputs clipped, outputs, outputs clipped, retries]
    assert stats.tolist() == [3 * T, 0, 3 * 64, 3 * (64 - 20), 0]


def test_adc_clip_rate_is_the_fraction_of_partial_sums_beyond_the_bound():
    torch.manual_seed(0)
    W, x = torch.randn(128, T), torch.randn(500, T)
    weff, scales = program_raw(W)
    fs = 3.0
    _, stats = mvm_raw(x, W, fs, adc=True, state=(weff, scales))
    a = x.abs().amax(1, keepdim=True)
    y_hat = (x / a) @ (weff / scales).t()
    beyond = int((y_hat.abs() > fs).sum())
    assert 0 < beyond < y_hat.numel()
    assert int(stats[3]) == beyond and int(stats[2]) == y_hat.numel()


def test_thread_count_determinism():
    torch.manual_seed(0)
    cfg = tp.preset("glass-pcm-200mm", array__tile_rows=256, array__tile_cols=128,
                    mapping__adc_full_scale=4.0)
    W, x = torch.randn(300, 700), torch.randn(33, 700)
    old = torch.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            torch.set_num_threads(nt)
            st = optical.program(W, cfg)
            outs.append((st.weff, optical.drift(st, 1e5),
                         optical.mvm(x, st, seconds=1e5, seed=42), st.clips.as_dict()))
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*outs):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b

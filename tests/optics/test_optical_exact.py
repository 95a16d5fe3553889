"""Noise, drift and rounding off: the optical product equals fake_quantize(x) @ fake_quantize(W).T."""
import zlib

import pytest
import torch
import torch.nn.functional as F

import torch_photonic as tp
from torch_photonic.optics import kernels as optical

FORMATS = ["fp8_e4m3", "fp8_e5m2", "fp4_e2m1"]
SCALINGS = ["none", "tensor", "channel", "mx", "nvfp4", "block128", "block128_ue8m0"]
SHAPES = [(8, 256, 128), (5, 300, 70), (3, 1000, 33)]  # (M, K, N); tile 128 x 64


def _cfg(**kw):
    return tp.preset("ideal", array__tile_rows=128, array__tile_cols=64, **kw)


def _rel(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


# nvfp4 scaling is defined only for fp4_e2m1 (its E4M3 block scales belong to that format);
# the quantizer rejects the other pairs, see test_nvfp4_needs_fp4.
COMBOS = [(f, s) for f in FORMATS for s in SCALINGS if s != "nvfp4" or f == "fp4_e2m1"]


def test_nvfp4_needs_fp4():
    for fmt in FORMATS:
        if fmt != "fp4_e2m1":
            with pytest.raises(ValueError, match="nvfp4"):
                tp.fake_quantize(torch.randn(4, 256), fmt, "nvfp4")


@pytest.mark.parametrize("fmt,scaling", COMBOS)
def test_noise_off_equals_fake_quantized_product(fmt, scaling):
    torch.manual_seed(zlib.crc32(f"{fmt}/{scaling}".encode()))  # the same data in every process
    cfg = _cfg(formats__weight_format=fmt, formats__weight_scaling=scaling,
               formats__activation_format=fmt, formats__activation_scaling=scaling)
    assert cfg.is_exact
    for M, K, N in SHAPES:
        W = torch.randn(N, K) * 0.05
        x = torch.randn(M, K) * 3
        st = optical.program(W, cfg)
        y = optical.mvm(x, st, seed=1)
        ref = optical.reference(x, W, cfg)
        assert _rel(y, ref) <= 1e-5, (M, K, N)
        # and quantization really happened (the format is not silently ignored)
        assert _rel(ref, x @ W.T) > 1e-4


@pytest.mark.parametrize("M,K,N", SHAPES + [(1, 1, 1), (64, 128, 64)])
def test_ideal_equals_plain_fp32(M, K, N):
    torch.manual_seed(0)
    cfg = _cfg()
    W, b = torch.randn(N, K), torch.randn(N)
    x = torch.randn(2, M, K)
    st = optical.program(W, cfg)
    y = optical.mvm(x, st, bias=b)
    assert y.shape == (2, M, N)
    assert _rel(y, F.linear(x, W, b)) <= 1e-5


def test_ideal_default_tile_and_layer():
    torch.manual_seed(1)
    lin = torch.nn.Linear(2100, 70)
    pl = tp.PhotonicLinear.from_linear(lin, tp.preset("ideal"))
    x = torch.randn(4, 2100)
    assert _rel(pl(x), lin(x)) <= 1e-5


def test_levels_quantization_is_onto_full_range():
    # With level rounding on and noise off, every block uses the full level range: the largest
    # |w| of every (row, tile) block is the top level exactly, and all values sit on the grid.
    torch.manual_seed(2)
    L = 16
    cfg = _cfg(pcm__quantize_levels=True, pcm__levels=L)
    W = torch.randn(40, 300) * torch.logspace(-3, 2, 40)[:, None]  # wildly different row scales
    st = optical.program(W, cfg)
    for t in range(st.scales.shape[1]):
        blk = W[:, t * 128:(t + 1) * 128]
        s = st.scales[:, t]
        torch.testing.assert_close(s, blk.abs().amax(1))
        g = st.weff[:, t * 128:(t + 1) * 128] / s[:, None]
        codes = g.abs() * (L - 1)
        torch.testing.assert_close(codes, codes.round(), atol=1e-4, rtol=0)
        assert (codes.amax(1) - (L - 1)).abs().max() < 1e-4
    # error is a per-block fraction of the block max, not of the global max
    rel = (st.weff - W).abs() / st.scales.repeat_interleave(128, 1)[:, :300]
    assert rel.max() <= 0.5 / (L - 1) + 1e-6


def test_single_cell_offset_mapping_exact():
    torch.manual_seed(3)
    cfg = _cfg(array__cells_per_weight=1)
    W, x = torch.randn(20, 200), torch.randn(6, 200)
    st = optical.program(W, cfg)
    assert _rel(optical.mvm(x, st), x @ W.T) <= 1e-5


def test_shape_mismatch_names_both_shapes():
    cfg = _cfg()
    st = optical.program(torch.randn(30, 50), cfg)
    with pytest.raises(RuntimeError) as e:
        optical.mvm(torch.randn(4, 49), st)
    assert "[4, 49]" in str(e.value) and "[30, 50]" in str(e.value)
    pl = tp.PhotonicLinear(50, 30, config=cfg, name="blk.proj")
    with pytest.raises(ValueError) as e:
        pl(torch.randn(2, 7))
    assert "(2, 7)" in str(e.value) and "(30, 50)" in str(e.value) and "blk.proj" in str(e.value)


def test_state_bytes_per_weight():
    cfg = tp.preset("glass-pcm-200mm")
    W = torch.randn(512, 2048)
    st = optical.program(W, cfg)
    optical.mvm(torch.randn(8, 2048), st)
    assert st.bytes_per_weight() <= 8
    std = optical.program(W, cfg)
    optical.mvm(torch.randn(8, 2048), std, seconds=1e4)  # aged cells and common-mode copy held
    assert std._aged is not None and std._cm is not None and std.bytes_per_weight() <= 8


def test_meta_and_compile():
    cfg = _cfg()
    st = optical.program(torch.randn(16, 32), cfg)
    out, stats = torch.ops.photonic.mvm(
        torch.empty(3, 5, 32, device="meta"), st.weff.to("meta"), st.scales.to("meta"),
        torch.empty(16, 1, device="meta"), None, None, "none", "none", "floor", 8, False, False,
        8, False, 0.0, 0.0, 0, 128, 64, 2, 0)
    assert out.shape == (3, 5, 16) and out.device.type == "meta" and stats.shape == (5,)
    w, s = torch.ops.photonic.program(torch.empty(16, 300, device="meta"), "none", "none",
                                      "floor", 32, 2, False, [0.0, 0.0, 0.0], 128, 0)
    assert w.shape == (16, 300) and s.shape == (16, 3)

    fs = optical.full_scale_tensor(st)

    def f(x):
        y, _ = torch.ops.photonic.mvm(x, st.weff, st.scales, fs, None, None, "none", "none",
                                      "floor", 8, True, False, 8, True, 30.0, 0.1, 2, 128, 64, 2,
                                      7)
        return y * 2

    x = torch.randn(4, 32)
    torch.testing.assert_close(torch.compile(f, backend="aot_eager", fullgraph=True)(x), f(x))

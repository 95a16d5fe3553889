"""Bad input: clear ValueError / TypeError naming the argument, from Python and from the C++ op."""
import math

import pytest
import torch

import torch_photonic as tp


@pytest.mark.parametrize("fn", [tp.quantize, tp.fake_quantize])
def test_unknown_names_list_valid_ones(fn):
    x = torch.randn(4, 32)
    with pytest.raises(ValueError, match=r"format.*fp8_e4m3, fp8_e5m2, fp4_e2m1"):
        fn(x, "fp8_e3m4")
    with pytest.raises(ValueError, match=r"scaling.*none, tensor, channel, mx, nvfp4, block128, block128_ue8m0"):
        fn(x, "fp8_e4m3", scaling="row")
    with pytest.raises(ValueError, match=r"scale_rule.*floor, rceil"):
        fn(x, "fp8_e4m3", scaling="mx", scale_rule="even")
    with pytest.raises(TypeError, match="format"):
        fn(x, 8)
    with pytest.raises(TypeError, match="weight"):
        fn(x, "fp8_e4m3", weight=1)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.uint8, torch.bool, torch.complex64])
def test_non_float_input(dtype):
    x = torch.ones(4, 32).to(dtype)
    with pytest.raises(TypeError, match=r"x: expected a floating-point"):
        tp.quantize(x, "fp8_e4m3")
    with pytest.raises(TypeError, match=r"x: expected a floating-point"):
        tp.fake_quantize(x, "fp8_e4m3", "mx")
    with pytest.raises(TypeError, match=r"^x:"):
        torch.ops.photonic.fake_quantize(x, "fp8_e4m3")  # the C++ op checks too


def test_not_a_tensor():
    with pytest.raises(TypeError, match="x"):
        tp.quantize([1.0, 2.0], "fp8_e4m3")


@pytest.mark.parametrize("scaling", ["tensor", "channel", "mx", "block128", "block128_ue8m0"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nonfinite_in_scale_computation(scaling, bad):
    x = torch.randn(3, 200)
    x[1, 150] = bad
    with pytest.raises(ValueError, match=r"^x: contains NaN or Inf"):
        tp.quantize(x, "fp8_e4m3", scaling)
    with pytest.raises(ValueError, match=r"^x: contains NaN or Inf"):
        torch.ops.photonic.fake_quantize(x, "fp8_e4m3", scaling)


def test_nonfinite_nvfp4_and_weight_tiles():
    x = torch.randn(130, 140)
    x[129, 139] = math.nan
    with pytest.raises(ValueError, match="x"):
        tp.fake_quantize(x, "fp4_e2m1", "nvfp4")
    with pytest.raises(ValueError, match="x"):
        tp.fake_quantize(x, "fp8_e4m3", "block128", weight=True)


def test_fp4_nan_raises_but_inf_saturates():
    with pytest.raises(ValueError, match=r"^x: contains NaN"):
        tp.quantize(torch.tensor([1.0, math.nan]), "fp4_e2m1")
    assert tp.fake_quantize(torch.tensor([math.inf]), "fp4_e2m1").item() == 6.0


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
def test_nvfp4_needs_fp4(fmt):
    with pytest.raises(ValueError, match=r"format.*nvfp4.*fp4_e2m1"):
        tp.quantize(torch.randn(2, 16), fmt, "nvfp4")
    with pytest.raises(ValueError, match=r"^format"):
        torch.ops.photonic.quantize(torch.randn(2, 16), fmt, "nvfp4")


@pytest.mark.parametrize("scaling", ["block128", "block128_ue8m0"])
def test_weight_blocks_need_2d(scaling):
    with pytest.raises(ValueError, match=r"^weight: 128x128"):
        tp.quantize(torch.randn(300), "fp8_e4m3", scaling, weight=True)
    with pytest.raises(ValueError, match=r"^weight: 128x128"):
        torch.ops.photonic.fake_quantize(torch.randn(300), "fp8_e4m3", scaling, "floor", True)


def test_dequantize_checks():
    q = tp.quantize(torch.randn(4, 64), "fp8_e4m3", "mx")
    with pytest.raises(TypeError, match="q"):
        tp.dequantize(q.codes)
    with pytest.raises(TypeError, match="dtype"):
        tp.dequantize(q, torch.int32)
    with pytest.raises(ValueError, match=r"^scales: shape"):
        torch.ops.photonic.dequantize(q.codes, q.scales[:, :1], q.tensor_scale, "fp8_e4m3", "mx", [4, 64])
    with pytest.raises(ValueError, match=r"^codes: shape"):
        torch.ops.photonic.dequantize(q.codes, q.scales, q.tensor_scale, "fp8_e4m3", "mx", [4, 96])
    with pytest.raises(TypeError, match=r"^scales:"):
        torch.ops.photonic.dequantize(q.codes, q.scales.view(torch.uint8), q.tensor_scale, "fp8_e4m3", "mx", [4, 64])
    with pytest.raises(ValueError, match=r"^scaling: unknown"):
        torch.ops.photonic.dequantize(q.codes, q.scales, q.tensor_scale, "fp8_e4m3", "mx2", [4, 64])

"""Peer libraries as oracles: torchao (MX FLOOR/RCEIL, NVFP4, float8 block scaling) and gfloat.

Both come with the test extra (``pip install -e ".[test]"``). Without one, its tests skip and
say what to install; with ``TORCH_PHOTONIC_REQUIRE_ORACLES=1`` (set by ``.ci/run``) they fail
instead, so CI never passes without its oracles. A module missing inside an installed peer (an
API that moved) always fails.
"""
import importlib
import os

import pytest
import torch

import torch_photonic as tp

pytestmark = pytest.mark.filterwarnings("ignore")  # the peers' own deprecation warnings

REQUIRE_ORACLES = os.environ.get("TORCH_PHOTONIC_REQUIRE_ORACLES", "") == "1"
INSTALL = {"torchao": "torchao==0.18.0", "gfloat": "gfloat==0.5.2"}


def oracle(module: str):
    """Imports ``module`` of a peer oracle; skips (fails where oracles are required) only when
    the peer package itself is not installed."""
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != package:
            raise
        why = (f"{package} is the peer oracle for this check and is not installed "
               f"(pip install -e \".[test]\", which installs {INSTALL[package]})")
        if REQUIRE_ORACLES:
            pytest.fail(f"{why}; TORCH_PHOTONIC_REQUIRE_ORACLES=1 requires it", pytrace=False)
        pytest.skip(why)


EL = {"fp8_e4m3": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2", "fp4_e2m1": "float4_e2m1fn_x2"}


def _data(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g) * torch.exp2(torch.randint(-8, 8, shape, generator=g).float())
    x[0, :32] = 0.0                # a zero block
    x[1, 32:64] = 2.5              # an all-equal block
    x[2, 5] = 3000.0               # one huge value
    x[3, 64:96] *= 1e-30           # tiny amax
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rule", ["floor", "rceil"])
@pytest.mark.parametrize("fmt", list(EL))
def test_torchao_to_mx(fmt, rule, dtype):
    mx = oracle("torchao.prototype.mx_formats.mx_tensor")
    from torchao.prototype.mx_formats.config import ScaleCalculationMode
    mode = ScaleCalculationMode.FLOOR if rule == "floor" else ScaleCalculationMode.RCEIL
    x = _data((8, 256), 1 + len(fmt) + len(rule), dtype)
    scale, data = mx.to_mx(x, getattr(torch, EL[fmt]), 32, scaling_mode=mode)
    q = tp.quantize(x, fmt, "mx", rule)
    assert torch.equal(q.scales.view(torch.uint8), scale.view(torch.uint8))
    assert torch.equal(q.codes, data.view(torch.uint8))
    ref = mx.MXTensor.to_mx(x.float(), getattr(torch, EL[fmt]), block_size=32, scaling_mode=mode)
    assert torch.equal(tp.fake_quantize(x.float(), fmt, "mx", rule), ref.dequantize(torch.float32))


@pytest.mark.parametrize("shape", [(16, 64), (2, 8, 48)])
def test_torchao_nvfp4(shape):
    nv = oracle("torchao.prototype.mx_formats.nvfp4_tensor")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(*shape, generator=g) * torch.exp2(torch.randint(-6, 6, shape, generator=g).float())
    x.view(-1, shape[-1])[1, :16] = 0.0
    t = nv.NVFP4Tensor.to_nvfp4(x, per_tensor_scale=nv.per_tensor_amax_to_scale(x.abs().amax()))
    q = tp.quantize(x, "fp4_e2m1", "nvfp4")
    assert torch.equal(q.codes, t.qdata.view(torch.uint8))
    assert torch.equal(q.scales.view(torch.uint8), t.scale.view(torch.uint8).reshape(q.scales.shape))
    assert torch.equal(q.tensor_scale, t.per_tensor_scale.reshape(()))
    assert torch.equal(tp.fake_quantize(x, "fp4_e2m1", "nvfp4"), t.dequantize(torch.float32))


def test_torchao_fp4_cast_all_bf16():
    kernels = oracle("torchao.prototype.mx_formats.kernels")
    x = torch.arange(65536, dtype=torch.int32).to(torch.int16).view(torch.bfloat16).float()
    x = x[~torch.isnan(x)]
    want = kernels.pack_uint4(kernels.f32_to_f4_unpacked(x.reshape(1, -1)[:, : x.numel() // 2 * 2]))
    got = tp.quantize(x[: x.numel() // 2 * 2], "fp4_e2m1").codes
    assert torch.equal(got, want.flatten())


@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
def test_torchao_float8_block128(fmt, weight):
    qp = oracle("torchao.quantization.quant_primitives")
    dt = torch.float8_e4m3fn if fmt == "fp8_e4m3" else torch.float8_e5m2
    g = torch.Generator().manual_seed(11)
    x = torch.randn(256, 384, generator=g) * torch.exp2(torch.randint(-5, 5, (256, 384), generator=g).float())
    bs = [128, 128] if weight else [1, 128]
    scale = qp._choose_scale_float8(x, bs, dt)
    codes = qp._quantize_affine_float8(x, scale, dt)
    q = tp.quantize(x, fmt, "block128", weight=weight)
    assert torch.equal(q.scales, scale.reshape(q.scales.shape))
    assert torch.equal(q.codes, codes.view(torch.uint8))


@pytest.mark.parametrize("fmt", list(EL))
def test_gfloat_mx_floor(fmt):
    gfloat = oracle("gfloat")
    import numpy as np
    from gfloat import formats as gf
    fi = {"fp8_e4m3": gf.format_info_mxfp8_e4m3, "fp8_e5m2": gf.format_info_mxfp8_e5m2,
          "fp4_e2m1": gf.format_info_mxfp4_e2m1}[fmt]
    x = _data((4, 128), 21)
    x[3, 64:96] = 1.0  # keep gfloat away from subnormal-range amax (its float64 pow2 differs there)
    y = tp.fake_quantize(x, fmt, "mx", "floor")
    for r in range(x.shape[0]):
        for j in range(0, 128, 32):
            blk = x[r, j:j + 32].double().numpy()
            want = np.asarray(gfloat.quantize_block(fi, blk, gfloat.compute_scale_amax))
            assert np.array_equal(y[r, j:j + 32].double().numpy(), want), (r, j)

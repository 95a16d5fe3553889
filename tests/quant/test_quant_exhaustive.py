"""Every bf16 and fp16 bit pattern through scaling='none' matches torch 2.13's float8 casts."""
import math

import pytest
import torch

import reference_quant as R
import torch_photonic as tp

ALL16 = torch.arange(65536, dtype=torch.int32).to(torch.int16)
SOURCES = {"bf16": ALL16.view(torch.bfloat16), "fp16": ALL16.view(torch.float16)}
TORCH_DT = {"fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


@pytest.mark.parametrize("src", list(SOURCES))
@pytest.mark.parametrize("fmt", list(TORCH_DT))
def test_codes_match_torch_cast(src, fmt):
    x = SOURCES[src]
    want = x.to(TORCH_DT[fmt]).view(torch.uint8)
    for inp in (x, x.float()):
        q = tp.quantize(inp, fmt)
        assert q.codes.dtype == torch.uint8 and q.codes.shape == x.shape
        mism = (q.codes != want).nonzero().flatten()
        assert mism.numel() == 0, f"{mism.numel()} mismatches, first input bits {ALL16[mism[:5]].tolist()}"


@pytest.mark.parametrize("src", list(SOURCES))
@pytest.mark.parametrize("fmt", list(TORCH_DT))
def test_values_match_torch_roundtrip(src, fmt):
    x = SOURCES[src].float()
    want = x.to(TORCH_DT[fmt]).float()
    got = tp.fake_quantize(x, fmt)
    nan = torch.isnan(want)
    assert torch.equal(torch.isnan(got), nan)
    assert torch.equal(got[~nan].view(torch.int32), want[~nan].view(torch.int32))  # -0.0 included
    assert torch.equal(torch.signbit(got[nan]), torch.signbit(x[nan]))
    deq = tp.dequantize(tp.quantize(x, fmt))
    assert torch.equal(deq.view(torch.int32), got.view(torch.int32))


@pytest.mark.parametrize("fmt", list(TORCH_DT))
def test_all_codes_decode_like_torch(fmt):
    codes = torch.arange(256, dtype=torch.uint8)
    want = codes.view(TORCH_DT[fmt]).float()
    q = tp.QuantizedTensor(codes, torch.empty(0), torch.tensor(1.0), fmt, "none", torch.Size([256]))
    got = tp.dequantize(q)
    nan = torch.isnan(want)
    assert torch.equal(torch.isnan(got), nan)
    assert torch.equal(got[~nan].view(torch.int32), want[~nan].view(torch.int32))


def test_fp4_all_bf16_patterns_match_reference():
    x = SOURCES["bf16"].float()
    x = x[~torch.isnan(x)]
    q = tp.quantize(x, "fp4_e2m1")
    fmt = R.FMT["fp4_e2m1"]
    want = [fmt.encode(v, saturate=True) for v in x.tolist()]
    packed = [want[i] | (want[i + 1] << 4) for i in range(0, len(want) - 1, 2)]
    if len(want) % 2:
        packed.append(want[-1])
    assert q.codes.tolist() == packed
    # spot checks of the grid: ties go to the even code, saturation at 6
    t = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, math.inf, -math.inf, -0.0, 1e-45])
    assert tp.fake_quantize(t, "fp4_e2m1").tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, -6.0, -0.0, 0.0]

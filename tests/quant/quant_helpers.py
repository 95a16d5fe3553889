"""Shared helpers of the quantizer tests."""
from __future__ import annotations

import math

import torch

import reference_quant as R

CASES = [
    (f, s, rule, w)
    for f in R.FORMATS
    for s in R.SCALINGS
    if not (s == "nvfp4" and f != "fp4_e2m1")
    for rule in (("floor", "rceil") if s == "mx" else ("floor",))
    for w in ((False, True) if s.startswith("block128") else (False,))
]


def case_id(c):
    f, s, rule, w = c
    return f"{f}-{s}" + (f"-{rule}" if s == "mx" else "") + ("-w" if w else "")


def f32_bits_list(t: torch.Tensor):
    """Bit patterns of a float32 tensor, with every NaN mapped to ('nan', sign)."""
    t = t.detach().to(torch.float32).contiguous().flatten()
    out = []
    for b, v in zip(t.view(torch.int32).tolist(), t.tolist()):
        out.append(("nan", b < 0) if math.isnan(v) else b & 0xFFFFFFFF)
    return out


def ref_bits_list(vals):
    return [("nan", math.copysign(1.0, v) < 0) if math.isnan(v) else R.f32_bits(v) for v in vals]


def scales_list(t: torch.Tensor):
    if t.dtype == torch.float32:
        return [R.f32_bits(v) for v in t.flatten().tolist()]
    return t.view(torch.uint8).flatten().tolist()


def assert_matches_reference(tp, x, fmt, scaling, rule="floor", weight=False):
    xf = x.to(torch.float32)
    codes, scales, ts, deq = R.quantize(xf.flatten().tolist(), tuple(x.shape), fmt, scaling, rule, weight)
    q = tp.quantize(x, fmt, scaling, rule, weight)
    got = q.codes.flatten().tolist()
    if got != codes:
        bad = [i for i, (a, b) in enumerate(zip(got, codes)) if a != b][:5]
        raise AssertionError(f"codes differ at {bad}: got {[got[i] for i in bad]} want {[codes[i] for i in bad]}")
    assert scales_list(q.scales) == [R.f32_bits(v) for v in scales] if q.scales.dtype == torch.float32 \
        else scales_list(q.scales) == scales, "scales differ"
    assert R.f32_bits(float(q.tensor_scale)) == R.f32_bits(ts)
    want = ref_bits_list(deq)
    assert f32_bits_list(tp.dequantize(q)) == want, "dequantized values differ"
    y = tp.fake_quantize(x, fmt, scaling, rule, weight)
    assert y.dtype == x.dtype and y.shape == x.shape
    if x.dtype == torch.float32:
        assert f32_bits_list(y) == want, "fake_quantize differs from the reference"
    return q

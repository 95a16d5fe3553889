"""Behaviour pinned where a one-token change to the source went unnoticed
(``python bench/mutation.py``).

Guards: nn/linear.py and nn/experts.py (what the layers meter and check), and the quantization
wrappers of quant/ops.py (their argument checks, defaults and straight-through gradients).
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

import torch_photonic as tp
from torch_photonic.energy.events import Recorder
from torch_photonic.quant import QuantizedTensor, dequantize, fake_quantize, quantize


# =============================================================================== nn/linear.py
def test_linear_on_a_device_input_runs_on_the_host_and_returns_to_the_device():
    torch.manual_seed(0)
    layer = tp.convert(torch.nn.Linear(8, 4), "ideal")
    x = torch.randn(2, 3, 8)
    with torch.no_grad(), Recorder() as rec:
        y = layer(x.to("photonic"))
    assert y.device.type == "photonic" and y.shape == (2, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(y.cpu(), layer(x))
    assert [(p["m"], p["k"], p["n"]) for p in rec.of("mvm")] == [(6, 8, 4)]


# ============================================================================== nn/experts.py
def _experts(config="glass-pcm-200mm", e=4, h=16, i=8):
    torch.manual_seed(0)
    gu = torch.nn.Parameter(torch.randn(e, 2 * i, h))
    dn = torch.nn.Parameter(torch.randn(e, h, i))
    return tp.PhotonicExperts(gu, dn, torch.nn.functional.silu, config=config, name="moe.experts")


def _route():
    idx = torch.tensor([[0, 1], [1, 3], [3, 0], [0, 3], [1, 0]])
    return torch.randn(5, 16), idx, torch.rand(5, 2)


def test_experts_meter_each_routed_expert_once_per_projection():
    pe = _experts()
    x, idx, w = _route()
    with torch.no_grad(), Recorder() as rec, tp.meter() as m:
        pe(x, idx, w)
    # tokens per expert: 0 -> 4, 1 -> 3, 2 -> 0 (not run, not charged), 3 -> 3
    got = sorted((p["expert"], p["m"], p["k"], p["n"]) for p in rec.of("mvm")
                 if p["op"] != "bound_management")
    assert got == sorted([(0, 4, 16, 16), (1, 3, 16, 16), (3, 3, 16, 16),
                          (0, 4, 8, 16), (1, 3, 8, 16), (3, 3, 8, 16)])
    assert m.macs >= 10 * (16 * 16 + 8 * 16)


def test_experts_check_faithfulness_only_until_measured():
    pe = _experts()
    x, idx, w = _route()
    with torch.no_grad():
        pe(x, idx, w)
    assert pe.calibration_error is not None and pe.calibration_error > 0
    pe.calibration_error = 0.0            # already measured: later forwards do not re-check
    with torch.no_grad():
        pe(x, idx, w)
    assert pe.calibration_error == 0.0


# ============================================================================== quant/ops.py
def test_quantized_tensor_is_frozen_with_documented_defaults():
    x = torch.linspace(-2, 2, 64)
    q = quantize(x, "fp8_e4m3", "mx")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.format = "fp4_e2m1"
    bare = QuantizedTensor(q.codes, q.scales, q.tensor_scale, "fp8_e4m3", "mx", x.shape)
    assert bare.scale_rule == "floor" and bare.weight is False
    assert torch.equal(bare.dequantize(), q.dequantize())


def test_quant_weight_blocks_need_two_dims_and_are_off_by_default():
    v = torch.linspace(-3, 3, 300)
    m = v.reshape(3, 100)
    for scaling in ("block128", "block128_ue8m0"):
        # 1x128 tiles by default: a vector is fine
        assert quantize(v, "fp8_e4m3", scaling).weight is False
        assert fake_quantize(v, "fp8_e4m3", scaling).shape == v.shape
        with pytest.raises(ValueError, match="weight: 128x128"):
            quantize(v, "fp8_e4m3", scaling, weight=True)
        with pytest.raises(ValueError, match="weight: 128x128"):
            fake_quantize(v, "fp8_e4m3", scaling, weight=True)
        # a matrix takes 128x128 weight blocks
        q = quantize(m, "fp8_e4m3", scaling, weight=True)
        assert q.weight is True
        assert torch.equal(q.dequantize(), fake_quantize(m, "fp8_e4m3", scaling, weight=True))


def test_quant_float64_beyond_float32_is_an_error_only_when_scaled():
    x = torch.tensor([1.0, -2.0, 1e39], dtype=torch.float64)
    for scaling in ("tensor", "channel", "mx"):
        with pytest.raises(ValueError, match="overflow float32"):
            fake_quantize(x, "fp8_e4m3", scaling)
        with pytest.raises(ValueError, match="overflow float32"):
            quantize(x, "fp8_e4m3", scaling)
    y = fake_quantize(x, "fp8_e4m3", "none")             # a plain cast saturates
    assert y[2].item() == 448.0 and y.dtype == torch.float64
    ok = torch.tensor([1.0, -2.0, 3e38], dtype=torch.float64)     # within float32
    assert torch.isfinite(fake_quantize(ok, "fp8_e4m3", "tensor")).all()
    assert fake_quantize(x[:0], "fp8_e4m3", "tensor").shape == (0,)
    meta = torch.empty(3, dtype=torch.float64, device="meta")
    assert fake_quantize(meta, "fp8_e4m3", "tensor").shape == (3,)
    assert fake_quantize(x.float()[:2], "fp8_e4m3", "tensor").dtype == torch.float32


def test_dequantize_needs_a_floating_dtype():
    q = quantize(torch.linspace(-1, 1, 32), "fp8_e4m3", "tensor")
    for bad in (torch.int32, torch.float8_e4m3fn, "float32"):
        with pytest.raises(TypeError, match="dtype"):
            dequantize(q, bad)
    assert dequantize(q, torch.float16).dtype == torch.float16


@pytest.mark.parametrize("fmt, top, below", [("fp8_e4m3", 448.0, 416.0),
                                             ("fp8_e5m2", 57344.0, 49152.0),
                                             ("fp4_e2m1", 6.0, 4.0)])
def test_fake_quantize_gradient_passes_below_the_rounding_threshold(fmt, top, below):
    # the plain cast: the threshold is the top value plus half the step below it
    thr = top + (top - below) / 2
    x = torch.tensor([0.5, -0.5 * thr, thr * (1 - 1e-3), thr, -thr, thr * 1.001, 2 * thr],
                     requires_grad=True)
    fake_quantize(x, fmt, "none").sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_fake_quantize_gradient_is_the_identity_in_range_with_scales():
    x = torch.linspace(-3, 3, 64, requires_grad=True)
    for scaling in ("tensor", "mx", "block128"):
        x.grad = None
        fake_quantize(x, "fp8_e4m3", scaling).sum().backward()
        assert torch.equal(x.grad, torch.ones_like(x))
    # no gradient asked for: the plain op, no autograd graph
    with torch.no_grad():
        assert fake_quantize(x, "fp8_e4m3", "mx").grad_fn is None
    assert fake_quantize(x.detach(), "fp8_e4m3", "mx").grad_fn is None

"""The quantizer's Python entry points at their boundaries: gradients pass straight through
``fake_quantize`` (zero where an element saturates), ``quantize`` and ``dequantize`` refuse what
they cannot carry a gradient through, and a float64 value too large for float32 is named as
such instead of as NaN/Inf."""
import pytest
import torch

import torch_photonic as tp

CASES = [("fp8_e4m3", "none"), ("fp8_e4m3", "tensor"), ("fp8_e4m3", "channel"),
         ("fp8_e4m3", "mx"), ("fp8_e5m2", "block128"), ("fp8_e5m2", "none"),
         ("fp4_e2m1", "nvfp4"), ("fp4_e2m1", "mx"), ("fp4_e2m1", "block128_ue8m0")]


def _identity_grad(x, upstream):
    """torch autograd of the identity: what straight-through gives where nothing clips."""
    xi = x.detach().clone().requires_grad_()
    (xi * upstream).sum().backward()
    return xi.grad


@pytest.mark.parametrize("fmt,scaling", CASES)
def test_fake_quantize_gradient_is_straight_through_in_range(fmt, scaling):
    torch.manual_seed(0)
    x = (torch.randn(4, 96) * 3).requires_grad_()
    up = torch.randn(4, 96)
    y = tp.fake_quantize(x, fmt, scaling)
    assert y.requires_grad and y.grad_fn is not None
    (y * up).sum().backward()
    if scaling in ("tensor", "channel", "nvfp4", "block128_ue8m0") or (
            scaling == "none" and x.detach().abs().max() < 6):
        # scales from the absolute maximum never clip: the identity's gradient everywhere
        assert torch.equal(x.grad, _identity_grad(x, up))
    else:
        # elements pass or stop, nothing in between; in range they pass
        passed = x.grad == up
        assert (passed | (x.grad == 0)).all()
        assert passed.float().mean() > 0.9


def test_fake_quantize_gradient_of_sum_is_one_where_not_clipped():
    x = torch.tensor([0.0, 1.0, -2.5, 300.0, 448.0, 460.0, -470.0, 1000.0, float("inf"),
                      float("nan")], requires_grad=True)
    y = tp.fake_quantize(x, "fp8_e4m3", "none")
    y.sum().backward()
    # e4m3 saturates at 448; values that round to 448 (below 464) pass, the rest clip
    assert x.grad.tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]


def test_fake_quantize_gradient_stops_where_e5m2_overflows():
    x = torch.tensor([57344.0, 60000.0, 70000.0, -1e6], requires_grad=True)
    tp.fake_quantize(x, "fp8_e5m2", "none").sum().backward()
    assert x.grad.tolist() == [1, 1, 0, 0]


def test_fake_quantize_gradient_keeps_dtype_and_shape():
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        x = torch.randn(3, 40, dtype=dtype, requires_grad=True)
        tp.fake_quantize(x, "fp8_e4m3", "mx").sum().backward()
        assert x.grad.dtype == dtype and x.grad.shape == x.shape
    s = torch.tensor(2.0, requires_grad=True)
    tp.fake_quantize(s, "fp4_e2m1", "tensor").backward()
    assert s.grad.item() == 1.0
    e = torch.empty(0, 8, requires_grad=True)
    tp.fake_quantize(e, "fp8_e4m3", "mx").sum().backward()
    assert e.grad.shape == (0, 8)


def test_fake_quantize_without_grad_is_the_plain_op():
    x = torch.randn(4, 64)
    assert not tp.fake_quantize(x, "fp8_e4m3", "mx").requires_grad
    xg = x.clone().requires_grad_()
    with torch.no_grad():
        y = tp.fake_quantize(xg, "fp8_e4m3", "mx")
    assert not y.requires_grad
    assert torch.equal(y, tp.fake_quantize(x, "fp8_e4m3", "mx"))
    assert torch.equal(tp.fake_quantize(xg, "fp8_e4m3", "mx").detach(), y)


def test_quantize_refuses_a_tensor_that_requires_grad():
    x = torch.randn(4, 64, requires_grad=True)
    with pytest.raises(ValueError, match=r"^x: requires grad.*fake_quantize.*detach"):
        tp.quantize(x, "fp8_e4m3", "mx")
    q = tp.quantize(x.detach(), "fp8_e4m3", "mx")
    with torch.no_grad():
        q2 = tp.quantize(x, "fp8_e4m3", "mx")
    assert torch.equal(q.codes, q2.codes)


def test_dequantize_output_carries_no_grad_and_refuses_scales_that_require_grad():
    x = torch.randn(4, 64)
    q = tp.quantize(x, "fp8_e4m3", "tensor")
    assert not tp.dequantize(q).requires_grad
    bad = tp.QuantizedTensor(q.codes, q.scales.clone().requires_grad_(), q.tensor_scale,
                             q.format, q.scaling, q.shape)
    with pytest.raises(ValueError, match=r"^q\.scales: requires grad"):
        tp.dequantize(bad)
    with torch.no_grad():
        assert torch.equal(tp.dequantize(bad), tp.dequantize(q))


# ---- float64 beyond float32 ------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["fake_quantize", "quantize"])
@pytest.mark.parametrize("scaling", ["tensor", "channel", "mx", "block128"])
def test_float64_overflowing_float32_is_named(fn, scaling):
    x = torch.tensor([[1e300, 1.0], [2.0, 3.0]], dtype=torch.float64)
    with pytest.raises(ValueError) as e:
        getattr(tp, fn)(x, "fp8_e4m3", scaling)
    msg = str(e.value)
    assert msg.startswith("x: ") and "overflow float32" in msg and "1e+300" in msg
    assert "NaN" not in msg


def test_float64_just_inside_float32_is_quantized():
    big = float(torch.finfo(torch.float32).max)
    y = tp.fake_quantize(torch.tensor([big, 1.0], dtype=torch.float64), "fp8_e4m3", "tensor")
    assert torch.isfinite(y).all()


def test_real_nan_or_inf_still_says_so():
    for v in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="NaN or Inf"):
            tp.fake_quantize(torch.tensor([v, 1.0], dtype=torch.float64), "fp8_e4m3", "tensor")


def test_float64_plain_cast_saturates_as_before():
    y = tp.fake_quantize(torch.tensor([1e300, -1e300, 1.0], dtype=torch.float64), "fp8_e4m3")
    assert y.tolist() == [448.0, -448.0, 1.0]

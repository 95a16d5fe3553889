"""``F.scaled_dot_product_attention`` on the photonic device (torch_photonic/device/attention.py).

Where attention's products run on the host ("exact", dynamic.mode "electronic"), the CPU's fused
flash kernel runs on host aliases; the meter sees the same products as on the math path. With
dynamic.mode "optical" the math path stays, its products on the optical kernel.
"""
import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import torch_photonic as tp
from torch_photonic.device.attention import runs_on_host
from torch_photonic.energy import events
from torch_photonic.nn.lifecycle import clear_programmed

FUSED_OP = "aten::_scaled_dot_product_flash_attention_for_cpu"
FUSED_BACKWARD_OP = "aten::_scaled_dot_product_flash_attention_for_cpu_backward"


class Recorder(events.Recorder):
    def products(self):
        return [(p["module"], p["op"], p["m"], p["k"], p["n"], p["batch"], p["dynamic"], p["config"])
                for k, p in self.events if k == "mvm"]


@pytest.fixture(autouse=True)
def _fresh_states():
    clear_programmed()
    yield
    clear_programmed()


def _case(name, seed=0):
    """(query, key, value, sdpa kwargs) on the CPU."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    B, H, L, S, E = 2, 4, 7, 11, 16
    if name == "plain":
        return r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), {}
    if name == "causal":
        return r(B, H, L, E), r(B, H, L, E), r(B, H, L, E), dict(is_causal=True)
    if name == "causal_cross":  # L != S: the causal mask is the top-left one
        return r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), dict(is_causal=True)
    if name == "float_mask":
        return r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), dict(attn_mask=r(B, 1, L, S))
    if name == "bool_mask":
        mask = torch.rand(L, S, generator=g) > 0.3
        mask[:, 0] = True  # no fully masked row
        return r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), dict(attn_mask=mask)
    if name == "gqa":
        return r(B, H, L, E), r(B, H // 2, S, E), r(B, H // 2, S, E), dict(enable_gqa=True)
    if name == "gqa_causal":
        return r(B, H, L, E), r(B, 1, L, E), r(B, 1, L, E), dict(enable_gqa=True, is_causal=True)
    if name == "scale":
        return r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), dict(scale=0.3, dropout_p=0.0)
    if name == "long":  # more than one block of the flash kernel along L and S
        return r(1, 2, 300, 64), r(1, 2, 300, 64), r(1, 2, 300, 64), dict(is_causal=True)
    raise KeyError(name)


CASES = ["plain", "causal", "causal_cross", "float_mask", "bool_mask", "gqa", "gqa_causal", "scale", "long"]


def _dev(t, requires_grad=False):
    d = t.to("photonic")
    return d.requires_grad_() if requires_grad else d


def _run_device(q, k, v, kw, requires_grad=(False, False, False)):
    qd, kd, vd = (_dev(t, rg) for t, rg in zip((q, k, v), requires_grad))
    kw = {key: (_dev(val) if isinstance(val, torch.Tensor) else val) for key, val in kw.items()}
    return qd, kd, vd, F.scaled_dot_product_attention(qd, kd, vd, **kw)


# ---- which path runs ---------------------------------------------------------------------------
def test_runs_on_host_follows_the_dynamic_mode():
    assert runs_on_host("exact")
    assert runs_on_host(tp.preset("ideal"))
    assert runs_on_host(tp.preset("glass-pcm-200mm"))
    assert not runs_on_host(tp.preset("glass-pcm-200mm", dynamic__mode="optical"))


def test_exact_mode_runs_the_fused_kernel_on_the_host(exact_mode):
    q, k, v, kw = _case("causal")
    with torch.photonic.count_host_ops() as ops:
        _run_device(q, k, v, kw)
    assert ops[FUSED_OP]["calls"] == 1
    assert "aten::_softmax" not in ops


def test_the_cpu_choice_is_followed(exact_mode):
    q, k, v, kw = _case("plain")
    with sdpa_kernel([SDPBackend.MATH]), torch.photonic.count_host_ops() as ops:
        *_, out = _run_device(q, k, v, kw)
    assert FUSED_OP not in ops and "aten::_softmax" in ops
    with sdpa_kernel([SDPBackend.MATH]):
        ref = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out.cpu(), ref)
    # shapes the CPU's flash kernel does not take (3-D operands, head dims that differ) run the math path
    q3, k3, v3 = q[0], k[0], v[0]
    with torch.photonic.count_host_ops() as ops:
        out3 = F.scaled_dot_product_attention(_dev(q3), _dev(k3), _dev(v3))
    assert FUSED_OP not in ops
    torch.testing.assert_close(out3.cpu(), F.scaled_dot_product_attention(q3, k3, v3))
    v_wide = torch.randn(*v.shape[:-1], 24)
    with torch.photonic.count_host_ops() as ops:
        out_wide = F.scaled_dot_product_attention(_dev(q), _dev(k), _dev(v_wide))
    assert FUSED_OP not in ops
    torch.testing.assert_close(out_wide.cpu(), F.scaled_dot_product_attention(q, k, v_wide))


# ---- exact mode: the CPU's own result ------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_exact_mode_equals_cpu(exact_mode, name):
    q, k, v, kw = _case(name)
    *_, out = _run_device(q, k, v, kw)
    assert out.device.type == "photonic" and out.shape == q.shape[:-1] + v.shape[-1:]
    assert torch.equal(out.cpu(), F.scaled_dot_product_attention(q, k, v, **kw))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_exact_mode_equals_cpu_other_dtypes(exact_mode, dtype):
    q, k, v, kw = _case("gqa_causal")
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    *_, out = _run_device(q, k, v, kw)
    assert out.dtype == dtype
    assert torch.equal(out.cpu(), F.scaled_dot_product_attention(q, k, v, **kw))


def test_exact_mode_inference_mode(exact_mode):
    q, k, v, kw = _case("gqa")
    with torch.inference_mode():
        *_, out = _run_device(q, k, v, kw)
    assert torch.equal(out.cpu(), F.scaled_dot_product_attention(q, k, v, **kw))


def test_non_contiguous_operands(exact_mode):
    # the layout attention layers hand over: [B, L, H, E] transposed to [B, H, L, E]
    q, k, v = (torch.randn(2, 9, 4, 16) for _ in range(3))
    qd, kd, vd = (_dev(t).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(qd, kd, vd, is_causal=True)
    ref = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
    assert torch.equal(out.cpu(), ref)


def test_dropout_runs_the_math_path(exact_mode):
    q, k, v, _ = _case("plain")
    with torch.photonic.count_host_ops() as ops:
        out = F.scaled_dot_product_attention(_dev(q), _dev(k), _dev(v), dropout_p=0.5)
    assert FUSED_OP not in ops  # as on the CPU: its flash kernel takes no dropout
    assert out.shape == q.shape and torch.isfinite(out.cpu()).all()


# ---- backward --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["plain", "causal", "float_mask", "bool_mask", "gqa", "gqa_causal", "long"])
def test_exact_mode_backward_equals_cpu(exact_mode, name):
    q, k, v, kw = _case(name)
    qd, kd, vd, out = _run_device(q, k, v, kw, requires_grad=(True, True, True))
    assert type(out.grad_fn).__name__ == "ScaledDotProductFusedAttentionOverrideableBackward0"
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    with torch.photonic.count_host_ops() as ops:
        out.backward(g.to("photonic"))
    assert ops[FUSED_BACKWARD_OP]["calls"] == 1

    qc, kc, vc = (t.clone().requires_grad_() for t in (q, k, v))
    ref = F.scaled_dot_product_attention(qc, kc, vc, **kw)
    ref.backward(g)
    assert torch.equal(out.detach().cpu(), ref.detach())
    for dev, cpu in ((qd, qc), (kd, kc), (vd, vc)):
        assert dev.grad.device.type == "photonic" and dev.grad.shape == dev.shape
        assert torch.equal(dev.grad.cpu(), cpu.grad)


def test_backward_with_some_inputs_requiring_grad(exact_mode):
    q, k, v, kw = _case("gqa_causal")
    qd, kd, vd, out = _run_device(q, k, v, kw, requires_grad=(False, True, False))
    out.sum().backward()
    kc = k.clone().requires_grad_()
    F.scaled_dot_product_attention(q, kc, v, **kw).sum().backward()
    assert qd.grad is None and vd.grad is None
    torch.testing.assert_close(kd.grad.cpu(), kc.grad)


def test_a_mask_requiring_grad_takes_the_math_path(exact_mode):
    q, k, v, kw = _case("float_mask")
    mask = kw["attn_mask"]
    md = _dev(mask, True)
    qd = _dev(q, True)
    with torch.photonic.count_host_ops() as ops:
        out = F.scaled_dot_product_attention(qd, _dev(k), _dev(v), attn_mask=md)
    assert FUSED_OP not in ops
    out.sum().backward()
    mc, qc = mask.clone().requires_grad_(), q.clone().requires_grad_()
    F.scaled_dot_product_attention(qc, k, v, attn_mask=mc).sum().backward()
    torch.testing.assert_close(md.grad.cpu(), mc.grad)
    torch.testing.assert_close(qd.grad.cpu(), qc.grad)


def test_gradcheck_double(exact_mode):
    q, k, v, kw = _case("gqa_causal")
    args = [t[:1, :, :5, :4].double().to("photonic").requires_grad_() for t in (q, k, v)]

    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5)


# ---- the meter: the math path's products ---------------------------------------------------------
def _products(cfg, q, k, v, kw, requires_grad, math):
    backends = [SDPBackend.MATH] if math else [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]
    with torch.photonic.set_config(cfg), sdpa_kernel(backends):
        qd, kd, vd = (_dev(t, rg) for t, rg in zip((q, k, v), requires_grad))
        kwd = {key: (_dev(val) if isinstance(val, torch.Tensor) else val) for key, val in kw.items()}
        with Recorder() as fwd, torch.photonic.count_host_ops() as ops:
            out = F.scaled_dot_product_attention(qd, kd, vd, **kwd)
        assert (FUSED_OP in ops) != math
        with Recorder() as bwd:
            if any(requires_grad):
                out.sum().backward()
    grads = [t.grad.cpu() if t.grad is not None else None for t in (qd, kd, vd)]
    return fwd.products(), bwd.products(), out.detach().cpu(), grads


@pytest.mark.parametrize("preset", ["ideal", "glass-pcm-200mm"])
@pytest.mark.parametrize("name", ["plain", "causal", "causal_cross", "float_mask", "bool_mask", "gqa", "gqa_causal"])
def test_meter_sees_the_products_of_the_math_path(preset, name):
    cfg = tp.preset(preset)
    q, k, v, kw = _case(name)
    fused_fwd, _, fused_out, _ = _products(cfg, q, k, v, kw, (False, False, False), math=False)
    math_fwd, _, math_out, _ = _products(cfg, q, k, v, kw, (False, False, False), math=True)
    assert fused_fwd == math_fwd and len(fused_fwd) == 2
    B, H, L, E = q.shape
    S, Ev = k.shape[-2], v.shape[-1]
    assert [p[2:7] for p in fused_fwd] == [(L, E, S, B * H, True), (L, S, Ev, B * H, True)]
    assert all(p[0] == "device.attention" and p[1] == "bmm" and p[7] is cfg for p in fused_fwd)
    torch.testing.assert_close(fused_out, math_out)
    torch.testing.assert_close(fused_out, F.scaled_dot_product_attention(q, k, v, **kw))


@pytest.mark.parametrize("requires_grad", [(True, True, True), (True, False, False), (False, True, False),
                                           (False, False, True), (True, False, True)])
@pytest.mark.parametrize("name", ["causal", "gqa", "float_mask"])
def test_meter_sees_the_backward_products_of_the_math_path(name, requires_grad):
    cfg = tp.preset("ideal")
    q, k, v, kw = _case(name)
    fused_fwd, fused_bwd, fused_out, fused_grads = _products(cfg, q, k, v, kw, requires_grad, math=False)
    math_fwd, math_bwd, math_out, math_grads = _products(cfg, q, k, v, kw, requires_grad, math=True)
    assert fused_fwd == math_fwd
    assert fused_bwd == math_bwd and len(fused_bwd) >= 1
    torch.testing.assert_close(fused_out, math_out)
    for got, want in zip(fused_grads, math_grads):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want)


def test_meter_totals_match_the_math_path():
    cfg = tp.preset("glass-pcm-200mm")
    q, k, v, kw = _case("gqa_causal")
    rows = {}
    for math in (False, True):
        with torch.photonic.set_config(cfg), sdpa_kernel([SDPBackend.MATH] if math else
                                                         [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
            with tp.meter(cfg) as m:
                _run_device(q, k, v, kw)
        rows[math] = [(r["op"], r["calls"], r["macs"], r["total_joules"]) for r in m.per_layer()
                      if r["module"] == "device.attention"]
    assert rows[False] == rows[True] and rows[False]


def test_exact_mode_reports_no_products():
    q, k, v, kw = _case("causal")
    with torch.photonic.set_config("exact"), Recorder() as rec:
        _, _, _, out = _run_device(q, k, v, kw, requires_grad=(True, True, True))
        out.sum().backward()
    assert rec.products() == []


# ---- optical dynamic products: the math path ------------------------------------------------------
def test_optical_dynamic_mode_keeps_the_math_path(monkeypatch):
    from torch_photonic.optics import kernels

    calls = []
    mvm = kernels.mvm

    def counting_mvm(*args, **kwargs):
        calls.append(args[0].shape)
        return mvm(*args, **kwargs)

    monkeypatch.setattr(kernels, "mvm", counting_mvm)
    cfg = tp.preset("glass-pcm-200mm", dynamic__mode="optical")
    q, k, v, kw = _case("causal")
    q, k, v = (t.repeat(1, 1, 1, 4) for t in (q, k, v))  # E = 64: a fan-in the converters resolve
    with torch.photonic.set_config(cfg), Recorder() as rec, torch.photonic.count_host_ops() as ops:
        *_, out = _run_device(q, k, v, kw)
    assert FUSED_OP not in ops and "aten::_softmax" in ops
    B, H, L, E = q.shape
    assert len(calls) == 2 * B * H  # both products, one optical product per (batch, head)
    assert [p[2:7] for p in rec.products()] == [(L, E, L, B * H, True), (L, L, E, B * H, True)]
    ref = F.scaled_dot_product_attention(q, k, v, **kw)
    cos = F.cosine_similarity(out.cpu().flatten(), ref.flatten(), dim=0)
    assert 0.9 < cos < 1.0  # the optical kernel's converters and noise: close, not exact

"""torch.compile with the default backend (Inductor) on the photonic device.

Elementwise and reduction code comes from Inductor's C++ generator working on the device's host
memory; matrix products stay calls of the device's matmul entry, so in a hardware config they
still run on the optics and reach the energy meter.
"""
from __future__ import annotations

import collections
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_photonic as tp
from torch_photonic.energy import events

DEV = "photonic"


class _Sink:
    """Collects the ``mvm`` events of the device's products."""

    def __init__(self) -> None:
        self.mvm = []

    def on_event(self, kind, payload) -> None:
        if kind == "mvm":
            self.mvm.append((payload["op"], payload["m"], payload["k"], payload["n"], payload["dynamic"]))


def _products(fn):
    sink = _Sink()
    events.subscribe(sink)
    try:
        out = fn()
    finally:
        events.unsubscribe(sink)
    return out, collections.Counter(sink.mvm)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _tiny_encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
    # train(): no dropout to draw (p=0), and the encoder runs its layers op by op instead of the
    # fused inference kernel, whose products bypass the matmul entry (in eager mode too)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).train()


def test_inductor_transformer_exact_and_optical():
    torch.manual_seed(0)
    model = _tiny_encoder()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        ref = model(x)

    model.to(DEV)
    xd = x.to(DEV)
    compiled = torch.compile(model)  # the default backend: Inductor

    # exact: the compiled graph computes what the CPU computes
    with torch.photonic.set_config("exact"), torch.no_grad():
        y = compiled(xd)
    assert y.device.type == DEV
    torch.testing.assert_close(y.cpu(), ref, rtol=1e-4, atol=1e-5)

    # a hardware config: every product of the compiled graph reaches the device's handler,
    # the same products as in eager mode (static mm and dynamic attention bmm)
    with torch.photonic.set_config(tp.preset("ideal")), torch.no_grad():
        eager_out, eager_products = _products(lambda: model(xd))
        out, products = _products(lambda: compiled(xd))
    assert sum(products.values()) > 0
    assert any(dynamic for (_, _, _, _, dynamic) in products)
    assert any(not dynamic for (_, _, _, _, dynamic) in products)
    assert products == eager_products
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(out.cpu(), eager_out.cpu(), rtol=1e-5, atol=1e-5)


def test_inductor_backward():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 4))
    x = torch.randn(3, 8)
    model(x).pow(2).mean().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    model.to(DEV)
    with torch.photonic.set_config("exact"):
        torch.compile(model)(x.to(DEV)).pow(2).mean().backward()
    for p, g in zip(model.parameters(), ref_grads):
        assert p.grad is not None and p.grad.device.type == DEV
        torch.testing.assert_close(p.grad.cpu(), g, rtol=1e-4, atol=1e-5)


def test_inductor_generates_host_kernels_and_extern_products():
    from torch._inductor.utils import run_and_get_code

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 4)).to(DEV)
    x = torch.randn(3, 8, device=DEV)
    with torch.photonic.set_config("exact"), torch.no_grad():
        ref = model(x).cpu()
        with torch.photonic.count_host_ops() as stats:
            out, (code, *_) = run_and_get_code(torch.compile(model), x)
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-5, atol=1e-5)
    assert "cpp_fused" in code  # GELU/LayerNorm: generated C++ on the device's memory
    assert "extern_kernels.addmm" in code or "extern_kernels.mm" in code  # products: the aten ops
    assert "device='photonic'" in code
    assert not any("gelu" in op or "layer_norm" in op for op in stats), stats


def test_inductor_keeps_degenerate_products_on_the_device():
    # Inductor rewrites outer products and row-times-column products into pointwise code on
    # other devices; on this one they stay products of the matmul entry.
    torch.manual_seed(0)
    a, b = torch.randn(5, 1), torch.randn(1, 4)
    p, q = torch.randn(2, 5, 1), torch.randn(2, 1, 3)

    def fn(a, b, p, q):
        return (a @ b).relu(), torch.bmm(p, q)

    compiled = torch.compile(fn)
    args = [t.to(DEV) for t in (a, b, p, q)]
    with torch.photonic.set_config(tp.preset("ideal")):
        (mm, bmm), products = _products(lambda: compiled(*args))
    ops = {op for (op, *_rest) in products}
    assert {"mm", "bmm"} <= ops, products
    torch.testing.assert_close(mm.cpu(), (a @ b).relu(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bmm.cpu(), torch.bmm(p, q), rtol=1e-5, atol=1e-6)


def test_inductor_convolution_and_reductions():
    torch.manual_seed(0)
    x, w = torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3)

    def fn(x, w):
        y = F.conv2d(x, w, padding=1).relu()
        return F.max_pool2d(y, 2).softmax(-1), y.sum(dim=(2, 3)).argmax(1)

    with torch.photonic.set_config("exact"):
        out, idx = torch.compile(fn)(x.to(DEV), w.to(DEV))
    ref, ref_idx = fn(x, w)
    assert out.device.type == DEV
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-5, atol=1e-6)
    assert torch.equal(idx.cpu(), ref_idx)


def test_importing_the_package_does_not_import_inductor():
    code = ("import sys, torch_photonic; "
            "assert 'torch._dynamo' not in sys.modules and 'torch._inductor.compile_fx' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith(('torch._dynamo', 'torch._inductor')))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_failed_registration_names_the_working_backend():
    # In a PyTorch whose Inductor the registration does not fit, compiling on the device raises
    # an error naming backend="aot_eager".
    code = """
import warnings, torch, torch_photonic
from torch_photonic.device import compile as registration
def fails():
    raise AttributeError("no such Inductor hook")
registration.register_inductor = fails
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        torch.compile(lambda x: x.sin() * 2)(torch.randn(3, device="photonic"))
    except Exception as error:
        assert 'backend="aot_eager"' in str(error), error
    else:
        raise AssertionError("compiling on the device should have failed")
assert any('aot_eager' in str(w.message) for w in caught), [str(w.message) for w in caught]
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)

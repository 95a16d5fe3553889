"""PyTorch integration hazards of an out-of-tree PrivateUse1 device, one group of tests each.

- ``Module.to`` keeps Parameters and weight ties (``_has_compatible_shallow_copy_type``), also
  for lazy modules and a tied Hugging Face model;
- copying a conjugate (or negative) view to the CPU resolves the bit without recursion;
- convolution (``convolution_overrideable`` and its backward), plain, transposed and grouped;
- LSTM/GRU and their cells, whose fused ``_thnn_fused_*_cell`` kernels are CUDA-only upstream;
- ``native_layer_norm`` runs as itself, not through the composite (batch-norm) path;
- the ``out=`` matrix-product variants that compiled graphs call, and ``torch.compile`` with
  the ``aot_eager`` backend, forward and backward;
- autocast on the device (matrix products cast, other ops fall through);
- structured ops raise no warnings that only the device would raise;
- the C++ extension is loaded and the backend is named ``photonic``;
- PyTorch's device-type test framework sees the device (``PrivateUse1TestBase``).
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytestmark = pytest.mark.usefixtures("exact_mode")

DEV = "photonic"


class TiedLM(nn.Module):
    def __init__(self, vocab=11, dim=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, tok):
        return self.lm_head(self.embed(tok))


# _has_compatible_shallow_copy_type: Module.to keeps Parameters and ties
def test_tied_weights_survive_to():
    m = TiedLM()
    params_before = [id(p) for p in m.parameters()]
    weight = m.embed.weight
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m.to(DEV)
    assert m.lm_head.weight is m.embed.weight
    assert m.embed.weight is weight, "Module.to replaced the Parameter"
    assert [id(p) for p in m.parameters()] == params_before
    assert weight.device.type == DEV and isinstance(weight, nn.Parameter)
    # an optimizer built before .to() trains the moved weights
    tok = torch.tensor([[1, 2, 3]], device=DEV)
    m(tok).sum().backward()
    before = weight.detach().cpu().clone()
    opt.step()
    assert not torch.equal(weight.detach().cpu(), before)
    m.cpu()
    assert m.lm_head.weight is m.embed.weight is weight


def test_lazy_modules_and_hf_tied_weights_survive_to():
    lazy = nn.LazyLinear(4).to(DEV)
    y = lazy(torch.randn(2, 3, device=DEV))
    assert y.device.type == DEV and lazy.weight.shape == (4, 3)
    transformers = pytest.importorskip("transformers", reason="the Hugging Face model needs transformers (pip install 'torch_photonic[models]')")
    cfg = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16)
    model = transformers.GPT2LMHeadModel(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight
    model.to(DEV)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.lm_head.weight.device.type == DEV


def test_shallow_copy_type_is_compatible_with_cpu():
    a = torch.ones(2, device=DEV)
    assert torch._has_compatible_shallow_copy_type(a, torch.ones(2))
    assert torch._has_compatible_shallow_copy_type(torch.ones(2), a)
    p = nn.Parameter(torch.ones(2))
    p.data = a  # the swap Module._apply relies on
    assert p.device.type == DEV


# conj().cpu() must resolve the conj bit without a recursing _copy_from
def test_conj_and_neg_views_copy_without_recursion():
    z = torch.randn(4, 3, dtype=torch.complex64)
    pz = z.to(DEV)
    assert torch.equal(pz.conj().cpu(), z.conj())
    assert torch.equal(pz.conj().to(DEV).cpu(), z.conj())
    assert torch.equal(pz.conj().clone().cpu(), z.conj().resolve_conj())
    assert torch.equal(torch._neg_view(pz).cpu(), -z)
    assert torch.equal(pz.conj().imag.cpu(), -z.imag)
    assert torch.equal(z.conj().to(DEV).cpu(), z.conj())
    x = torch.randn(3, 4, dtype=torch.complex64)
    torch.testing.assert_close(torch.fft.hfft2(x.to(DEV)).cpu(), torch.fft.hfft2(x))


# convolution needs convolution_overrideable (+ backward)
@pytest.mark.parametrize("transposed", [False, True])
def test_conv2d_forward_backward(transposed):
    torch.manual_seed(0)
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    conv = cls(3, 4, 3, padding=1, stride=2 if transposed else 1)
    pconv = cls(3, 4, 3, padding=1, stride=2 if transposed else 1)
    pconv.load_state_dict(conv.state_dict())
    pconv.to(DEV)
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    px = x.detach().to(DEV).requires_grad_()
    y, py = conv(x), pconv(px)
    assert py.device.type == DEV
    torch.testing.assert_close(py.cpu(), y, rtol=1e-6, atol=1e-6)
    g = torch.randn_like(y)
    y.backward(g)
    py.backward(g.to(DEV))
    torch.testing.assert_close(px.grad.cpu(), x.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pconv.weight.grad.cpu(), conv.weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pconv.bias.grad.cpu(), conv.bias.grad, rtol=1e-5, atol=1e-5)


def test_conv1d_groups():
    conv = nn.Conv1d(4, 4, 3, groups=2)
    x = torch.randn(2, 4, 10)
    ref = conv(x)
    conv.to(DEV)
    torch.testing.assert_close(conv(x.to(DEV)).cpu(), ref, rtol=1e-6, atol=1e-6)


# LSTM/GRU go through _thnn_fused_*_cell (CUDA-only kernels upstream; the extension registers
# photonic ones)
@pytest.mark.parametrize("cls,kwargs", [
    (nn.LSTM, {}), (nn.GRU, {}),
    (nn.LSTM, {"bidirectional": True, "bias": False}), (nn.GRU, {"bidirectional": True, "bias": False}),
    (nn.LSTM, {"proj_size": 3}),
], ids=["lstm", "gru", "lstm-bi-nobias", "gru-bi-nobias", "lstm-proj"])
def test_rnn_fused_cells_forward_backward(cls, kwargs):
    torch.manual_seed(0)
    rnn = cls(4, 5, num_layers=2, batch_first=True, **kwargs)
    x = torch.randn(2, 3, 4, requires_grad=True)
    y, _ = rnn(x)
    y.sum().backward()
    prnn = cls(4, 5, num_layers=2, batch_first=True, **kwargs)
    prnn.load_state_dict(rnn.state_dict())
    prnn.to(DEV)
    px = x.detach().to(DEV).requires_grad_()
    py, _ = prnn(px)
    assert py.device.type == DEV
    torch.testing.assert_close(py.cpu(), y, rtol=1e-5, atol=1e-6)
    py.sum().backward()
    torch.testing.assert_close(px.grad.cpu(), x.grad, rtol=1e-5, atol=1e-5)
    for (n, p), q in zip(prnn.named_parameters(), rnn.parameters()):
        torch.testing.assert_close(p.grad.cpu(), q.grad, rtol=1e-5, atol=1e-5, msg=n)


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.GRUCell])
def test_rnn_cells_with_state(cls):
    torch.manual_seed(1)
    cell = cls(4, 6)
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    state = (h, torch.randn(3, 6)) if cls is nn.LSTMCell else h
    ref = cell(x, state)
    pcell = cls(4, 6)
    pcell.load_state_dict(cell.state_dict())
    pcell.to(DEV)
    pstate = tuple(s.to(DEV) for s in state) if isinstance(state, tuple) else state.to(DEV)
    got = pcell(x.to(DEV), pstate)
    for g, r in zip(got if isinstance(got, tuple) else (got,), ref if isinstance(ref, tuple) else (ref,)):
        assert g.device.type == DEV
        torch.testing.assert_close(g.cpu(), r, rtol=1e-5, atol=1e-6)
    # gradient through the hidden state only (LSTM: grad_cy undefined)
    first = got[0] if isinstance(got, tuple) else got
    first.sum().backward()
    (ref[0] if isinstance(ref, tuple) else ref).sum().backward()
    torch.testing.assert_close(pcell.weight_hh.grad.cpu(), cell.weight_hh.grad, rtol=1e-5, atol=1e-5)


# layer_norm must not take the composite path
def test_native_layer_norm_matches_cpu():
    torch.manual_seed(0)
    x = torch.randn(4, 7, 32) * 3 + 1
    w, b = torch.randn(32), torch.randn(32)
    out, mean, rstd = torch.native_layer_norm(x, (32,), w, b, 1e-5)
    pout, pmean, prstd = torch.native_layer_norm(x.to(DEV), (32,), w.to(DEV), b.to(DEV), 1e-5)
    for got, exp in ((pout, out), (pmean, mean), (prstd, rstd)):
        assert got.device.type == DEV and got.shape == exp.shape
        assert (got.cpu() - exp).abs().max().item() <= 1e-6
    with torch.photonic.count_host_ops() as stats:
        F.layer_norm(x.to(DEV), (32,), w.to(DEV), b.to(DEV))
    assert "aten::native_layer_norm" in stats
    assert not any("batch_norm" in k for k in stats)
    # backward too
    xr = x.clone().requires_grad_()
    pxr = x.to(DEV).requires_grad_()
    F.layer_norm(xr, (32,), w, b).pow(2).sum().backward()
    F.layer_norm(pxr, (32,), w.to(DEV), b.to(DEV)).pow(2).sum().backward()
    assert (pxr.grad.cpu() - xr.grad).abs().max().item() <= 1e-5


# compiled graphs call the .out matmul variants
def test_matmul_out_variants():
    a, b = torch.randn(5, 4), torch.randn(4, 3)
    o = torch.empty(5, 3, device=DEV)
    r = torch.mm(a.to(DEV), b.to(DEV), out=o)
    assert r is o
    torch.testing.assert_close(o.cpu(), a @ b, rtol=1e-6, atol=1e-6)
    o2 = torch.empty(5, 3, device=DEV)
    torch.addmm(torch.ones(3).to(DEV), a.to(DEV), b.to(DEV), out=o2)
    torch.testing.assert_close(o2.cpu(), a @ b + 1, rtol=1e-6, atol=1e-6)
    o3 = torch.empty(0, device=DEV)
    torch.bmm(a[None].to(DEV), b[None].to(DEV), out=o3)  # resized
    torch.testing.assert_close(o3.cpu(), (a @ b)[None], rtol=1e-6, atol=1e-6)
    with torch.photonic.count_host_ops() as stats:
        torch.mm(a.to(DEV), b.to(DEV), out=o)
        torch.addmm(torch.ones(3).to(DEV), a.to(DEV), b.to(DEV), out=o2)
    assert not any(k.startswith(("aten::mm", "aten::addmm", "aten::bmm")) for k in stats), stats


def test_compile_aot_eager_forward_backward():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 8))
    x = torch.randn(4, 16)
    ref = model(x)
    model.to(DEV)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager")
    y = compiled(x.to(DEV))
    assert y.device.type == DEV
    torch.testing.assert_close(y.cpu(), ref, rtol=1e-5, atol=1e-6)
    # and backward through the compiled graph
    y.sum().backward()
    assert model[0].weight.grad.device.type == DEV
    torch._dynamo.reset()


# autocast on the device needs a fallthrough
def test_autocast_casts_matmuls_only():
    a, b = torch.randn(4, 8, device=DEV), torch.randn(8, 3, device=DEV)
    with torch.autocast("photonic", dtype=torch.bfloat16):
        y = a @ b
        z = (a + 1).relu()  # falls through
        lin = F.linear(a, b.t())
    assert y.dtype == torch.bfloat16 and lin.dtype == torch.bfloat16
    assert z.dtype == torch.float32
    assert y.device.type == DEV
    torch.testing.assert_close(y.float().cpu(), (a.cpu() @ b.cpu()), rtol=2e-2, atol=2e-2)
    with torch.autocast("photonic", dtype=torch.float16):
        assert (a @ b).dtype == torch.float16
    assert (a @ b).dtype == torch.float32


# structured ops reach the backend as .out variants: no spurious warnings
def test_no_photonic_only_warnings():
    a, b = torch.randn(6, 8, device=DEV), torch.randn(6, 8, device=DEV)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(a, b)
        F.mse_loss(a, b, reduction="sum")
        a + b
        a.softmax(-1)
        F.cross_entropy(a, torch.tensor([0, 1, 2, 3, 4, 5], device=DEV))
        F.smooth_l1_loss(a, b)
    torch.testing.assert_close(F.mse_loss(a, b).cpu(), F.mse_loss(a.cpu(), b.cpu()))


# the build keeps aten op names out of the extension's namespace; here: the extension loaded
def test_extension_loaded():
    import torch_photonic

    assert torch_photonic._C is not None
    assert torch._C._get_privateuse1_backend_name() == "photonic"


# import order: the testing framework sees the device
def test_device_type_test_bases_include_privateuse1():
    from torch.testing._internal.common_device_type import get_device_type_test_bases

    bases = get_device_type_test_bases()
    assert any(b.__name__ == "PrivateUse1TestBase" for b in bases)

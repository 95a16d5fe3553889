"""Gradients through PhotonicLinear and PhotonicExperts: straight through the optical products
(the float products' gradients), checked against nn.Linear, transformers' experts and
torch.autograd.gradcheck."""
import warnings

import pytest
import torch
from torch import nn

import torch_photonic as tp


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the layers' own error warnings
        yield


def test_ideal_gradients_equal_nn_linear():
    torch.manual_seed(0)
    lin = nn.Linear(24, 10)
    pl = tp.PhotonicLinear.from_linear(nn.Linear(24, 10), "ideal", name="pl")
    with torch.no_grad():
        pl.weight.copy_(lin.weight)
        pl.bias.copy_(lin.bias)
    x = torch.randn(3, 5, 24)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    gy = torch.randn(3, 5, 10)
    (lin(x1) * gy).sum().backward()
    (pl(x2) * gy).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad)
    torch.testing.assert_close(pl.weight.grad, lin.weight.grad)
    torch.testing.assert_close(pl.bias.grad, lin.bias.grad)


def test_gradcheck_in_exact_mode():
    torch.manual_seed(1)
    pl = tp.PhotonicLinear.from_linear(nn.Linear(6, 4).double(), "ideal", name="gc")
    x = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    # the optics compute in float32: finite differences with a step that float32 resolves
    assert torch.autograd.gradcheck(pl, (x,), eps=1e-2, atol=1e-3, rtol=1e-3)


def test_noisy_forward_straight_through_backward():
    """On the glass chip the forward is the noisy optical product; the backward is the float
    product's, whatever the noise."""
    torch.manual_seed(2)
    pl = tp.PhotonicLinear.from_linear(nn.Linear(64, 16), "glass-pcm-200mm", name="st")
    x = torch.randn(8, 64, requires_grad=True)
    y = pl(x)
    assert not torch.allclose(y, nn.functional.linear(x, pl.weight, pl.bias), atol=1e-4)
    gy = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad((y * gy).sum(), (x, pl.weight, pl.bias))
    torch.testing.assert_close(gx, gy @ pl.weight.detach())
    torch.testing.assert_close(gw, gy.t() @ x.detach())
    torch.testing.assert_close(gb, gy.sum(0))


def test_a_training_step_programs_only_when_deployed():
    """Training forwards program nothing; the eval forward after the step writes the updated
    weight once."""
    torch.manual_seed(3)
    model = tp.convert(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2)), "ideal")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(32, 16), torch.randn(32, 2)
    model.train()
    loss0 = nn.functional.mse_loss(model(x), target)
    loss0.backward()
    opt.step()
    from torch_photonic.optics.store import store
    assert not store.states(model[0].weight)  # nothing programmed yet
    model.eval()
    with torch.no_grad():
        loss1 = nn.functional.mse_loss(model(x), target)
    assert loss1 < loss0
    assert model[0].state.times_programmed == 1


def test_no_graph_without_gradients():
    pl = tp.PhotonicLinear.from_linear(nn.Linear(4, 2), "ideal", name="ng")
    with torch.no_grad():
        assert pl(torch.randn(1, 4)).grad_fn is None
    pl.requires_grad_(False)
    assert pl(torch.randn(1, 4)).grad_fn is None


def test_expert_gradients_equal_hf_experts_on_ideal():
    """PhotonicExperts on the ideal preset: the gradients of the inputs, the routing weights and
    the fused expert weights equal those of transformers' own experts module."""
    import copy

    from test_layers_convert import _tiny_dsv3

    model = _tiny_dsv3()
    moe = model.model.layers[1].mlp
    ref_experts = moe.experts
    pe = tp.PhotonicExperts.from_module(copy.deepcopy(ref_experts), "ideal", name="grad.experts")
    torch.manual_seed(4)
    h = torch.randn(12, 64)
    with torch.no_grad():
        _, w, idx = moe.gate(h)
    gy = torch.randn(12, 64)
    grads = []
    for mod in (ref_experts, pe):
        hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
        mod.zero_grad()
        (mod(hh, idx, ww) * gy).sum().backward()
        grads.append((hh.grad, ww.grad, mod.gate_up_proj.grad, mod.down_proj.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)

"""The digital epilogue of the device's matrix products (alpha/beta of addmm and baddbmm, the bias
of _grouped_mm) runs on the electronic host and is counted with the host ops, under
photonic::epilogue.<op>; a plain product records none."""
from __future__ import annotations

import pytest
import torch

import torch_photonic as tp

pytestmark = pytest.mark.usefixtures("exact_mode")

DEV = "photonic"
F32 = 4


def _epilogues(stats):
    return {k: v for k, v in stats.items() if "epilogue" in k}


def test_addmm_epilogue_is_counted():
    torch.manual_seed(0)
    m, k, n = 8, 16, 12
    bias, x, w = torch.randn(n), torch.randn(m, k), torch.randn(k, n)
    db, dx, dw = bias.to(DEV), x.to(DEV), w.to(DEV)
    with torch.photonic.count_host_ops() as stats:
        y = torch.addmm(db, dx, dw)
    torch.testing.assert_close(y.cpu(), torch.addmm(bias, x, w), rtol=1e-6, atol=1e-6)
    ep = _epilogues(stats)
    assert set(ep) == {"photonic::epilogue.addmm"}, stats
    s = ep["photonic::epilogue.addmm"]
    assert s["calls"] == 1
    # beta = alpha = 1: one pass that reads the product and the bias and writes the result
    assert s["bytes_in"] == (m * n + n) * F32
    assert s["bytes_out"] == m * n * F32
    assert s["elements_out"] == m * n


def test_addmm_alpha_and_beta_are_two_passes():
    m, k, n = 4, 8, 6
    bias, x, w = torch.randn(m, n), torch.randn(m, k), torch.randn(k, n)
    with torch.photonic.count_host_ops() as stats:
        y = torch.addmm(bias.to(DEV), x.to(DEV), w.to(DEV), beta=0.5, alpha=2.0)
    torch.testing.assert_close(y.cpu(), torch.addmm(bias, x, w, beta=0.5, alpha=2.0), rtol=1e-6, atol=1e-6)
    s = stats["photonic::epilogue.addmm"]
    assert s["calls"] == 1
    assert s["bytes_in"] == 3 * m * n * F32  # scale: the product; add: the product and self
    assert s["bytes_out"] == 2 * m * n * F32
    assert s["elements_out"] == 2 * m * n


def test_addmm_out_and_inplace_forms_are_counted():
    m, k, n = 3, 5, 4
    x, w = torch.randn(m, k).to(DEV), torch.randn(k, n).to(DEV)
    out = torch.empty(m, n, device=DEV)
    acc = torch.ones(m, n, device=DEV)
    with torch.photonic.count_host_ops() as stats:
        torch.addmm(torch.ones(n, device=DEV), x, w, out=out)
        acc.addmm_(x, w)
    assert stats["photonic::epilogue.addmm"]["calls"] == 2


def test_beta_zero_alpha_one_does_no_epilogue_work():
    x, w = torch.randn(3, 5).to(DEV), torch.randn(5, 4).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        torch.addmm(torch.full((4,), float("nan"), device=DEV), x, w, beta=0)
    assert not _epilogues(stats), stats


def test_baddbmm_epilogue_is_counted():
    b, m, k, n = 2, 3, 5, 4
    s0, x, w = torch.randn(b, m, n), torch.randn(b, m, k), torch.randn(b, k, n)
    with torch.photonic.count_host_ops() as stats:
        y = torch.baddbmm(s0.to(DEV), x.to(DEV), w.to(DEV))
    torch.testing.assert_close(y.cpu(), torch.baddbmm(s0, x, w), rtol=1e-6, atol=1e-6)
    s = stats["photonic::epilogue.baddbmm"]
    assert s["calls"] == 1 and s["bytes_in"] == 2 * b * m * n * F32 and s["bytes_out"] == b * m * n * F32


def test_plain_products_record_no_epilogue():
    x, w = torch.randn(4, 8).to(DEV), torch.randn(8, 6).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        torch.mm(x, w)
        x @ w
        torch.bmm(x[None], w[None])
    assert not _epilogues(stats), stats
    # no aten product falls back to the host either
    assert not any(k.startswith(("aten::mm", "aten::addmm", "aten::bmm")) for k in stats), stats


def test_epilogue_not_counted_outside_a_counting_block():
    x, w = torch.randn(4, 8).to(DEV), torch.randn(8, 6).to(DEV)
    tp._C._take_host_op_stats(True)
    torch.addmm(torch.ones(6, device=DEV), x, w)
    assert not tp._C._host_op_counting()
    assert tp._C._take_host_op_stats(True) == {}


def test_linear_bias_reaches_the_meter_as_host_work():
    lin = torch.nn.Linear(16, 8).to(DEV)
    x = torch.randn(4, 16, device=DEV)
    with tp.meter() as m, torch.no_grad():
        lin(x)
    assert m.breakdown().get("host", 0) > 0
    assert any("epilogue" in r["op"] for r in m.per_layer())

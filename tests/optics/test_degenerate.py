"""Degenerate and bad input on the optical path behaves as the CPU's product, on both paths
(the ``photonic`` device and ``convert()``'s layers)."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.optics.store import store

GLASS = "glass-pcm-200mm"


@pytest.fixture(autouse=True)
def fresh_store():
    tp.nn.clear_programmed()
    yield
    tp.nn.clear_programmed()


def device_linear(lin: nn.Linear, x: torch.Tensor, config=GLASS) -> torch.Tensor:
    dev = copy.deepcopy(lin).to("photonic")
    with torch.photonic.set_config(config):
        return dev(x.to("photonic")).cpu()


def convert_linear(lin: nn.Linear, x: torch.Tensor, config=GLASS) -> torch.Tensor:
    return tp.PhotonicLinear.from_linear(copy.deepcopy(lin), tp.preset(config), name="lin").eval()(x)


PATHS = {"device": device_linear, "convert": convert_linear}


@pytest.mark.parametrize("path", PATHS)
def test_empty_inner_dimension_gives_the_bias(path):
    lin = nn.Linear(0, 5)
    x = torch.randn(3, 0)
    y = PATHS[path](lin, x).detach()
    assert y.shape == (3, 5)
    torch.testing.assert_close(y, lin.bias.detach().expand(3, 5), rtol=0, atol=0)


def test_empty_inner_dimension_mm_on_the_device_gives_zeros():
    a, b = torch.randn(4, 0), torch.randn(0, 6)
    with torch.photonic.set_config(GLASS):
        y = (a.to("photonic") @ b.to("photonic")).cpu()
        z = torch.addmm(torch.ones(6, device="photonic"), a.to("photonic"), b.to("photonic")).cpu()
    assert torch.equal(y, torch.zeros(4, 6)) and torch.equal(z, torch.ones(4, 6))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [(0, 8), (2, 0, 8)])
def test_no_rows_give_an_empty_result(path, shape):
    lin = nn.Linear(8, 4)
    y = PATHS[path](lin, torch.randn(*shape))
    assert y.shape == (*shape[:-1], 4)


@pytest.mark.parametrize("path", PATHS)
def test_no_outputs_give_an_empty_result(path):
    lin = nn.Linear(8, 0)
    y = PATHS[path](lin, torch.randn(3, 8))
    assert y.shape == (3, 0)


@pytest.mark.parametrize("path", PATHS)
def test_non_contiguous_input_gives_what_the_contiguous_one_gives(path):
    torch.manual_seed(0)
    lin = nn.Linear(64, 32)
    x = torch.randn(64, 10).t()  # [10, 64], non-contiguous
    assert not x.is_contiguous()
    y_nc = PATHS[path](lin, x)
    tp.nn.clear_programmed()  # the same cells and the same first read again
    y_c = PATHS[path](lin, x.contiguous())
    assert torch.equal(y_nc, y_c)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_work(path, dtype):
    torch.manual_seed(0)
    lin = nn.Linear(48, 24).to(dtype)
    x = torch.randn(6, 48, dtype=dtype)
    y = PATHS[path](lin, x, config="ideal")
    assert y.dtype == dtype
    ref = nn.functional.linear(x.float(), lin.weight.float(), lin.bias.float())
    torch.testing.assert_close(y.float(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("path", PATHS)
def test_nan_and_inf_rows_propagate_like_the_cpu_and_warn_once(path):
    torch.manual_seed(0)
    lin = nn.Linear(32, 8)
    x = torch.randn(4, 32)
    x[1, 3] = float("nan")
    x[2, 0] = float("inf")
    cpu = lin(x).detach()
    with pytest.warns(RuntimeWarning, match="NaN or Inf") as record:
        y = PATHS[path](lin, x).detach()
    assert sum("NaN or Inf" in str(w.message) for w in record) == 1
    assert "lin" in str(record[0].message) or "weight" in str(record[0].message)
    torch.testing.assert_close(y[1:3], cpu[1:3], equal_nan=True)  # NaN/Inf where the CPU has them
    assert torch.isfinite(y[[0, 3]]).all()
    assert torch.equal(torch.isnan(y), torch.isnan(cpu)) and torch.equal(torch.isinf(y), torch.isinf(cpu))


def test_integer_inputs_give_a_clear_dtype_error():
    lin = tp.PhotonicLinear.from_linear(nn.Linear(8, 4), tp.preset(GLASS), name="lin").eval()
    with pytest.raises(TypeError, match="x must be a real floating-point tensor"):
        lin(torch.ones(2, 8, dtype=torch.int64))
    a = torch.ones(2, 8, dtype=torch.int64, device="photonic")
    b = torch.ones(8, 4, dtype=torch.int64, device="photonic")
    with torch.photonic.set_config(GLASS), pytest.raises(RuntimeError, match="floating-point"):
        a @ b


def test_degenerate_products_are_not_charged():
    from torch_photonic.energy import events

    class Sink:
        seen = []

        def on_event(self, kind, payload):
            self.seen.append(kind)

    sink = Sink()
    events.subscribe(sink)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            device_linear(nn.Linear(8, 4), torch.randn(0, 8))
    finally:
        events.unsubscribe(sink)
    assert "mvm" not in sink.seen and "program" not in sink.seen
    assert len(store) == 0

"""The photonic device's runtime contract: factories, RNG, memory, errors, views, copies,
serialization and the Python shim."""
from __future__ import annotations

import io

import pytest
import torch

pytestmark = pytest.mark.usefixtures("exact_mode")

DEV = "photonic"


def test_issue_snippet():
    import torch_photonic  # noqa: F401

    torch.manual_seed(0)
    x = torch.randn(64, 512).to("photonic")
    assert torch.randn(2, 3, device="photonic").device.type == "photonic"
    lin = torch.nn.Linear(512, 256).to("photonic")
    assert all(p.device.type == "photonic" for p in lin.parameters())
    y = lin(x)
    assert y.device == torch.device("photonic", 0)
    ref = torch.nn.functional.linear(x.cpu(), lin.weight.cpu(), lin.bias.cpu())
    torch.testing.assert_close(y.cpu(), ref, rtol=1e-6, atol=1e-6)
    assert y.cpu().device.type == "cpu"
    assert torch.photonic.is_available()
    assert torch.photonic.device_count() == 1
    assert torch.photonic.memory_allocated() >= y.numel() * 4


# ---- factories and random numbers ------------------------------------------------------------
def test_randn_on_device():
    x = torch.randn(3, 4, device=DEV)
    assert x.device == torch.device(DEV, 0) and x.shape == (3, 4) and x.dtype == torch.float32
    assert x.std().item() > 0


@pytest.mark.parametrize("factory", ["randn", "rand", "zeros", "ones", "empty", "arange", "full", "eye", "randint"])
def test_factories(factory):
    args = {
        "randn": ((2, 3),), "rand": ((2, 3),), "zeros": ((2, 3),), "ones": ((2, 3),), "empty": ((2, 3),),
        "arange": (6,), "full": ((2, 3), 1.5), "eye": (3,), "randint": (0, 10, (2, 3)),
    }[factory]
    torch.manual_seed(1)
    c = getattr(torch, factory)(*args, device="cpu")
    torch.manual_seed(1)
    p = getattr(torch, factory)(*args, device=DEV)
    assert p.device.type == DEV and p.dtype == c.dtype and p.shape == c.shape
    if factory != "empty":
        assert torch.equal(p.cpu(), c)


def test_manual_seed_reproducible_and_equals_cpu():
    torch.manual_seed(123)
    a = torch.randn(100, device=DEV)
    torch.manual_seed(123)
    b = torch.randn(100, device=DEV)
    d = torch.randn(100, device=DEV)  # the stream moves on
    torch.manual_seed(123)
    c = torch.randn(100)
    assert torch.equal(a.cpu(), b.cpu())
    assert torch.equal(a.cpu(), c)
    assert not torch.equal(a.cpu(), d.cpu())


def test_explicit_generator():
    g = torch.Generator(DEV)
    assert g.device.type == DEV
    g.manual_seed(7)
    a = torch.randn(50, device=DEV, generator=g)
    g.manual_seed(7)
    b = torch.randn(50, device=DEV, generator=g)
    assert torch.equal(a.cpu(), b.cpu())
    # the same stream as a CPU generator with the same seed
    c = torch.randn(50, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.cpu(), c)
    # in-place random ops with a device generator
    g.manual_seed(3)
    u = torch.empty(20, device=DEV).uniform_(generator=g)
    g.manual_seed(3)
    v = torch.empty(20, device=DEV).uniform_(generator=g)
    assert torch.equal(u.cpu(), v.cpu())
    # the explicit generator leaves the default one alone
    torch.manual_seed(5)
    ref = torch.randn(10, device=DEV)
    torch.manual_seed(5)
    torch.randn(10, device=DEV, generator=g)
    assert torch.equal(torch.randn(10, device=DEV).cpu(), ref.cpu())


def test_get_set_rng_state():
    torch.manual_seed(0)
    state = torch.photonic.get_rng_state()
    assert state.device.type == "cpu" and state.dtype == torch.uint8
    a = torch.randn(30, device=DEV)
    torch.photonic.set_rng_state(state)
    b = torch.randn(30, device=DEV)
    assert torch.equal(a.cpu(), b.cpu())
    torch.photonic.manual_seed(99)
    assert torch.photonic.initial_seed() == 99
    g_state = torch.photonic.get_rng_state_all()
    c = torch.rand(5, device=DEV)
    torch.photonic.set_rng_state_all(g_state)
    assert torch.equal(torch.rand(5, device=DEV).cpu(), c.cpu())


def test_dropout_reproducible():
    x = torch.ones(1000, device=DEV)
    torch.manual_seed(4)
    a = torch.nn.functional.dropout(x, 0.5)
    torch.manual_seed(4)
    b = torch.nn.functional.dropout(x, 0.5)
    assert torch.equal(a.cpu(), b.cpu())
    assert 300 < int((a.cpu() == 0).sum()) < 700


# ---- memory ----------------------------------------------------------------------------------
def test_memory_counters():
    torch.photonic.reset_peak_memory_stats()
    base = torch.photonic.memory_allocated()
    x = torch.empty(1024, 1024, device=DEV)  # 4 MiB
    assert torch.photonic.memory_allocated() - base >= 4 * 1024 * 1024
    peak = torch.photonic.max_memory_allocated()
    assert peak >= base + 4 * 1024 * 1024
    y = x + 1  # a fresh result adopted from the host counts too
    assert torch.photonic.memory_allocated() - base >= 8 * 1024 * 1024
    del x, y
    assert torch.photonic.memory_allocated() == base
    assert torch.photonic.max_memory_allocated() >= base + 8 * 1024 * 1024
    torch.photonic.reset_peak_memory_stats()
    assert torch.photonic.max_memory_allocated() == base


def test_memory_limit_raises_oom(no_memory_limit):
    base = torch.photonic.memory_allocated()
    torch.photonic.set_memory_limit(base + 1024 * 1024)
    assert torch.photonic.memory_limit() == base + 1024 * 1024
    small = torch.empty(1000, device=DEV)
    with pytest.raises(torch.OutOfMemoryError, match="photonic out of memory"):
        torch.empty(1024, 1024, device=DEV)
    with pytest.raises(torch.OutOfMemoryError):
        torch.ones(512, 512).to(DEV) + 1  # the adopted result of a fallback op
    assert torch.photonic.memory_allocated() == base + small.numel() * 4
    torch.photonic.set_memory_limit(None)
    assert torch.photonic.memory_limit() is None
    big = torch.empty(1024, 1024, device=DEV)
    assert big.numel() == 1024 * 1024
    with pytest.raises(ValueError):
        torch.photonic.set_memory_limit(-1)


# ---- bad input -------------------------------------------------------------------------------
def test_device_index_out_of_range():
    with pytest.raises(RuntimeError, match="index 1 is out of range"):
        torch.empty(3, device="photonic:1")
    with pytest.raises(RuntimeError, match="out of range"):
        torch.ones(3).to("photonic:1")
    with pytest.raises(ValueError, match="out of range"):
        torch.photonic.set_device(1)
    with pytest.raises(ValueError, match="out of range"):
        torch.photonic.memory_allocated(2)
    assert torch.empty(3, device="photonic:0").device == torch.device(DEV, 0)


def test_mixed_devices_fallback_op():
    a = torch.ones(3, 3, device=DEV)
    b = torch.ones(3, 3)
    for fn in (lambda: a + b, lambda: b + a, lambda: torch.cat([a, b]), lambda: torch.where(a > 0, a, b)):
        with pytest.raises(RuntimeError, match="same device, but found at least two devices, photonic:0 and cpu"):
            fn()


def test_mixed_devices_mm():
    a = torch.ones(3, 3, device=DEV)
    b = torch.ones(3, 3)
    for fn in (lambda: torch.mm(a, b), lambda: torch.mm(b, a), lambda: a @ b,
               lambda: torch.addmm(b, a, a), lambda: torch.bmm(a[None], b[None]),
               lambda: torch.nn.functional.linear(a, b)):
        with pytest.raises(RuntimeError, match="same device, but found at least two devices, photonic:0 and cpu"):
            fn()


def test_cpu_scalar_tensor_mixes_like_cuda():
    # a 0-d cpu tensor is a scalar and may be mixed, as with cuda
    a = torch.ones(3, device=DEV)
    r = a * torch.tensor(2.0)
    assert r.device.type == DEV and torch.equal(r.cpu(), torch.full((3,), 2.0))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.complex64])
def test_unsupported_dtype_mm(dtype):
    a = torch.ones(3, 3, dtype=dtype, device=DEV)
    with pytest.raises(RuntimeError, match="real floating-point operands"):
        torch.mm(a, a)
    with pytest.raises(RuntimeError, match="real floating-point operands"):
        a @ a  # a RuntimeError, as on cuda: a TypeError would turn into Python's "unsupported operand"
    with pytest.raises(RuntimeError, match="real floating-point operands"):
        torch.bmm(a[None], a[None])
    # and the same product on the cpu still works
    assert torch.mm(a.cpu(), a.cpu()).dtype == dtype


def test_unsupported_layout():
    with pytest.raises(RuntimeError):
        torch.ones(3, 3).to_sparse().to(DEV)
    with pytest.raises(RuntimeError, match="photonic tensors are dense"):
        torch.ones(3, 3, device=DEV).to_sparse()
    with pytest.raises(NotImplementedError, match="Sparsephotonic"):
        torch.empty(3, 3, device=DEV, layout=torch.sparse_coo)


def test_mode_and_group_norm_like_cpu():
    x = torch.tensor([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 1.0, 1.0]])
    vals, idx = torch.empty(0), torch.empty(0, dtype=torch.long)
    pv, pi = torch.empty(0, device=DEV), torch.empty(0, dtype=torch.long, device=DEV)
    torch.mode(x, 1, out=(vals, idx))
    torch.mode(x.to(DEV), 1, out=(pv, pi))  # CompositeExplicitAutograd mode_out refused the device
    assert torch.equal(pv.cpu(), vals) and torch.equal(pi.cpu(), idx)
    img = torch.randn(2, 4, 3, 3)
    ref = torch.native_group_norm(img, None, None, 2, 4, 9, 2, 1e-5)
    got = torch.native_group_norm(img.to(DEV), None, None, 2, 4, 9, 2, 1e-5)
    for g, r in zip(got, ref):
        assert torch.equal(g.cpu(), r)  # the CPU kernel, not the math_group_norm composite


# ---- printing and the python shim ------------------------------------------------------------
def test_print():
    x = torch.arange(6.0, device=DEV).reshape(2, 3)
    s = repr(x)
    assert "device='photonic:0'" in s and "5." in s
    assert "photonic" in str(torch.tensor(1.5, device=DEV))
    assert "size=(0, 3)" in repr(torch.empty(0, 3, device=DEV))
    big = torch.zeros(2000, device=DEV)
    assert "..." in repr(big)


def test_is_photonic_and_module_photonic():
    x = torch.ones(2)
    assert not x.is_photonic
    y = x.photonic()
    assert y.is_photonic and y.device.type == DEV
    m = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    m.photonic()
    assert all(t.is_photonic for t in list(m.parameters()) + list(m.buffers()))
    s = torch.ones(3).untyped_storage().photonic()
    assert s.device.type == DEV
    m.cpu()
    assert not any(t.is_photonic for t in m.parameters())


def test_device_module():
    assert torch.photonic.current_device() == 0
    assert "photonic" in torch.photonic.get_device_name()
    torch.photonic.synchronize()
    with torch.photonic.device(0):
        pass
    with torch.device(DEV):
        t = torch.ones(2)
    assert t.device.type == DEV
    assert torch.accelerator.current_accelerator().type == DEV


def _roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, **load_kwargs)


def test_save_load_tensor():
    x = torch.randn(4, 5, device=DEV)
    y = _roundtrip(x)
    assert y.device.type == DEV and torch.equal(y.cpu(), x.cpu())
    z = _roundtrip(x, map_location="cpu")
    assert z.device.type == "cpu" and torch.equal(z, x.cpu())
    c = _roundtrip(x.cpu(), map_location="photonic")
    assert c.device.type == DEV and torch.equal(c.cpu(), x.cpu())
    d = _roundtrip(x, map_location=torch.device("photonic:0"))
    assert d.device.type == DEV
    # views keep sharing storage through serialization
    a, b = _roundtrip([x, x[1:3]])
    a[1, 0] = 42.0
    assert b[0, 0].item() == 42.0


def test_save_load_state_dict():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.LayerNorm(4)).to(DEV)
    sd = _roundtrip(m.state_dict())
    assert all(v.device.type == DEV for v in sd.values())
    m2 = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.LayerNorm(4))
    m2.load_state_dict(_roundtrip(m.state_dict(), map_location="cpu"))
    x = torch.randn(3, 5)
    torch.testing.assert_close(m(x.to(DEV)).cpu(), m2(x), rtol=0, atol=0)
    m3 = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.LayerNorm(4)).to(DEV)
    m3.load_state_dict(_roundtrip(m2.state_dict(), map_location="photonic"))
    assert torch.equal(m3(x.to(DEV)).cpu(), m2(x))


# ---- views alias storage ---------------------------------------------------------------------
def _base():
    return torch.arange(24.0).reshape(4, 6).to(DEV)


@pytest.mark.parametrize("make_view", [
    pytest.param(lambda b: b.view(6, 4), id="view"),
    pytest.param(lambda b: b.reshape(24), id="reshape"),
    pytest.param(lambda b: b.t(), id="transpose"),
    pytest.param(lambda b: b[1:3, ::2], id="slice"),
    pytest.param(lambda b: b.as_strided((2, 2), (6, 1), 7), id="as_strided"),
    pytest.param(lambda b: b.select(0, 2), id="select"),
    pytest.param(lambda b: b.unsqueeze(0).squeeze(0), id="unsqueeze"),
    pytest.param(lambda b: b.narrow(1, 2, 3), id="narrow"),
    pytest.param(lambda b: b.unfold(1, 2, 2), id="unfold"),
    pytest.param(lambda b: b.flatten(), id="flatten"),
    pytest.param(lambda b: b.permute(1, 0), id="permute"),
    pytest.param(lambda b: b.diagonal(), id="diagonal"),
    pytest.param(lambda b: b.expand(2, 4, 6)[0], id="expand"),
    pytest.param(lambda b: b.unbind(0)[1], id="unbind"),
    pytest.param(lambda b: b.split(2, 1)[1], id="split"),
    pytest.param(lambda b: b.chunk(2, 0)[1], id="chunk"),
    pytest.param(lambda b: torch.view_as_real(torch.view_as_complex(b.view(4, 3, 2)))[..., 0], id="view_as_complex"),
])
def test_views_alias_storage(make_view):
    base = _base()
    cpu_base = base.cpu()
    v = make_view(base)
    cv = make_view(cpu_base)
    assert v.device.type == DEV
    assert v.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()
    assert v._is_view()
    assert v.shape == cv.shape and v.stride() == cv.stride() and v.storage_offset() == cv.storage_offset()
    assert torch.equal(v.cpu(), cv)
    v.mul_(-1)  # write through the view
    cv.mul_(-1)
    assert torch.equal(base.cpu(), cpu_base)
    assert (base.cpu() < 0).any()
    base.add_(100)  # and back: the view sees writes to the base
    cpu_base.add_(100)
    assert torch.equal(v.cpu(), cv)


def test_view_index_assign():
    base = torch.zeros(3, 4, device=DEV)
    base[1] = 5.0
    base[:, 2] = torch.tensor([1.0, 2.0, 3.0]).to(DEV)
    ref = torch.zeros(3, 4)
    ref[1] = 5.0
    ref[:, 2] = torch.tensor([1.0, 2.0, 3.0])
    assert torch.equal(base.cpu(), ref)


def test_resize_():
    x = torch.arange(6.0, device=DEV)
    ptr = x.data_ptr()
    x.resize_(2, 3)
    assert x.shape == (2, 3) and x.data_ptr() == ptr
    assert torch.equal(x.cpu(), torch.arange(6.0).reshape(2, 3))
    before = torch.photonic.memory_allocated()
    x.resize_(100, 100)
    assert x.shape == (100, 100)
    assert torch.equal(x.flatten()[:6].cpu(), torch.arange(6.0))  # old contents kept
    assert torch.photonic.memory_allocated() >= before + (10000 - 6) * 4
    x.resize_(0)
    assert x.numel() == 0 and x.device.type == DEV


def test_set_():
    a = torch.arange(6.0, device=DEV)
    b = torch.empty(0, device=DEV)
    b.set_(a.untyped_storage(), 2, (2, 2), (2, 1))
    assert torch.equal(b.cpu(), torch.tensor([[2.0, 3.0], [4.0, 5.0]]))
    b.fill_(0)
    assert torch.equal(a.cpu(), torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
    c = torch.empty(0, device=DEV)
    c.set_(a)
    assert c.data_ptr() == a.data_ptr() and c.shape == a.shape
    d = torch.empty(0, device=DEV)
    d.set_(a.untyped_storage())
    assert d.shape == (6,)
    d.set_()
    assert d.numel() == 0 and d.device.type == DEV
    with pytest.raises(RuntimeError):
        torch.empty(0, device=DEV).set_(torch.ones(3))


def test_fill_zero():
    x = torch.empty(3, 4, device=DEV)
    x.fill_(2.5)
    assert torch.equal(x.cpu(), torch.full((3, 4), 2.5))
    x[:, 1].zero_()
    ref = torch.full((3, 4), 2.5)
    ref[:, 1] = 0
    assert torch.equal(x.cpu(), ref)
    x.fill_(torch.tensor(7.0, device=DEV))
    assert torch.equal(x.cpu(), torch.full((3, 4), 7.0))
    x.zero_()
    assert not x.cpu().any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int8, torch.uint8, torch.bool, torch.complex64])
def test_copies_all_directions(dtype):
    src = (torch.arange(12) % 5).to(dtype).reshape(3, 4)
    p = src.to(DEV)
    assert p.device.type == DEV and p.dtype == dtype
    q = p.clone()
    assert q.data_ptr() != p.data_ptr()
    r = torch.empty_like(p)
    r.copy_(p)  # photonic -> photonic
    assert torch.equal(r.cpu(), src)
    back = torch.empty(3, 4, dtype=dtype)
    back.copy_(q)  # photonic -> cpu via copy_
    assert torch.equal(back, src)
    t = torch.zeros(3, 4, dtype=dtype, device=DEV)
    t.copy_(src)  # cpu -> photonic via copy_
    assert torch.equal(t.cpu(), src)
    # dtype conversion while moving
    assert p.to(torch.float64).dtype == torch.float64
    assert torch.equal(src.to(DEV, torch.float32).cpu(), src.to(torch.float32))


def test_copy_non_contiguous_and_broadcast():
    src = torch.arange(20.0).reshape(4, 5)
    p = src.to(DEV)
    t = p.t()
    assert torch.equal(t.cpu(), src.t())
    assert torch.equal(t.contiguous().cpu(), src.t().contiguous())
    assert t.contiguous().is_contiguous()
    dst = torch.zeros(5, 4, device=DEV)
    dst.copy_(src.t())  # non-contiguous cpu -> photonic
    assert torch.equal(dst.cpu(), src.t())
    dst2 = torch.zeros(4, 5, device=DEV)[:, ::1]
    dst2.copy_(torch.arange(5.0))  # broadcast
    assert torch.equal(dst2.cpu(), torch.arange(5.0).expand(4, 5))
    half = torch.zeros(4, 10, device=DEV)[:, ::2]
    half.copy_(p)  # into a strided destination
    assert torch.equal(half.cpu(), src)
    assert torch.equal(p[:, ::2].cpu(), src[:, ::2])
    assert torch.equal(p.to("photonic", copy=True).cpu(), src)
    assert p.to("photonic") is p


def test_conj_neg_bits_copy():
    z = torch.tensor([1 + 2j, 3 - 1j], device=DEV)
    assert torch.equal(z.conj().cpu(), torch.tensor([1 - 2j, 3 + 1j]))
    assert torch.equal(z.conj().resolve_conj().cpu(), torch.tensor([1 - 2j, 3 + 1j]))
    assert torch.equal(z.imag.neg().cpu(), torch.tensor([-2.0, 1.0]))
    assert torch.equal(torch._neg_view(z).cpu(), -torch.tensor([1 + 2j, 3 - 1j]))
    d = torch.empty(2, dtype=torch.complex64, device=DEV)
    d.copy_(z.conj())
    assert torch.equal(d.cpu(), torch.tensor([1 - 2j, 3 + 1j]))


def test_zero_dim_and_empty():
    s = torch.tensor(3.0, device=DEV)
    assert s.dim() == 0 and s.item() == 3.0 and float(s) == 3.0
    r = s * 2 + torch.ones((), device=DEV)
    assert r.dim() == 0 and r.device.type == DEV and r.item() == 7.0
    assert (torch.ones(3, device=DEV) + s).cpu().tolist() == [4.0, 4.0, 4.0]
    e = torch.empty(0, 5, device=DEV)
    assert e.sum(0).shape == (5,) and e.sum().item() == 0.0
    assert (e + 1).shape == (0, 5) and (e + 1).device.type == DEV
    assert torch.cat([e, torch.ones(2, 5, device=DEV)]).shape == (2, 5)
    assert torch.mm(e, torch.ones(5, 3, device=DEV)).shape == (0, 3)
    z = torch.mm(torch.ones(2, 0, device=DEV), torch.ones(0, 3, device=DEV))
    assert z.device.type == DEV and torch.equal(z.cpu(), torch.zeros(2, 3))
    with pytest.raises(RuntimeError):
        torch.ones(0, device=DEV).max()
    assert bool(torch.ones((), device=DEV)) is True


def test_non_contiguous_inputs():
    torch.manual_seed(0)
    a = torch.randn(8, 6)
    b = torch.randn(6, 8)
    pa, pb = a.to(DEV), b.to(DEV)
    # transposed operands of the matmul entry
    assert torch.allclose((pa.t() @ pb.t()).cpu(), a.t() @ b.t(), atol=1e-6)
    # strided operands of fallback ops
    assert torch.equal((pa[:, ::2] + pb.t()[:, ::2]).cpu(), a[:, ::2] + b.t()[:, ::2])
    assert torch.equal(pa.t().exp().cpu(), a.t().exp())
    assert torch.equal(pa[::2].sum(1).cpu(), a[::2].sum(1))
    assert torch.equal(pa.expand(2, 8, 6).softmax(-1).cpu(), a.expand(2, 8, 6).softmax(-1))
    # in-place on a non-contiguous view
    pa.t()[1:3].add_(1)
    a.t()[1:3].add_(1)
    assert torch.equal(pa.cpu(), a)


def test_item_and_tolist_and_numpy_error():
    x = torch.tensor([1.5, 2.5], device=DEV)
    assert x.tolist() == [1.5, 2.5]
    assert x[1].item() == 2.5
    with pytest.raises(TypeError):
        x.numpy()
    assert x.cpu().numpy().tolist() == [1.5, 2.5]


def test_host_op_counting():
    x = torch.ones(4, 4, device=DEV)
    with torch.photonic.count_host_ops() as stats:
        (x.relu() + x).sum()
    assert stats, "fallback ops were not counted"
    assert any(k.startswith("aten::relu") for k in stats)
    assert all(v["calls"] >= 1 for v in stats.values())


def test_fallback_policy_error():
    x = torch.ones(2, 3, device=DEV)
    w = torch.ones(3, 3, device=DEV)
    try:
        torch.photonic.set_fallback_policy("error")
        with pytest.raises(RuntimeError, match="electronic fallback is disabled"):
            x.relu()
        y = x @ w  # matmul has a device kernel
        assert y.shape == (2, 3) and y.device.type == DEV
    finally:
        torch.photonic.set_fallback_policy("allow")
    assert x.relu().device.type == DEV


def test_host_index_tensors_allowed():
    """Like cuda: index tensors and tensor_split sections may live on the host."""
    x = torch.arange(10.0, device=DEV)
    parts = torch.tensor_split(x, torch.tensor([2, 5]))
    assert [p.device.type for p in parts] == [DEV] * 3
    assert [p.cpu().tolist() for p in parts] == [[0.0, 1.0], [2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, 9.0]]
    idx = torch.tensor([1, 3])
    assert x[idx].device.type == DEV and x[idx].cpu().tolist() == [1.0, 3.0]
    x[idx] = torch.tensor(7.0)
    assert x.cpu().tolist() == [0.0, 7.0, 2.0, 7.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]

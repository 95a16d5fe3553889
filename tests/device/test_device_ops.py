"""Ops on the photonic device compared with the same op on the CPU: values, dtype, shape and
device of every result, plus the state of inputs that in-place and out= variants mutate."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytestmark = pytest.mark.usefixtures("exact_mode")

DEV = "photonic"


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "a": torch.randn(6, 8, generator=g),
        "b": torch.randn(6, 8, generator=g),
        "pos": torch.rand(6, 8, generator=g) + 0.1,
        "unit": torch.rand(6, 8, generator=g) * 1.8 - 0.9,
        "v": torch.randn(8, generator=g),
        "m": torch.randn(8, 5, generator=g),
        "sq": torch.randn(5, 5, generator=g),
        "b3": torch.randn(3, 4, 5, generator=g),
        "c3": torch.randn(3, 5, 2, generator=g),
        "img": torch.randn(2, 3, 8, 8, generator=g),
        "idx": torch.tensor([0, 2, 5, 1]),
        "idx2d": torch.randint(0, 8, (6, 3), generator=g),
        "mask": torch.rand(6, 8, generator=g) > 0.5,
        "ints": torch.randint(-5, 10, (6, 8), generator=g),
        "tok": torch.randint(0, 10, (2, 7), generator=g),
        "emb": torch.randn(10, 4, generator=g),
        "w8": torch.randn(8, generator=g),
        "s": torch.tensor(1.5),
        "cplx": torch.randn(4, 3, dtype=torch.complex64, generator=g),
        "e": torch.empty(0, 8),
    }


# name -> function of the input dict (all tensors on one device). Each entry is one op.
OPS = {
    # elementwise math
    "add": lambda t: t["a"] + t["b"],
    "add_alpha": lambda t: torch.add(t["a"], t["b"], alpha=2.5),
    "sub": lambda t: t["a"] - t["b"],
    "mul": lambda t: t["a"] * t["b"],
    "div": lambda t: t["a"] / t["pos"],
    "div_floor": lambda t: torch.div(t["a"], t["pos"], rounding_mode="floor"),
    "pow": lambda t: t["pos"] ** 1.7,
    "pow_tensor": lambda t: torch.pow(t["pos"], t["b"]),
    "neg": lambda t: -t["a"],
    "abs": lambda t: t["a"].abs(),
    "exp": lambda t: t["a"].exp(),
    "log": lambda t: t["pos"].log(),
    "log1p": lambda t: t["pos"].log1p(),
    "sqrt": lambda t: t["pos"].sqrt(),
    "rsqrt": lambda t: t["pos"].rsqrt(),
    "sin": lambda t: t["a"].sin(),
    "cos": lambda t: t["a"].cos(),
    "tanh": lambda t: t["a"].tanh(),
    "sigmoid": lambda t: t["a"].sigmoid(),
    "atan2": lambda t: torch.atan2(t["a"], t["b"]),
    "erf": lambda t: t["a"].erf(),
    "asin": lambda t: t["unit"].asin(),
    "reciprocal": lambda t: t["pos"].reciprocal(),
    "clamp": lambda t: t["a"].clamp(-0.5, 0.5),
    "clamp_tensor": lambda t: torch.clamp(t["a"], min=t["b"]),
    "maximum": lambda t: torch.maximum(t["a"], t["b"]),
    "minimum": lambda t: torch.minimum(t["a"], t["b"]),
    "floor_round": lambda t: (t["a"] * 3).floor() + (t["a"] * 3).round(),
    "sign": lambda t: t["a"].sign(),
    "lerp": lambda t: torch.lerp(t["a"], t["b"], 0.3),
    "addcmul": lambda t: torch.addcmul(t["a"], t["b"], t["pos"], value=0.5),
    "fmod": lambda t: torch.fmod(t["a"] * 5, 1.5),
    "remainder": lambda t: torch.remainder(t["ints"], 3),
    "bitwise_and": lambda t: t["ints"] & 6,
    "eq_lt_ge": lambda t: (t["a"] == t["b"], t["a"] < t["b"], t["a"] >= 0),
    "logical_ops": lambda t: (t["mask"] & ~t["mask"].flip(0), t["mask"] | (t["a"] > 0)),
    "isnan_isfinite": lambda t: (torch.isnan(t["a"].log()), torch.isfinite(t["a"] / 0)),
    "nan_to_num": lambda t: torch.nan_to_num(t["a"].log(), nan=0.0),
    "scalar_tensor_mul": lambda t: t["a"] * t["s"],
    "type_promotion": lambda t: t["ints"] + t["a"],
    "to_dtype": lambda t: (t["a"].to(torch.float16), t["a"].to(torch.bfloat16), t["a"].to(torch.int32)),
    "complex_mul_conj": lambda t: t["cplx"] * t["cplx"].conj(),
    "complex_abs_angle": lambda t: (t["cplx"].abs(), t["cplx"].angle(), t["cplx"].real, t["cplx"].imag),
    # activations
    "relu": lambda t: F.relu(t["a"]),
    "gelu": lambda t: F.gelu(t["a"]),
    "gelu_tanh": lambda t: F.gelu(t["a"], approximate="tanh"),
    "silu": lambda t: F.silu(t["a"]),
    "leaky_relu": lambda t: F.leaky_relu(t["a"], 0.1),
    "softplus": lambda t: F.softplus(t["a"]),
    "hardtanh": lambda t: F.hardtanh(t["a"]),
    "elu": lambda t: F.elu(t["a"]),
    # reductions
    "sum": lambda t: t["a"].sum(),
    "sum_dim": lambda t: t["a"].sum(1, keepdim=True),
    "mean": lambda t: t["a"].mean(0),
    "prod": lambda t: t["pos"].prod(1),
    "var_std": lambda t: (t["a"].var(1), t["a"].std(0, correction=0)),
    "max_dim": lambda t: t["a"].max(1),
    "min": lambda t: t["a"].min(),
    "amax": lambda t: t["a"].amax((0, 1)),
    "argmax": lambda t: (t["a"].argmax(), t["a"].argmax(1)),
    "argmin": lambda t: t["a"].argmin(0),
    "logsumexp": lambda t: t["a"].logsumexp(1),
    "norm": lambda t: (t["a"].norm(), torch.linalg.vector_norm(t["a"], 3, dim=1)),
    "all_any": lambda t: (t["mask"].all(), t["mask"].any(1)),
    "cumsum": lambda t: t["a"].cumsum(1),
    "cumprod": lambda t: t["pos"].cumprod(0),
    "cummax": lambda t: t["a"].cummax(1),
    "median": lambda t: t["a"].median(1),
    "count_nonzero": lambda t: t["mask"].count_nonzero(0),
    "aminmax": lambda t: torch.aminmax(t["a"], dim=0),
    # softmax and norms
    "softmax": lambda t: t["a"].softmax(-1),
    "log_softmax": lambda t: F.log_softmax(t["a"], 0),
    "layer_norm": lambda t: F.layer_norm(t["a"], (8,), t["w8"], t["v"]),
    "layer_norm_noaffine": lambda t: F.layer_norm(t["b3"], (4, 5)),
    "rms_norm": lambda t: F.rms_norm(t["a"], (8,), t["w8"], eps=1e-6),
    "group_norm": lambda t: F.group_norm(t["img"], 1),
    "batch_norm_eval": lambda t: F.batch_norm(t["img"], t["img"].mean((0, 2, 3)), t["img"].var((0, 2, 3)) + 1),
    "normalize": lambda t: F.normalize(t["a"], dim=1),
    # embedding, losses, linear algebra
    "embedding": lambda t: F.embedding(t["tok"], t["emb"]),
    "one_hot": lambda t: F.one_hot(t["tok"], 10),
    "cross_entropy": lambda t: F.cross_entropy(t["a"], t["idx2d"][:, 0]),
    "mse_loss": lambda t: F.mse_loss(t["a"], t["b"]),
    "mm": lambda t: t["a"] @ t["m"],
    "mv": lambda t: t["a"] @ t["v"],
    "bmm": lambda t: torch.bmm(t["b3"], t["c3"]),
    "matmul_broadcast": lambda t: torch.matmul(t["b3"], t["c3"][0]),
    "linear": lambda t: F.linear(t["a"], t["m"].t(), t["m"][0]),
    "addmm": lambda t: torch.addmm(t["m"][0], t["a"], t["m"], beta=0.5, alpha=2.0),
    "baddbmm": lambda t: torch.baddbmm(t["b3"][:, :, :2], t["b3"], t["c3"], alpha=0.5),
    "einsum": lambda t: torch.einsum("bij,bjk->bik", t["b3"], t["c3"]),
    "outer_dot": lambda t: (torch.outer(t["v"], t["w8"]), torch.dot(t["v"], t["w8"])),
    "sdpa": lambda t: F.scaled_dot_product_attention(t["b3"][None], t["b3"][None], t["b3"][None], is_causal=True),
    "cdist": lambda t: torch.cdist(t["a"], t["b"]),
    "triu_tril": lambda t: (t["sq"].triu(1), t["sq"].tril()),
    "linalg_inv": lambda t: torch.linalg.inv(t["sq"] + 5 * torch.eye(5, device=t["sq"].device)),
    # shape and joining
    "cat": lambda t: torch.cat([t["a"], t["b"]], 1),
    "stack": lambda t: torch.stack([t["a"], t["b"]]),
    "split_cat": lambda t: torch.cat(t["a"].split(3, 1)[::-1], 1),
    "flip_roll": lambda t: (t["a"].flip(1), t["a"].roll(2, 0)),
    "repeat": lambda t: t["a"].repeat(2, 1),
    "repeat_interleave": lambda t: t["a"].repeat_interleave(2, 0),
    "expand_contiguous": lambda t: t["v"].expand(3, 8).contiguous(),
    "pad": lambda t: F.pad(t["a"], (1, 2, 0, 1), value=0.5),
    "tile_permute": lambda t: t["b3"].permute(2, 0, 1).contiguous(),
    "meshgrid": lambda t: torch.meshgrid(t["v"], t["w8"], indexing="ij"),
    "chunk_unbind": lambda t: tuple(x * 2 for x in t["b3"].unbind(1)),
    # indexing
    "index_tensor": lambda t: t["a"][t["idx"]],
    "index_bool": lambda t: t["a"][t["mask"]],
    "index_multi": lambda t: t["a"][t["idx"], t["idx"]],
    "index_select": lambda t: t["a"].index_select(1, t["idx"]),
    "take_along_dim": lambda t: torch.take_along_dim(t["a"], t["idx2d"], 1),
    "gather": lambda t: t["a"].gather(1, t["idx2d"]),
    "scatter": lambda t: torch.zeros(6, 8, device=t["a"].device).scatter(1, t["idx2d"], t["b"]),
    "scatter_add": lambda t: torch.zeros(6, 8, device=t["a"].device).scatter_add(1, t["idx2d"], t["b"]),
    "scatter_reduce": lambda t: t["a"].scatter_reduce(1, t["idx2d"], t["b"], "amax", include_self=False),
    "index_add": lambda t: t["a"].index_add(0, t["idx"][:3], t["b"][:3], alpha=2),
    "index_copy": lambda t: t["a"].index_copy(0, t["idx"][:3], t["b"][:3]),
    "index_fill": lambda t: t["a"].index_fill(1, t["idx"], -1.0),
    "masked_fill": lambda t: t["a"].masked_fill(t["mask"], float("-inf")),
    "masked_select": lambda t: t["a"].masked_select(t["mask"]),
    "masked_scatter": lambda t: t["a"].masked_scatter(t["mask"], t["b"]),
    "where": lambda t: torch.where(t["mask"], t["a"], t["b"]),
    "where_scalar": lambda t: torch.where(t["a"] > 0, t["a"], 0.0),
    "nonzero": lambda t: t["mask"].nonzero(),
    "nonzero_tuple": lambda t: torch.nonzero(t["mask"], as_tuple=True),
    "argwhere": lambda t: torch.argwhere(t["a"] > 0.5),
    # sort and friends
    "topk": lambda t: t["a"].topk(3, 1),
    "sort": lambda t: t["a"].sort(1, descending=True),
    "argsort": lambda t: t["a"].argsort(0),
    "unique": lambda t: torch.unique(t["ints"], return_inverse=True, return_counts=True),
    "kthvalue": lambda t: t["a"].kthvalue(2, 1),
    "searchsorted": lambda t: torch.searchsorted(t["v"].sort().values, t["a"]),
    "bincount": lambda t: torch.bincount(t["tok"].flatten(), minlength=12),
    "histc": lambda t: torch.histc(t["a"], bins=7, min=-2, max=2),
    "bucketize": lambda t: torch.bucketize(t["a"], torch.linspace(-1, 1, 5, device=t["a"].device)),
    # convolution and pooling
    "conv2d": lambda t: F.conv2d(t["img"], t["img"][:2, :, :3, :3], padding=1),
    "max_pool2d": lambda t: F.max_pool2d(t["img"], 2),
    "avg_pool2d": lambda t: F.avg_pool2d(t["img"], 3, stride=2, padding=1),
    "adaptive_avg_pool": lambda t: F.adaptive_avg_pool2d(t["img"], (3, 3)),
    "interpolate": lambda t: F.interpolate(t["img"], scale_factor=1.5, mode="bilinear"),
    # factories from a device tensor
    "zeros_like": lambda t: (torch.zeros_like(t["a"]), torch.ones_like(t["ints"]), torch.full_like(t["a"], 3.0)),
    "new_tensor": lambda t: t["a"].new_tensor([1.0, 2.0]) + t["a"].new_ones(2),
    "arange_linspace": lambda t: (torch.arange(5, device=t["a"].device), torch.linspace(0, 1, 7, device=t["a"].device)),
    "clone_contig": lambda t: t["a"].t().clone(memory_format=torch.contiguous_format),
    # 0-d and empty
    "zero_dim": lambda t: (t["s"] * 2, t["s"].exp(), t["a"].sum() + t["s"]),
    "empty_ops": lambda t: (t["e"] + 1, t["e"].sum(0), t["e"].mean(1), torch.cat([t["e"], t["a"]])),
    "empty_mm": lambda t: t["e"] @ t["m"],
}


def _to(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _leaves(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _leaves(o)]
    raise TypeError(f"unexpected result {type(out)}")


def _compare(got, expected, exact=False):
    got_l, exp_l = _leaves(got), _leaves(expected)
    assert len(got_l) == len(exp_l)
    for g, e in zip(got_l, exp_l):
        assert g.device.type == DEV, f"result on {g.device}"
        assert g.dtype == e.dtype and g.shape == e.shape
        if exact:
            assert torch.equal(g.cpu(), e) or torch.testing.assert_close(g.cpu(), e, rtol=0, atol=0, equal_nan=True)
        else:
            torch.testing.assert_close(g.cpu(), e, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_op_count():
    assert len(OPS) >= 60


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_cpu(name):
    fn = OPS[name]
    cpu_in = _inputs()
    dev_in = _to(cpu_in, DEV)
    expected = fn(cpu_in)
    got = fn(dev_in)
    _compare(got, expected)
    # inputs untouched
    for k in cpu_in:
        assert torch.equal(dev_in[k].cpu(), cpu_in[k]), k


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_cpu_non_contiguous(name):
    """The same ops on inputs that are strided views of larger device tensors."""
    cpu_in = _inputs(1)

    def strided(t, device):
        if t.dim() == 0 or t.numel() == 0:
            return t.to(device)
        big = torch.zeros(*t.shape[:-1], t.shape[-1] * 2, dtype=t.dtype, device=device)
        v = big[..., ::2]
        v.copy_(t)
        assert not v.is_contiguous() or t.shape[-1] <= 1
        return v

    dev_in = {k: strided(v, DEV) for k, v in cpu_in.items()}
    cpu_nc = {k: strided(v, "cpu") for k, v in cpu_in.items()}
    _compare(OPS[name](dev_in), OPS[name](cpu_nc))


INPLACE = {
    "add_": lambda t: t["a"].add_(t["b"]),
    "mul_scalar_": lambda t: t["a"].mul_(3.0),
    "clamp_": lambda t: t["a"].clamp_(min=0),
    "relu_": lambda t: F.relu_(t["a"]),
    "exp_": lambda t: t["a"].exp_(),
    "masked_fill_": lambda t: t["a"].masked_fill_(t["mask"], 0.0),
    "index_put_": lambda t: t["a"].index_put_((t["idx"],), t["v"], accumulate=True),
    "index_put_bool": lambda t: t["a"].__setitem__(t["mask"], 9.0),
    "setitem_tensor": lambda t: t["a"].__setitem__((slice(None), t["idx"]), t["b"][:, :4]),
    "scatter_": lambda t: t["a"].scatter_(1, t["idx2d"], 1.0),
    "scatter_add_": lambda t: t["a"].scatter_add_(1, t["idx2d"], t["b"]),
    "index_add_": lambda t: t["a"].index_add_(1, t["idx"], t["b"][:, :4]),
    "copy_": lambda t: t["a"].copy_(t["b"]),
    "addmm_": lambda t: t["a"].addmm_(t["b"], t["a"].new_ones(8, 8), beta=0.5, alpha=2),
    "transpose_view_add_": lambda t: t["a"].t().add_(1),
    "slice_mul_": lambda t: t["a"][1:4, 2:].mul_(-2),
    "uniform_seeded": lambda t: (torch.manual_seed(3), t["a"].uniform_(-1, 1))[1],
    "normal_seeded": lambda t: (torch.manual_seed(3), t["a"].normal_())[1],
    "bernoulli_seeded": lambda t: (torch.manual_seed(3), t["a"].bernoulli_(0.3))[1],
    "zero_": lambda t: t["a"].zero_(),
    "sort_values_": lambda t: t["a"].copy_(t["a"].sort(1).values),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_matches_cpu(name):
    cpu_in = _inputs()
    dev_in = _to(cpu_in, DEV)
    a_before = dev_in["a"]
    ptr = a_before.data_ptr()
    INPLACE[name](cpu_in)
    res = INPLACE[name](dev_in)
    if isinstance(res, torch.Tensor) and res.shape == a_before.shape and res.stride() == a_before.stride():
        assert res is a_before, "an in-place op must return its self argument"
    assert dev_in["a"] is a_before and dev_in["a"].data_ptr() == ptr, "in-place op moved the tensor"
    _compare(dev_in["a"], cpu_in["a"])


OUT = {
    "add.out": (lambda t, out: torch.add(t["a"], t["b"], out=out), lambda t: torch.empty(6, 8)),
    "exp.out": (lambda t, out: torch.exp(t["a"], out=out), lambda t: torch.empty(6, 8)),
    "mm.out": (lambda t, out: torch.mm(t["a"], t["m"], out=out), lambda t: torch.empty(6, 5)),
    "mm.out_resize": (lambda t, out: torch.mm(t["a"], t["m"], out=out), lambda t: torch.empty(0)),
    "addmm.out": (lambda t, out: torch.addmm(t["m"][0], t["a"], t["m"], out=out), lambda t: torch.empty(6, 5)),
    "bmm.out": (lambda t, out: torch.bmm(t["b3"], t["c3"], out=out), lambda t: torch.empty(3, 4, 2)),
    "sum.out": (lambda t, out: torch.sum(t["a"], 1, out=out), lambda t: torch.empty(6)),
    "cat.out": (lambda t, out: torch.cat([t["a"], t["b"]], out=out), lambda t: torch.empty(12, 8)),
    "softmax.out_resize": (lambda t, out: torch.softmax(t["a"], 1, out=out), lambda t: torch.empty(0)),
    "cumsum.out": (lambda t, out: torch.cumsum(t["a"], 0, out=out), lambda t: torch.empty(6, 8)),
    "where.out": (lambda t, out: torch.where(t["mask"], t["a"], t["b"], out=out), lambda t: torch.empty(6, 8)),
    "index_select.out": (lambda t, out: torch.index_select(t["a"], 0, t["idx"], out=out), lambda t: torch.empty(2)),
    "topk.out": (lambda t, out: torch.topk(t["a"], 2, out=out),
                 lambda t: (torch.empty(6, 2), torch.empty(6, 2, dtype=torch.long))),
    "max.dim_max": (lambda t, out: torch.max(t["a"], 1, out=out),
                    lambda t: (torch.empty(6), torch.empty(6, dtype=torch.long))),
}


@pytest.mark.parametrize("name", sorted(OUT))
def test_out_variant_matches_cpu(name):
    fn, make_out = OUT[name]
    cpu_in = _inputs()
    dev_in = _to(cpu_in, DEV)
    cpu_out = make_out(cpu_in)
    dev_out = tuple(o.to(DEV) for o in cpu_out) if isinstance(cpu_out, tuple) else cpu_out.to(DEV)
    r_cpu = fn(cpu_in, cpu_out)
    r_dev = fn(dev_in, dev_out)
    _compare(r_dev, r_cpu)
    _compare(dev_out, cpu_out)
    for r, o in zip(_leaves(r_dev), _leaves(dev_out)):
        assert r is o, "out= must return the out tensor itself"


def test_out_on_wrong_device_raises():
    a = torch.ones(3, 3, device=DEV)
    with pytest.raises(RuntimeError, match="same device|device"):
        torch.add(a, a, out=torch.empty(3, 3))
    with pytest.raises(RuntimeError, match="same device"):
        torch.mm(a, a, out=torch.empty(3, 3))


def test_grad_through_fallback_ops():
    cpu_in = _inputs()
    dev_in = _to(cpu_in, DEV)

    def loss(t):
        a = t["a"].clone().requires_grad_()
        w = t["m"].clone().requires_grad_()
        y = F.layer_norm(F.gelu(a @ w).softmax(-1), (5,)).gather(1, t["idx2d"][:, :2] % 5)
        y.pow(2).sum().backward()
        return a.grad, w.grad

    _compare(loss(dev_in), loss(cpu_in))

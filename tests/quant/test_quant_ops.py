"""Op plumbing: schemas, meta-device shape propagation, torch.compile, dtypes, API surface."""
import pytest
import torch

import torch_photonic as tp
from quant_helpers import CASES, case_id


def test_api_surface():
    assert tp.formats() == ("fp8_e4m3", "fp8_e5m2", "fp4_e2m1")
    assert tp.scalings() == ("none", "tensor", "channel", "mx", "nvfp4", "block128", "block128_ue8m0")
    s = str(torch.ops.photonic.quantize.default._schema)
    assert 'str scaling="none"' in s and "-> (Tensor codes, Tensor scales, Tensor tensor_scale)" in s
    assert "SymInt[] shape" in str(torch.ops.photonic.dequantize.default._schema)


# weight=True quantizes 128x128 blocks, which need at least 2 dims: fewer are rejected
# (test_quant_errors.py::test_weight_blocks_need_2d), so those combinations are left out here.
META_CASES = [pytest.param(case, shape, id=f"{case_id(case)}-{'x'.join(map(str, shape)) or 'scalar'}")
              for shape in [(5, 70), (2, 130, 33), (7,), ()]
              for case in CASES if not (case[3] and len(shape) < 2)]


@pytest.mark.parametrize("case,shape", META_CASES)
def test_meta_shapes_match_cpu(case, shape):
    fmt, scaling, rule, weight = case
    x = torch.randn(shape)
    cpu = torch.ops.photonic.quantize(x, fmt, scaling, rule, weight)
    meta = torch.ops.photonic.quantize(x.to("meta"), fmt, scaling, rule, weight)
    for c, m in zip(cpu, meta):
        assert m.device.type == "meta" and m.shape == c.shape and m.dtype == c.dtype
    fq = torch.ops.photonic.fake_quantize(x.to("meta"), fmt, scaling, rule, weight)
    assert fq.shape == x.shape and fq.dtype == x.dtype
    dq = torch.ops.photonic.dequantize(*meta, fmt, scaling, list(shape), weight, torch.bfloat16)
    assert dq.shape == x.shape and dq.dtype == torch.bfloat16


def test_scale_dtypes_and_tensor_scale():
    x = torch.randn(4, 64)
    assert tp.quantize(x, "fp8_e4m3", "mx").scales.dtype == torch.float8_e8m0fnu
    assert tp.quantize(x, "fp8_e4m3", "block128_ue8m0").scales.dtype == torch.float8_e8m0fnu
    q = tp.quantize(x, "fp4_e2m1", "nvfp4")
    assert q.scales.dtype == torch.float8_e4m3fn and q.codes.shape == (4, 32)
    assert q.tensor_scale.shape == () and q.tensor_scale.item() == (x.abs().max() / 2688).item()
    assert tp.quantize(x, "fp8_e4m3", "tensor").tensor_scale.item() == 1.0
    assert tp.quantize(x, "fp8_e4m3", "block128").scales.dtype == torch.float32


def test_fp4_packing_low_nibble_first():
    q = tp.quantize(torch.tensor([1.0, 6.0, -0.5]), "fp4_e2m1")
    assert q.codes.tolist() == [0x72, 0x09]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_dtype_preserved(dtype):
    x = torch.randn(3, 40).to(dtype)
    y = tp.fake_quantize(x, "fp8_e4m3", "mx")
    assert y.dtype == dtype
    assert torch.equal(y, tp.fake_quantize(x.float(), "fp8_e4m3", "mx").to(dtype))
    assert torch.equal(tp.dequantize(tp.quantize(x, "fp8_e4m3", "mx"), dtype), y)


def test_non_contiguous_input():
    x = torch.randn(64, 40).t()
    assert torch.equal(tp.fake_quantize(x, "fp8_e4m3", "mx"), tp.fake_quantize(x.contiguous(), "fp8_e4m3", "mx"))


@pytest.mark.parametrize("scaling", ["none", "mx", "nvfp4", "block128"])
def test_torch_compile_aot_eager(scaling):
    fmt = "fp4_e2m1" if scaling == "nvfp4" else "fp8_e4m3"

    def f(x):
        return tp.fake_quantize(x * 2, fmt, scaling) + 1

    x = torch.randn(8, 96)
    torch._dynamo.reset()
    got = torch.compile(f, backend="aot_eager", fullgraph=True)(x)
    assert torch.equal(got, f(x))

    def g(x):
        q = tp.quantize(x, fmt, scaling)
        return tp.dequantize(q)

    assert torch.equal(torch.compile(g, backend="aot_eager", fullgraph=True)(x), g(x))


def test_torch_compile_dynamic_shapes():
    def f(x):
        return tp.fake_quantize(x, "fp8_e4m3", "mx")

    cf = torch.compile(f, backend="aot_eager", fullgraph=True, dynamic=True)
    for n in (40, 70):
        x = torch.randn(3, n)
        assert torch.equal(cf(x), f(x))


def test_empty_tensors():
    for fmt, scaling, rule, weight in CASES:
        x = torch.empty(0, 40) if not weight else torch.empty(3, 0)
        q = tp.quantize(x, fmt, scaling, rule, weight)
        assert tp.dequantize(q).shape == x.shape
        assert tp.fake_quantize(x, fmt, scaling, rule, weight).shape == x.shape


def test_baseline_isa_matches(tmp_path):
    """The baseline (non-AVX2) element loops give the same bits as the ones this CPU runs."""
    import os
    import subprocess
    import sys

    script = (
        "import torch, torch_photonic as tp, sys\n"
        "sys.path.insert(0, %r)\n"
        "from quant_helpers import CASES\n"
        "g = torch.Generator().manual_seed(0)\n"
        "x = torch.randn(130, 150, generator=g) * torch.exp2(torch.randint(-20, 20, (130, 150), generator=g).float())\n"
        "out = {}\n"
        "for c in CASES:\n"
        "    q = tp.quantize(x, *c)\n"
        "    out[str(c)] = (tp.fake_quantize(x, *c), q.codes, q.scales.view(torch.uint8) if q.scales.dtype != torch.float32 else q.scales, tp.dequantize(q))\n"
        "torch.save(out, sys.argv[1])\n"
    ) % os.path.dirname(__file__)
    env = dict(os.environ)
    res = {}
    for isa in ("baseline", "native"):
        env["TORCH_PHOTONIC_QUANT_ISA"] = isa
        path = tmp_path / f"{isa}.pt"
        subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True)
        res[isa] = torch.load(path)
    for k, vals in res["baseline"].items():
        for a, b in zip(vals, res["native"][k]):
            assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)), k

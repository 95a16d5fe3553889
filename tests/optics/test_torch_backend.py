"""The optical kernels in torch ops (:mod:`torch_photonic.optics.torch_kernels`) against the C++
kernels on the CPU, bit for bit (``torch.equal`` and equal clip counts), with every noise term
on: programming noise, drift with its spread, accumulated 1/f read noise, shot and receiver
noise, DAC and ADC rounding, ADC clipping and bound management; on the presets
glass-pcm-200mm, silicon-photonic-128 and pcm-tensor-core-2021, shapes that do and do not
divide the tiles, static and dynamic input ranges, fixed and calibrated ADC ranges. Also the
counter-based normals alone over 1e6 indices, a whole converted model, a hardware-aware
training step (outputs and gradients), and the backend switch.

Everything here is bit-identical; the one piece not checked bit for bit on this machine is the
float64 path of the normals' two outer intervals that non-CPU devices take (CPU tensors compute
them with Python's ``math``, the platform libm the C++ uses): it is checked here on the CPU
against ``math`` after the rounding to float32 (the same bits), but a device's own log / erfc /
exp could differ from the CPU's in the last bit of a double.
"""
from __future__ import annotations

import copy
import ctypes

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.hardware.photon_budget import kernel_noise
from torch_photonic.optics import kernels as optical
from torch_photonic.optics import torch_kernels as tk
from torch_photonic.optics.torch_kernels import numerics, readout, rng

OPS = torch.ops.photonic
PRESETS = ["glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021"]
# (N, K) per preset: one that divides the tiles and one that does not
SHAPES = {
    "glass-pcm-200mm": [(24, 1024), (37, 1100)],
    "silicon-photonic-128": [(40, 256), (33, 300)],
    "pcm-tensor-core-2021": [(8, 27), (10, 20)],
}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the torch kernels run many small element-wise ops, whose parallel
    regions crawl on a shared, oversubscribed CPU. Both implementations run under the same
    setting; :func:`test_same_bits_with_two_threads` covers two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _symbol(name):
    """A function the extension exports (the C++ normals and row products, for the tests)."""
    try:
        return getattr(ctypes.CDLL(tp._C.__file__), name)
    except AttributeError:
        pytest.skip(f"the extension does not export {name}")


def program_args(w, cfg, seed):
    f, a, p = cfg.formats, cfg.array, cfg.pcm
    return (w, f.weight_format, f.weight_scaling, f.scale_rule, p.levels, a.cells_per_weight,
            p.quantize_levels, list(p.program_noise_coeffs), a.tile_rows, seed)


def drift_args(weff, scales, cfg, seconds, seed, compensation=None):
    p, a = cfg.pcm, cfg.array
    read = [float(p.read_noise_q0), float(p.read_noise_q_exponent), float(p.read_noise_q_max),
            float(p.read_time_s)]
    return (weff, scales, a.cells_per_weight, a.tile_rows, list(p.drift_nu_coeffs),
            list(p.drift_nu_range), list(p.drift_nu_std_coeffs), list(p.drift_nu_std_range),
            float(p.drift_t0_s), read, float(seconds),
            compensation or p.drift_compensation, seed)


def mvm_args(x, weff, scales, cfg, seed, *, full_scale=None, input_range=None, cm=True,
             bias=None):
    f, c, a, m = cfg.formats, cfg.converters, cfg.array, cfg.mapping
    nz = kernel_noise(cfg)
    fs = full_scale if full_scale is not None else torch.tensor(float(m.adc_full_scale))
    cmw = None
    if cm:
        cmw = (weff.abs() if a.cells_per_weight == 2 else weff).to(torch.bfloat16)
    return (x, weff, scales, fs, input_range, cmw, f.activation_format, f.activation_scaling,
            f.scale_rule, c.dac_bits, c.dac_rounding, m.block_exponent, c.adc_bits,
            c.adc_rounding, float(nz["photons_per_unit"]), float(nz["receiver_sigma"]),
            int(m.bound_management), a.tile_rows, a.tile_cols, a.cells_per_weight, seed, bias)


def assert_same(a, b):
    if isinstance(a, (tuple, list)):
        for u, v in zip(a, b):
            assert_same(u, v)
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    if not torch.equal(a, b):
        d = int((a != b).sum())
        diff = float((a.double() - b.double()).abs().max())
        raise AssertionError(f"{d} of {a.numel()} differ, max |diff| {diff}")


# ---------------------------------------------------------------------------- random numbers

def test_normals_match_the_cpp_generator_over_a_million_indices():
    fill = _symbol("_ZN8photonic7optical12fill_normalsEmllPf")
    fill.argtypes = [ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    n, i0 = 1_000_001, 977  # an odd start: the first element is the low half of a hash
    for seed, stream in [(0, rng.STREAM_READ), (-3, rng.STREAM_PROGRAM), (2 ** 62, 5)]:
        key = rng.stream_key(seed, stream)
        want = torch.empty(n)
        fill(key, i0, n, want.data_ptr())
        got = rng.normals_range(key, i0, n)
        assert_same(got, want)
        u = rng.uniform_bits(key, torch.arange(i0, i0 + n))
        outer = ((u >> 20) == 0) | ((u >> 20) == 4095)
        assert int(outer.sum()) > 300  # about 1 in 2048 lands in the two exact intervals
        assert float(want[outer].abs().min()) > 3.3
    # scattered indices through the general path, against normal_at
    at = _symbol("_ZN8photonic7optical9normal_atEmm")
    at.argtypes, at.restype = [ctypes.c_uint64, ctypes.c_uint64], ctypes.c_float
    key = rng.stream_key(11, rng.STREAM_DRIFT)
    idx = torch.tensor([0, 1, 2, 3, 12345, 2 ** 33 + 1, 2 ** 62 + 7])
    want = torch.tensor([at(key, int(i)) for i in idx])
    assert_same(rng.normals(key, idx), want)


def test_uint64_arithmetic_on_int64_tensors():
    vals = [0, 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 0x9E3779B97F4A7C15, 123456789]
    got = rng.mix64_t(torch.tensor([rng.signed(v) for v in vals]))
    assert [v & (2 ** 64 - 1) for v in got.tolist()] == [rng.mix64(v) for v in vals]


def test_outer_intervals_in_float64_torch_ops_give_the_libm_floats():
    """The path non-CPU devices take for |z| > 3.35: float64 torch ops instead of ``math``.
    On the CPU the doubles may differ in the last bit, the float32 results do not (checked on
    a sample of the 2^21 possible inputs; all of them agree on this machine)."""
    g = torch.Generator().manual_seed(0)
    hs = torch.cat([torch.randint(0, 1 << 20, (3000,), generator=g),
                    torch.randint(4095 << 20, 1 << 32, (3000,), generator=g),
                    torch.tensor([0, 1, (1 << 20) - 1, 4095 << 20, (1 << 32) - 1])])
    exact = torch.tensor([rng.inv_norm_cdf((h + 0.5) / 4294967296.0) for h in hs.tolist()],
                         dtype=torch.float64)
    dev = rng._inv_norm_cdf_t((hs.double() + 0.5) * (1.0 / 4294967296.0))
    assert_same(dev.float(), exact.float())


# ---------------------------------------------------------------------------- float helpers

def test_fma_rounds_once_where_double_rounding_would_not():
    # a b + c lies just below the midpoint 1 + 1.5 ulp: float64 rounds it onto the midpoint,
    # whose tie then goes to even; the fused result stays below
    a = torch.tensor([(1 + 2 ** -23) * 2 ** -12, -(1 + 2 ** -23) * 2 ** -12])
    b = torch.tensor([(1 - 2 ** -23) * 2 ** -12] * 2)
    c = torch.tensor([1 + 2 ** -23, -(1 + 2 ** -23)])
    assert numerics.fma(a, b, c).tolist() == [1 + 2 ** -23, -(1 + 2 ** -23)]
    assert (a.double() * b.double() + c.double()).float().tolist() != [1 + 2 ** -23,
                                                                          -(1 + 2 ** -23)]


@pytest.mark.parametrize("rows", [1, 3, 8])
def test_bound_management_row_products_match_the_cpp(rows):
    f = _symbol("_ZN8photonic7optical17tile_row_productsEPKflllS2_lPf")
    f.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
    g = torch.Generator().manual_seed(rows)
    w = torch.randn(19, 140, generator=g)
    for kl, scale in [(1, 1.0), (16, 1.0), (37, 1.0), (100, 1e-19)]:
        xs = (torch.randn(rows, kl, generator=g) * scale).contiguous()
        wt = w * scale
        want = torch.empty(19, rows)
        f(wt.data_ptr() + 4 * 3, 140, 19, kl, xs.data_ptr(), rows, want.data_ptr())
        assert_same(readout.tile_row_products(wt[:, 3:3 + kl], xs), want)
    # DAC-rounded values: exact products, where ties between float32 values do happen
    wq = torch.randint(-31, 32, (20, 512), generator=g).float() / 31
    xq = (torch.randint(-127, 128, (rows, 512), generator=g).float() / 127).contiguous()
    want = torch.empty(20, rows)
    f(wq.data_ptr(), 512, 20, 512, xq.data_ptr(), rows, want.data_ptr())
    assert_same(readout.tile_row_products(wq, xq), want)


# ---------------------------------------------------------------------------- program, drift

@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("cpw", [2, 1])
def test_program_and_drift_bit_for_bit(name, cpw):
    cfg = tp.preset(name, array__cells_per_weight=cpw)
    g = torch.Generator().manual_seed(1)
    for n, k in SHAPES[name]:
        w = torch.randn(n, k, generator=g)
        w[0, : min(k, cfg.array.tile_rows)] = 0.0  # an all-zero block
        w[1, 1] = 0.0                              # a reset cell
        want = OPS.program(*program_args(w, cfg, 7))
        assert_same(tk.program(*program_args(w, cfg, 7)), want)
        weff, scales = want
        for seconds, comp in [(0.0, None), (1e5, None), (3.15e7, "per_column"),
                              (3.15e7, "none")]:
            args = drift_args(weff, scales, cfg, seconds, 7, comp)
            assert_same(tk.drift(*args), OPS.drift(*args))


@pytest.mark.parametrize("quantize", [True, False])
@pytest.mark.parametrize("cpw", [2, 1])
def test_draw_cells_bit_for_bit(quantize, cpw):
    g = torch.Generator().manual_seed(2)
    w = torch.randn(21, 50, generator=g)
    w[0, :16] = 0.0
    w[2, 3] = 0.0
    steps = 31 if quantize else 64
    off = torch.randn(steps + 1, generator=g) * 0.01
    sig = torch.rand(steps + 1, generator=g) * 0.05
    for o, s in [(None, None), (off, sig)]:
        args = (w, o, s, "none", "none", "floor", 32, cpw, quantize, 16, 9)
        assert_same(tk.draw_cells(*args), OPS.draw_cells(*args))


# ---------------------------------------------------------------------------- mvm

def _aged_state(cfg, n, k, seed, g):
    w = torch.randn(n, k, generator=g)
    w[0, : min(k, cfg.array.tile_rows)] = 0.0
    weff, scales = OPS.program(*program_args(w, cfg, seed))
    aged = OPS.drift(*drift_args(weff, scales, cfg, 1e5, seed))  # drift and read noise
    return aged, scales


@pytest.mark.parametrize("name", PRESETS)
def test_mvm_bit_for_bit_with_every_noise_term(name):
    # a full scale that clips, and bound management on
    base = tp.preset(name)
    cfg = tp.preset(name, mapping__adc_full_scale=min(2.0, float(base.mapping.adc_full_scale)),
                    mapping__bound_management=4)
    nz = kernel_noise(cfg)
    assert nz["photons_per_unit"] > 0 and nz["receiver_sigma"] > 0
    assert cfg.converters.dac_rounding and cfg.converters.adc_rounding
    g = torch.Generator().manual_seed(3)
    retries = clipped = in_clipped = 0
    for n, k in SHAPES[name]:
        weff, scales = _aged_state(cfg, n, k, 5, g)
        t = scales.shape[1]
        for m in (3, 13):  # bound management re-reads <= 8 rows per tile in one pass, more by GEMM
            x = torch.randn(m, k, generator=g)
            x[0] = 0.0  # a row with zero gains: no detector noise
            bias = torch.randn(n, generator=g)
            cal_fs = torch.rand(n, t, generator=g) * 3 + 0.3
            ranges = torch.rand(t, generator=g) * 1.5 + 0.5  # static ranges: some inputs clip
            for fs, ir, cm in [(None, None, True), (cal_fs, None, False), (None, ranges, True),
                               (cal_fs, ranges, True)]:
                args = mvm_args(x, weff, scales, cfg, 42, full_scale=fs, input_range=ir, cm=cm,
                                bias=bias)
                want = OPS.mvm(*args)
                assert_same(tk.mvm(*args), want)
                retries += int(want[1][4])
                clipped += int(want[1][3])
                in_clipped += int(want[1][1])
    assert retries > 0 and in_clipped > 0


@pytest.mark.parametrize("cpw", [2, 1])
def test_mvm_paths_without_noise_or_adc(cpw):
    """The exact path (one GEMM), noise without ADC, ADC without noise; single cells count
    the offset light."""
    cfg = tp.preset("silicon-photonic-128", array__cells_per_weight=cpw,
                    mapping__bound_management=2, mapping__adc_full_scale=3.0)
    g = torch.Generator().manual_seed(4)
    weff, scales = _aged_state(cfg, 33, 300, 1, g)
    x = torch.randn(2, 5, 300, generator=g)
    ranges = torch.tensor([1.0, 2.0, 0.7])
    for ppu, rx, adc in [(0.0, 0.0, False), (50.0, 0.2, False), (0.0, 0.0, True),
                         (50.0, 0.0, True), (0.0, 0.3, True)]:
        for ir in (None, ranges):
            args = list(mvm_args(x, weff, scales, cfg, 8, input_range=ir, cm=False))
            args[13], args[14], args[15] = adc, ppu, rx
            assert_same(tk.mvm(*args), OPS.mvm(*args))


def test_same_bits_with_two_threads():
    torch.set_num_threads(2)
    cfg = tp.preset("silicon-photonic-128", mapping__bound_management=3,
                    mapping__adc_full_scale=2.0)
    g = torch.Generator().manual_seed(7)
    w = torch.randn(40, 300, generator=g)
    weff, scales = OPS.program(*program_args(w, cfg, 1))
    assert_same(tk.program(*program_args(w, cfg, 1)), (weff, scales))
    args = drift_args(weff, scales, cfg, 1e5, 1)
    aged = OPS.drift(*args)
    assert_same(tk.drift(*args), aged)
    x = torch.randn(12, 300, generator=g)
    args = mvm_args(x, aged, scales, cfg, 3)
    want = OPS.mvm(*args)
    assert int(want[1][4]) > 0
    assert_same(tk.mvm(*args), want)


# ---------------------------------------------------------------------------- wrappers, model

def test_kernel_backend_follows_the_environment(monkeypatch):
    monkeypatch.delenv("TORCH_PHOTONIC_BACKEND", raising=False)
    assert tp.kernel_backend() == "cpp"
    assert optical.ops_for(torch.device("cpu")) is OPS
    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", "torch")
    assert tp.kernel_backend() == "torch"
    assert optical.ops_for(torch.device("cpu")) is tk
    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", "cpp")
    assert tp.kernel_backend() == "cpp"
    assert optical.ops_for(torch.device("cuda")) is tk  # other devices: always torch ops
    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", "fortran")
    with pytest.raises(ValueError, match="TORCH_PHOTONIC_BACKEND"):
        tp.kernel_backend()


def test_wrappers_give_the_same_state_and_product_on_either_backend(monkeypatch):
    cfg = tp.preset("pcm-tensor-core-2021", mapping__input_range="dynamic")
    g = torch.Generator().manual_seed(5)
    w, x = torch.randn(10, 20, generator=g), torch.randn(7, 20, generator=g)
    out = {}
    for backend in ("cpp", "torch"):
        monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", backend)
        st = optical.program(w, cfg, seed=3)
        y = optical.mvm(x, st, seconds=5e4, seed=9)
        out[backend] = (st.weff if st.weff is not None else st.base_weight(), st.scales,
                        st.weight_at(5e4), y, st.clips.as_dict())
    for a, b in zip(out["cpp"][:4], out["torch"][:4]):
        assert_same(a, b)
    assert out["cpp"][4] == out["torch"][4]


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(96, 160)
        self.down = nn.Linear(160, 48)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))


@pytest.mark.parametrize("overrides", [{}, {"mapping__adc_full_scale": 1.5}])
def test_converted_model_same_on_the_torch_backend(monkeypatch, overrides):
    torch.manual_seed(0)
    model = MLP()
    x = torch.randn(6, 96)
    cfg = tp.preset("glass-pcm-200mm", **overrides) if overrides else "glass-pcm-200mm"
    out = {}
    for backend in ("cpp", "torch"):
        monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", backend)
        tp.nn.clear_programmed()
        m = tp.convert(copy.deepcopy(model), cfg)
        with torch.no_grad():
            y0 = m(x)
            tp.age(m, 3.6e3)
            y1 = m(x)
        out[backend] = (y0, y1, tp.clip_rates(m))
    tp.nn.clear_programmed()
    assert_same(out["cpp"][0], out["torch"][0])
    assert_same(out["cpp"][1], out["torch"][1])
    assert out["cpp"][2] == out["torch"][2]
    assert not torch.equal(out["cpp"][0], out["cpp"][1])  # the ageing did something
    if overrides:
        assert sum(v["retries"] for v in out["cpp"][2].values()) > 0


@pytest.mark.parametrize("overrides", [
    {},
    # static input ranges and calibrated ADC ranges that clip, both learned
    {"mapping__input_range": "static", "mapping__adc_range": "calibrated",
     "mapping__bound_management": 0},
])
def test_training_forward_and_backward_same_on_the_torch_backend(monkeypatch, overrides):
    """A hardware-aware training step (noise table measured at an age, cells drawn afresh, the
    optical product, straight-through gradients) gives the same outputs and gradients on the
    torch kernels as on the C++ ones, and the torch backend does run the torch kernels."""
    calls = {"draw_cells": 0, "mvm": 0}
    for name in calls:
        def spy(*args, _name=name, _op=getattr(tk, name)):
            calls[_name] += 1
            return _op(*args)
        monkeypatch.setattr(tk, name, spy)
    torch.manual_seed(0)
    model = MLP()
    x = torch.randn(6, 96) * 3  # beyond the calibrated ranges: some inputs and sums clip
    cfg = tp.preset("glass-pcm-200mm", **overrides)
    learn = bool(overrides)
    out = {}
    for backend in ("cpp", "torch"):
        monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", backend)
        tp.nn.clear_programmed()
        m = tp.convert(copy.deepcopy(model), cfg)
        if learn:
            tp.calibrate(m, [torch.randn(16, 96, generator=torch.Generator().manual_seed(s))
                             for s in range(2)])
        m.train()
        ranges = tp.nn.prepare_training(m, learn_ranges=learn, seconds=3.6e3)
        xb = x.clone().requires_grad_()
        tp.nn.begin_step(m, 3)
        y = m(xb)
        y.square().sum().backward()
        out[backend] = (y.detach(), [xb.grad] + [p.grad for p in m.parameters()],
                        [r.detach().clone() for r in ranges], [r.grad for r in ranges])
        if backend == "cpp":
            assert calls == {"draw_cells": 0, "mvm": 0}
    tp.nn.clear_programmed()
    assert calls["draw_cells"] == 2 and calls["mvm"] >= 2  # one draw, one product per layer
    cpp, torch_ = out["cpp"], out["torch"]
    assert all(g is not None for g in cpp[1]) and len(cpp[1]) == len(torch_[1])
    for a, b in zip(cpp, torch_):
        assert_same(a, b)
    if learn:  # input and ADC ranges of both layers, with gradients
        assert len(cpp[3]) == 4 and all(float(g.abs().sum()) > 0 for g in cpp[3])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    """On CUDA the GEMMs and the float64 outer intervals use the device's own routines: the
    normals agree bit for bit, the products within the rounding of a GEMM."""
    key = rng.stream_key(1, rng.STREAM_READ)
    assert_same(rng.normals_range(key, 5, 100_000, device="cuda").cpu(),
                rng.normals_range(key, 5, 100_000))
    cfg = tp.preset("silicon-photonic-128")
    g = torch.Generator().manual_seed(6)
    weff, scales = _aged_state(cfg, 40, 256, 2, g)
    x = torch.randn(9, 256, generator=g)
    args = mvm_args(x, weff, scales, cfg, 4)
    y_cpu = OPS.mvm(*args)[0]
    cargs = [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]
    y = tk.mvm(*cargs)[0]
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), y_cpu, rtol=0, atol=0.05 * float(y_cpu.abs().max()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_converted_layers_run_and_train_on_cuda():
    """``convert()`` on CUDA: the cells, the products and the training draws stay on the GPU
    (torch kernels), and the outputs follow the CPU's within a GEMM's rounding."""
    torch.manual_seed(3)
    ref = tp.convert(MLP(), "glass-pcm-200mm").eval()
    gpu = tp.convert(MLP(), "glass-pcm-200mm").eval()
    gpu.load_state_dict(ref.state_dict())
    gpu = gpu.cuda()
    x = torch.randn(6, 96)
    with torch.no_grad():
        y_cpu, y = ref(x), gpu(x.cuda())
    assert y.device.type == "cuda"
    assert gpu.up.state.weff.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), y_cpu, rtol=0, atol=0.05 * float(y_cpu.abs().max()))
    tp.nn.prepare_training(gpu, seconds=3600.0)
    gpu.train()
    tp.nn.begin_step(gpu, 0)
    loss = gpu(x.cuda()).square().mean()
    loss.backward()
    assert gpu.up.weight.grad.device.type == "cuda"
    assert float(gpu.up.weight.grad.abs().sum()) > 0

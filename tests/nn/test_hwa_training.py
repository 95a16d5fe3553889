"""Hardware-aware training: fresh cells per training forward (moments equal to the kernels'),
nothing programmed or charged until deployment, straight-through gradients that stop where a
converter clips, learned input ranges and their gradients, and the device's backward products
on the host."""
import warnings

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.energy.events import Recorder
from torch_photonic.nn import hwa
from torch_photonic.optics import kernels, training
from torch_photonic.optics.store import store

GLASS = "glass-pcm-200mm"
DAY = 86400.0


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _layer(k=64, n=16, preset=GLASS, seed=0, name="hwa"):
    torch.manual_seed(seed)
    return tp.PhotonicLinear.from_linear(nn.Linear(k, n), preset, name=name).train()


def test_training_forward_programs_and_charges_nothing_and_deploy_does():
    pl = _layer(name="hwa.charge")
    x = torch.randn(8, 64)
    with Recorder() as rec:
        pl(x).sum().backward()
    assert rec.of("program") == [] and rec.of("mvm") == []
    assert not store.states(pl.weight)
    with Recorder() as rec:
        tp.nn.deploy(pl)
        with torch.no_grad():
            pl(x)
    assert len(rec.of("program")) == 1 and len(rec.of("mvm")) == 1
    assert not pl.training


def test_every_training_forward_draws_fresh_cells_and_a_step_reproduces_its_draw():
    pl = _layer(name="hwa.fresh")
    x = torch.randn(8, 64)
    hwa.begin_step(pl, 5)
    a, b = pl(x), pl(x)
    assert not torch.equal(a, b)                # fresh cells and detector noise each forward
    hwa.begin_step(pl, 5)
    torch.testing.assert_close(pl(x), a, rtol=0, atol=0)  # the same step draws the same
    hwa.begin_step(pl, 6)
    assert not torch.equal(pl(x), a)


def test_without_noise_the_training_forward_is_the_noiseless_kernel():
    pl = _layer(name="hwa.quiet")
    tp.nn.prepare_training(pl, noise=False)
    x = torch.randn(8, 64)
    a, b = pl(x), pl(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    from torch_photonic.hardware.effects import without
    quiet = without(tp.resolve(GLASS), ["programming", "read_noise", "drift", "shot", "receiver"])
    state = kernels.program(pl.weight.detach(), quiet, 0)
    ref = kernels.mvm(x, state, 0.0, 0) + pl.bias.detach()
    torch.testing.assert_close(a.detach(), ref, rtol=1e-6, atol=1e-6)


def test_training_cells_have_the_kernels_moments_level_by_level():
    """The cells a training forward draws at 1 day match, per programming level, the mean and
    spread of cells programmed and aged by the kernels (another seed, same weight)."""
    cfg = tp.resolve(GLASS)
    torch.manual_seed(1)
    w = torch.randn(256, 1024) * 0.02
    table = training.cell_noise_table(w, cfg, DAY, seed=11)
    drawn, scales = training.training_weight(w, cfg, table, 3)
    state = kernels.program(w, cfg, 99, keep_source=False)
    real = state.weight_at(DAY)
    s = scales.expand(256, 1024)
    wn = w / s
    idx, target = training.level_index(wn, cfg)
    sign = torch.sign(wn)
    for name, cells in (("drawn", drawn), ("kernel", real)):
        dev = (cells / s - target) * sign
        for lvl in (3, 8, 16):
            sel = dev[idx == lvl]
            assert sel.numel() > 2000
            mean, sd = float(sel.mean()), float(sel.std())
            assert abs(mean - float(table.offset[lvl])) < 4 * sd / sel.numel() ** 0.5 + 1e-3, name
            assert abs(sd / float(table.sigma[lvl]) - 1) < 0.08, (name, lvl)
    assert float(table.sigma[16]) > 0.01   # a day of drift spread and read noise is visible


def test_gradients_stop_where_the_dac_clips_and_the_range_gets_their_sum():
    cfg = tp.resolve("pcm-tensor-core-2021")   # static input ranges
    torch.manual_seed(2)
    pl = tp.PhotonicLinear.from_linear(nn.Linear(18, 5), cfg, name="hwa.clip").eval()
    x_cal = torch.randn(64, 18)
    tp.calibrate(pl, [x_cal])
    pl.train()
    ranges = tp.nn.prepare_training(pl, learn_ranges=True)
    assert len(ranges) == 1 and ranges[0].shape == (2,)   # 18 inputs over 9-row tiles
    torch.testing.assert_close(ranges[0].detach(), pl.state.input_range)
    x = (torch.randn(16, 18) * 2).requires_grad_()
    gy = torch.randn(16, 5)
    (pl(x) * gy).sum().backward()
    r = ranges[0].detach().repeat_interleave(9)
    inside = x.detach().abs() <= r
    assert (~inside).any() and inside.any()
    g_float = gy @ pl.weight.detach()
    torch.testing.assert_close(x.grad, g_float * inside)
    xc = torch.maximum(torch.minimum(x.detach(), r), -r)
    torch.testing.assert_close(pl.weight.grad, gy.t() @ xc)
    want = ((~inside) * torch.sign(x.detach()) * g_float).reshape(16, 2, 9).sum(dim=(0, 2))
    torch.testing.assert_close(ranges[0].grad, want)


def test_gradients_stop_where_the_adc_clips_without_bound_management():
    cfg = tp.resolve(GLASS, mapping__bound_management=0, mapping__adc_full_scale=4.0,
                     array__tile_rows=16)
    assert training.adc_can_clip(cfg)
    torch.manual_seed(3)
    lin = nn.Linear(32, 6, bias=False)
    with torch.no_grad():
        lin.weight.abs_()                        # positive sums: many partial sums clip
        lin.weight[:3] *= 0.05
    pl = tp.PhotonicLinear.from_linear(lin, cfg, name="hwa.adc").train()
    x = torch.rand(10, 32).requires_grad_()
    gy = torch.randn(10, 6)
    (pl(x) * gy).sum().backward()
    w = lin.weight.detach()
    gx = torch.zeros(10, 32)
    clipped = 0
    for t in range(2):
        xs, ws = x.detach()[:, 16 * t:16 * (t + 1)], w[:, 16 * t:16 * (t + 1)]
        a = xs.abs().amax(dim=1, keepdim=True)
        p = (xs / a) @ ws.t() / ws.abs().amax(dim=1)
        keep = p.abs() <= 4.0
        clipped += int((~keep).sum())
        gx[:, 16 * t:16 * (t + 1)] = (gy * keep) @ ws
    assert 0 < clipped < 120
    torch.testing.assert_close(x.grad, gx)


def test_learning_ranges_needs_static_ranges_and_calibration():
    pl = _layer(name="hwa.dyn")
    with pytest.raises(ValueError, match="no range to learn"):
        tp.nn.prepare_training(pl, learn_ranges=True)
    ps = tp.PhotonicLinear.from_linear(nn.Linear(18, 4), "pcm-tensor-core-2021", name="hwa.uncal")
    with pytest.raises(ValueError, match="tp.calibrate"):
        tp.nn.prepare_training(ps, learn_ranges=True)
    with pytest.raises(ValueError, match="no photonic layers"):
        tp.nn.prepare_training(nn.Linear(3, 3))


def test_deploy_hands_learned_ranges_to_the_converters():
    torch.manual_seed(4)
    pl = tp.PhotonicLinear.from_linear(nn.Linear(18, 4), "pcm-tensor-core-2021",
                                       name="hwa.deploy").eval()
    tp.calibrate(pl, [torch.randn(32, 18)])
    pl.train()
    (rng,) = tp.nn.prepare_training(pl, learn_ranges=True)
    opt = torch.optim.SGD([pl.weight, rng], lr=0.05)
    for step in range(3):
        hwa.begin_step(pl, step)
        opt.zero_grad()
        (pl(torch.randn(16, 18) * 3) ** 2).mean().backward()
        opt.step()
    tp.nn.deploy(pl)
    torch.testing.assert_close(pl.state.input_range, rng.detach())
    assert pl.state.times_programmed == 2   # calibration's write, then the deployed weights


def test_experts_train_with_fresh_cells_and_float_gradients_on_ideal():
    from test_layers_convert import _tiny_dsv3
    model = _tiny_dsv3()
    moe = model.model.layers[1].mlp
    pe = tp.PhotonicExperts.from_module(moe.experts, GLASS, name="hwa.experts").train()
    torch.manual_seed(5)
    h = torch.randn(12, 64)
    with torch.no_grad():
        _, w, idx = moe.gate(h)
    with Recorder() as rec:
        a = pe(h, idx, w)
        b = pe(h, idx, w)
        a.sum().backward()
    assert not torch.equal(a, b) and rec.of("program") == [] and rec.of("mvm") == []
    assert pe.gate_up_proj.grad is not None and pe.gate_up_proj.grad.abs().sum() > 0


def test_device_backward_runs_float_products_on_the_host():
    torch.manual_seed(6)
    lin = nn.Linear(32, 8)
    ref = nn.Linear(32, 8)
    ref.load_state_dict(lin.state_dict())
    dev = lin.to("photonic")
    x = torch.randn(4, 32)
    xd = x.to("photonic").requires_grad_()
    with tp.device.set_config(GLASS), Recorder() as rec:
        y = dev(xd)
        with Recorder() as bwd:
            y.backward(torch.ones_like(y))
    assert rec.of("program") and not bwd.of("program") and not bwd.of("mvm")
    assert any(h["op"].startswith("photonic::backward.") for h in bwd.of("host"))
    x2 = x.clone().requires_grad_()
    ref(x2).backward(torch.ones(4, 8))
    torch.testing.assert_close(dev.weight.grad.cpu(), ref.weight.grad)
    torch.testing.assert_close(xd.grad.cpu(), x2.grad)


def _reference_cells(w, cfg, offset=None):
    """Pure-torch reference of draw_cells without normals: tile scales, levels, offsets."""
    tr = cfg.array.tile_rows
    n, k = w.shape
    t = -(-k // tr)
    a = torch.nn.functional.pad(w.abs(), (0, t * tr - k)).reshape(n, t, tr).amax(dim=2)
    s = a.repeat_interleave(tr, dim=1)[:, :k]
    wn = torch.where(s > 0, w / torch.where(s > 0, s, torch.ones(())), torch.zeros(()))
    idx, target = training.level_index(wn, cfg)
    if offset is not None:
        sgn = torch.sign(wn) if cfg.array.cells_per_weight == 2 else torch.ones_like(wn)
        target = (target + offset[idx] * sgn).clamp(-1, 1)
    return target * s, a


@pytest.mark.parametrize("overrides", [{}, {"array__cells_per_weight": 1},
                                       {"pcm__quantize_levels": False}, {"array__tile_rows": 7}])
def test_drawn_cells_without_spread_equal_a_torch_reference(overrides):
    cfg = tp.resolve(GLASS, **overrides)
    torch.manual_seed(7)
    w = torch.randn(12, 20)
    w[3] = 0.0
    bins = training._steps(cfg) + 1
    offset = torch.linspace(-0.02, 0.03, bins)
    table = training.CellNoiseTable(offset=offset, sigma=torch.zeros(bins), seconds=0.0, samples=0)
    for tab, off in ((None, None), (table, offset)):
        got, scales = training.training_weight(w, cfg, tab, 1)
        ref, ref_scales = _reference_cells(w, cfg, off)
        torch.testing.assert_close(scales, ref_scales, rtol=0, atol=0)
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-7)


def test_draw_cells_rejects_a_table_of_the_wrong_size():
    cfg = tp.resolve(GLASS)
    bad = training.CellNoiseTable(offset=torch.zeros(5), sigma=torch.zeros(5), seconds=0.0,
                                  samples=0)
    with pytest.raises(RuntimeError, match="one per level"):
        training.training_weight(torch.randn(4, 8), cfg, bad, 0)


def test_learned_adc_full_scales_get_the_gradient_of_the_clipped_partial_sums():
    cfg = tp.resolve(GLASS, mapping__bound_management=0, mapping__adc_range="calibrated",
                     mapping__adc_percentile=50.0, array__tile_rows=16)
    torch.manual_seed(8)
    lin = nn.Linear(32, 6, bias=False)
    with torch.no_grad():
        lin.weight.abs_()
    pl = tp.PhotonicLinear.from_linear(lin, cfg, name="hwa.fs").eval()
    tp.calibrate(pl, [torch.rand(64, 32)])
    pl.train()
    params = tp.nn.prepare_training(pl, learn_ranges=True)
    assert [tuple(p.shape) for p in params] == [(6, 2)]   # no static input ranges on this mapping
    fs = params[0]
    torch.testing.assert_close(fs.detach(), pl.state.full_scale)
    x = torch.rand(10, 32)
    gy = torch.randn(10, 6)
    (pl(x) * gy).sum().backward()
    w = lin.weight.detach()
    want = torch.zeros(6, 2)
    for t in range(2):
        xs, ws = x[:, 16 * t:16 * (t + 1)], w[:, 16 * t:16 * (t + 1)]
        a = xs.abs().amax(dim=1, keepdim=True)
        s = ws.abs().amax(dim=1)
        p = (xs / a) @ ws.t() / s
        clipped = p.abs() > fs.detach()[:, t]
        assert clipped.any()
        want[:, t] = (gy * clipped * torch.sign(p) * a).sum(0) * s
    torch.testing.assert_close(fs.grad, want)
    with torch.no_grad():
        fs.mul_(1.5)
    tp.program(pl)
    torch.testing.assert_close(pl.state.full_scale, fs.detach())

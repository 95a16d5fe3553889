"""The photonic device's matmul entry running the optical kernel (torch_photonic/device/matmul.py)."""
import pytest
import torch

import torch_photonic as tp
from torch_photonic.energy.events import Recorder
from torch_photonic.nn.lifecycle import clear_programmed


@pytest.fixture(autouse=True)
def _fresh_states():
    clear_programmed()
    yield
    clear_programmed()


def quantized_noise_free():
    return tp.preset("ideal", formats__weight_format="fp8_e4m3", formats__weight_scaling="channel",
                     formats__activation_format="fp8_e4m3", formats__activation_scaling="block128")


def test_default_config_is_the_glass_chip():
    assert torch.photonic.get_config() != "exact"
    assert torch.photonic.get_config().name == "glass-pcm-200mm"


def test_set_config_context_restores_previous():
    before = torch.photonic.get_config()
    with torch.photonic.set_config("exact"):
        assert torch.photonic.get_config() == "exact"
        assert not tp._C._has_matmul_handler()
    assert torch.photonic.get_config() is before
    assert tp._C._has_matmul_handler()


def test_unknown_preset_lists_known():
    with pytest.raises(Exception, match="glass-pcm-200mm"):
        torch.photonic.set_config("no-such-chip")


@pytest.mark.parametrize("shape", [(5, 300, 70), (64, 1100, 130)])
def test_device_linear_equals_quantized_reference(shape):
    m, k, n = shape
    torch.manual_seed(0)
    lin = torch.nn.Linear(k, n)
    x = torch.randn(m, k)
    cfg = quantized_noise_free()
    ref = tp.optics.reference(x, lin.weight, cfg, lin.bias)
    exact = torch.nn.functional.linear(x, lin.weight, lin.bias)
    dev = lin.to("photonic")
    with torch.photonic.set_config(cfg), torch.no_grad():
        y = dev(x.to("photonic")).cpu()
    assert y.device.type == "cpu" and y.shape == (m, n)
    rel = (y - ref).norm() / ref.norm()
    assert rel <= 1e-5, rel
    assert (y - exact).abs().max() > 0  # the formats really were applied


def test_hundred_forwards_program_each_weight_once():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16)).to("photonic")
    x = torch.randn(4, 64, device="photonic")
    with Recorder() as rec, torch.no_grad():
        for _ in range(100):
            model(x)
    programs = rec.of("program")
    assert len(programs) == 2
    assert sorted(p["weights"] for p in programs) == [16 * 32, 32 * 64]
    cfg = torch.photonic.get_config()
    assert all(p["cells"] == p["weights"] * cfg.array.cells_per_weight for p in programs)
    assert len(rec.of("mvm")) == 200


def test_changed_weight_is_programmed_again():
    lin = torch.nn.Linear(16, 8).to("photonic")
    x = torch.randn(3, 16, device="photonic")
    with Recorder() as rec, torch.no_grad():
        lin(x)
        lin(x)
        lin.weight.mul_(2.0)  # in place: new version, same storage
        y2 = lin(x)
    assert len(rec.of("program")) == 2
    with torch.photonic.set_config("exact"), torch.no_grad():
        ref = lin(x)
    cos = torch.nn.functional.cosine_similarity(y2.cpu().flatten(), ref.cpu().flatten(), dim=0)
    assert cos > 0.99  # the reprogrammed weight (x2) is the one used


def test_attention_bmm_is_a_dynamic_product_reported_apart():
    q = torch.randn(2, 5, 8, device="photonic")
    k = torch.randn(2, 8, 6, device="photonic")
    with Recorder() as rec:
        s = q @ k
    assert s.shape == (2, 5, 6)
    mvms = rec.of("mvm")
    assert len(mvms) == 1 and mvms[0]["dynamic"] is True and mvms[0]["batch"] == 2
    assert rec.of("program") == []  # nothing is written into PCM for a dynamic product
    # electronic mode: the exact float product
    torch.testing.assert_close(s.cpu(), q.cpu() @ k.cpu())


def test_optical_dynamic_mode_runs_on_modulators():
    cfg = tp.preset("glass-pcm-200mm", dynamic__mode="optical")
    q = torch.randn(2, 5, 64)
    k = torch.randn(2, 64, 6)
    with torch.photonic.set_config(cfg), Recorder() as rec:
        s = (q.to("photonic") @ k.to("photonic")).cpu()
    assert rec.of("program") == []
    ref = q @ k
    cos = torch.nn.functional.cosine_similarity(s.flatten(), ref.flatten(), dim=0)
    assert 0.95 < cos < 1.0  # converters and noise: close, not exact


def test_meter_counts_device_host_ops_and_optics():
    lin = torch.nn.Linear(32, 32).to("photonic")
    x = torch.randn(8, 32, device="photonic")
    with tp.meter() as m, torch.no_grad():
        torch.relu(lin(x)).softmax(-1)
    b = m.breakdown()
    assert b["host"] > 0 and b["adc"] > 0 and b["pcm_write"] > 0
    ops = {r["op"] for r in m.per_layer()}
    assert any("relu" in op for op in ops) and any("softmax" in op for op in ops)


def test_outside_a_meter_host_ops_are_not_counted():
    x = torch.randn(8, 8, device="photonic")
    tp._C._take_host_op_stats(True)
    torch.relu(x)
    assert not tp._C._host_op_counting()
    assert tp._C._take_host_op_stats(True) == {}


def test_label_parameters_names_meter_rows():
    model = torch.nn.Sequential(torch.nn.Linear(16, 8)).to("photonic")
    tp.label_parameters(model)
    with tp.meter() as m, torch.no_grad():
        model(torch.randn(2, 16, device="photonic"))
    assert "0" in {r["module"] for r in m.per_layer()}


def test_grouped_mm_routes_each_expert_through_its_own_programmed_weights():
    torch.manual_seed(0)
    experts, k, n = 4, 16, 8
    w = torch.randn(experts, n, k)
    x = torch.randn(10, k)
    offs = torch.tensor([3, 3, 7, 10], dtype=torch.int32)  # expert 1 gets no token
    dw = w.to("photonic")
    with torch.photonic.set_config(tp.preset("ideal")), Recorder() as rec:
        y = torch._grouped_mm(x.to("photonic"), dw.transpose(-2, -1), offs=offs.to("photonic")).cpu()
    expect = torch.cat([x[0:3] @ w[0].T, x[3:7] @ w[2].T, x[7:10] @ w[3].T])
    torch.testing.assert_close(y, expect, rtol=1e-5, atol=1e-5)
    experts_run = sorted(p["expert"] for p in rec.of("mvm"))
    assert experts_run == [0, 2, 3]  # only routed experts run and are charged
    assert len(rec.of("program")) == 3


def test_fused_experts_on_the_device_are_programmed_once():
    from torch_photonic.models import deepseek as M

    cfg = M.get_model_config("deepseek-tiny-random")
    model = M.build_deepseek(cfg, seed=0).to("photonic")
    tp.label_parameters(model)  # unique names per weight in the events
    ids = torch.randint(2, cfg.vocab_size, (1, 8)).to("photonic")
    with Recorder() as rec, torch.no_grad():
        for _ in range(3):
            model(ids)
    assert any(p["expert"] is not None for p in rec.of("mvm"))  # routed experts ran on the optics
    labels = [(p["module"], p["expert"]) for p in rec.of("program")]
    assert any(e is not None and "experts" in m for m, e in labels)
    # Noise may route a token to an expert not used before (programmed then, once), but no
    # weight is ever written twice while it is unchanged.
    assert len(labels) == len(set(labels))


def test_inference_mode_operands_are_cached_by_storage():
    lin = torch.nn.Linear(16, 8).to("photonic")
    x = torch.randn(3, 16, device="photonic")
    with Recorder() as rec, torch.inference_mode():
        for _ in range(5):
            lin(x)
    assert len(rec.of("program")) == 1

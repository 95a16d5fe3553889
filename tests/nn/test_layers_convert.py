import copy
import warnings

import pytest
import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.energy import events


class Sink:
    def __init__(self):
        self.ev = []

    def on_event(self, kind, payload):
        self.ev.append((kind, payload))

    def of(self, kind):
        return [p for k, p in self.ev if k == kind]


@pytest.fixture
def sink():
    s = Sink()
    events.subscribe(s)
    yield s
    events.unsubscribe(s)


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_from_linear_shares_params_and_bias_is_digital():
    torch.manual_seed(0)
    lin = nn.Linear(40, 30)
    pl = tp.PhotonicLinear.from_linear(lin, tp.preset("ideal"), name="x").eval()
    assert pl.weight is lin.weight and pl.bias is lin.bias
    x = torch.randn(5, 7, 40)
    assert _rel(pl(x), lin(x)) < 1e-5
    pl_nb = tp.PhotonicLinear.from_linear(nn.Linear(40, 30, bias=False), tp.preset("ideal")).eval()
    assert pl_nb(x).shape == (5, 7, 30)


def test_write_counts_program_once_and_reprogram_on_change(sink, one_thread):
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    cfg = tp.preset("glass-pcm-200mm")
    pl = tp.PhotonicLinear.from_linear(lin, cfg, name="layer").eval()
    x = torch.randn(4, 64)
    for _ in range(100):
        pl(x)
    cells = 64 * 48 * cfg.array.cells_per_weight
    prog = sink.of("program")
    assert len(prog) == 1 and prog[0]["cells"] == cells and prog[0]["weights"] == 64 * 48
    assert pl.state.cells_written == cells and pl.state.times_programmed == 1
    mv = sink.of("mvm")
    assert len(mv) == 100
    assert all((p["module"], p["m"], p["k"], p["n"]) == ("layer", 4, 64, 48) for p in mv)
    # an in-place weight update bumps the version -> the cells are rewritten once
    with torch.no_grad():
        lin.weight.mul_(2)
    pl(x)
    pl(x)
    assert pl.state.times_programmed == 2 and pl.state.cells_written == 2 * cells
    assert len(sink.of("program")) == 2
    # replacing the data (new storage) also reprograms
    lin.weight.data = torch.randn(48, 64)
    pl(x)
    assert pl.state.times_programmed == 3


def test_read_noise_varies_per_call_but_programming_does_not():
    torch.manual_seed(0)
    lin = nn.Linear(64, 32)
    pl = tp.PhotonicLinear.from_linear(lin, tp.preset("glass-pcm-200mm"), name="n").eval()
    x = torch.randn(8, 64)
    a, b = pl(x), pl(x)
    assert not torch.equal(a, b)
    tp.nn.clear_programmed()  # programmed again from the same seed: the same first read
    assert torch.equal(pl(x), a)
    # two identical fresh layers give identical sequences (seeded)
    lin1, lin2 = copy.deepcopy(lin), copy.deepcopy(lin)
    p1 = tp.PhotonicLinear.from_linear(lin1, tp.preset("glass-pcm-200mm"), name="q").eval()
    p2 = tp.PhotonicLinear.from_linear(lin2, tp.preset("glass-pcm-200mm"), name="q").eval()
    assert torch.equal(p1(x), p2(x)) and torch.equal(p1(x), p2(x))


def test_default_preset_is_faithful_and_bad_config_warns_with_name():
    torch.manual_seed(0)
    lin = nn.Linear(512, 256)
    x = torch.randn(16, 512)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pl = tp.PhotonicLinear.from_linear(lin, tp.preset("glass-pcm-200mm"), name="good").eval()
        y = pl(x)
    assert pl.calibration_error < 0.1 and _rel(y, lin(x)) < 0.1
    bad = tp.preset("glass-pcm-200mm", pcm__levels=2, converters__adc_bits=2,
                    pcm__program_noise_coeffs=(0.3, 0.0, 0.0))
    pb = tp.PhotonicLinear.from_linear(lin, bad, name="blocks.3.bad_proj").eval()
    with pytest.warns(RuntimeWarning, match="blocks.3.bad_proj"):
        pb(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pb(x)  # warns once only


def test_set_time_drift(one_thread):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 8))
    tp.convert(model, tp.preset("ideal", pcm__drift_nu_coeffs=(0.0, 0.1),
                                pcm__drift_nu_range=(0.0, 1.0)))
    x = torch.randn(4, 32)
    y0 = model(x)
    tp.set_time(model, 20 * 1e4)
    y1 = model(x)
    # two layers, ReLU is positively homogeneous: output scales by f^2 (plus bias effects)
    assert not torch.allclose(y0, y1)
    tp.set_time(model, 0.0)
    torch.testing.assert_close(model(x), y0)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.blocks = nn.ModuleList([nn.ModuleDict({"attn": nn.Linear(16, 16),
                                                    "mlp": nn.Sequential(nn.Linear(16, 32),
                                                                         nn.GELU(),
                                                                         nn.Linear(32, 16))})
                                     for _ in range(2)])
        self.lm_head = nn.Linear(16, 50, bias=False)
        self.lm_head.weight = self.embed.weight  # tied

    def forward(self, ids):
        h = self.embed(ids)
        for b in self.blocks:
            h = h + b["attn"](h)
            h = h + b["mlp"](h)
        return self.lm_head(h)


def test_convert_nested_tied(sink):
    torch.manual_seed(0)
    m = Nested()
    ids = torch.randint(0, 50, (2, 5))
    ref = m(ids)
    out = tp.convert(m, "ideal")
    assert out is m
    r = m.photonic_report
    assert len(r.converted) == 6 and r.excluded == ["lm_head"]
    assert isinstance(m.blocks[1]["mlp"][2], tp.PhotonicLinear)
    assert not isinstance(m.lm_head, tp.PhotonicLinear)
    assert m.lm_head.weight is m.embed.weight  # still tied
    n_lin = 2 * (16 * 16 + 16 * 32 + 32 * 16)
    assert r.params_optical == n_lin
    assert "embed.weight" in r.digital_params
    assert r.params_total == sum(p.numel() for p in m.parameters())
    assert "blocks.0.mlp.0" in str(r) or r.converted[0].startswith("blocks")
    torch.testing.assert_close(m(ids), ref, rtol=1e-5, atol=1e-5)
    # convert again, now including lm_head: the tied weight is programmed once, not untied
    tp.convert(m, "ideal", exclude=())
    assert isinstance(m.lm_head, tp.PhotonicLinear) and m.lm_head.weight is m.embed.weight
    torch.testing.assert_close(m(ids), ref, rtol=1e-5, atol=1e-5)


def test_shared_weight_programmed_once(sink):
    shared = nn.Linear(16, 16, bias=False)
    m = nn.Sequential(shared, nn.ReLU(), shared)
    tp.convert(m, "glass-pcm-200mm")
    assert m[0] is m[2]
    m2 = nn.Module()
    a, b = nn.Linear(16, 16, bias=False), nn.Linear(16, 16, bias=False)
    b.weight = a.weight
    m2.a, m2.b = a, b
    tp.convert(m2, "glass-pcm-200mm").eval()
    x = torch.randn(3, 16)
    for _ in range(10):
        m2.a(x)
        m2.b(x)
    assert len(sink.of("program")) == 1
    assert m2.photonic_report.params_optical == 256


def test_include_exclude_and_bad_preset():
    m = Nested()
    tp.convert(m, "ideal", include=("blocks.0.*",))
    assert isinstance(m.blocks[0]["attn"], tp.PhotonicLinear)
    assert not isinstance(m.blocks[1]["attn"], tp.PhotonicLinear)
    assert "blocks.1.attn" in m.photonic_report.excluded
    with pytest.raises(ValueError, match="known presets"):
        tp.convert(Nested(), "no-such-chip")
    with pytest.raises(ValueError, match=r"converters\.adc_bits"):
        tp.convert(Nested(), "glass-pcm-200mm", converters__adc_bits=0)


# ------------------------------------------------------------------ DeepSeek-V3 (transformers)
@pytest.fixture
def one_thread():
    # tiny ops: intra-op threading only adds overhead (and spins badly on a shared machine)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _tiny_dsv3(tie=False):
    tr = pytest.importorskip("transformers", reason="the Hugging Face model needs transformers (pip install 'torch_photonic[models]')")
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    cfg = DeepseekV3Config(
        vocab_size=128, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        first_k_dense_replace=1, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=1, topk_group=1, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16,
        qk_rope_head_dim=8, v_head_dim=16, max_position_embeddings=64,
        tie_word_embeddings=tie)
    torch.manual_seed(0)
    model = DeepseekV3ForCausalLM(cfg).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():  # some params are left uninitialised (empty)
            if "experts" in n:
                p.normal_(0, 0.05)
            if "e_score_correction_bias" in n:
                p.zero_()
    return model


def test_photonic_experts_matches_hf_experts(sink, one_thread):
    model = _tiny_dsv3()
    moe = model.model.layers[1].mlp
    experts = moe.experts
    h = torch.randn(10, 64)
    _, w, idx = moe.gate(h)
    ref = experts(h, idx, w)
    pe = tp.PhotonicExperts.from_module(experts, tp.preset("ideal"), name="moe.experts")
    got = pe(h, idx, w)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    routed = set(idx.flatten().tolist())
    mv = sink.of("mvm")
    assert {p["expert"] for p in mv} == routed
    assert sum(p["m"] for p in mv if p["module"] == "moe.experts.down_proj") == idx.numel()
    # all experts are programmed once (one state per expert and projection)
    assert len(sink.of("program")) == 2 * 8
    pe(h, idx, w)
    assert len(sink.of("program")) == 2 * 8


def test_convert_deepseek_v3(sink, one_thread):
    model = _tiny_dsv3(tie=True)
    ids = torch.randint(0, 128, (2, 6))
    with torch.no_grad():
        ref = model(ids).logits
    tp.convert(model, "ideal")
    r = model.photonic_report
    assert "model.layers.1.mlp.experts" in r.converted
    assert isinstance(model.model.layers[1].mlp.experts, tp.PhotonicExperts)
    assert isinstance(model.model.layers[0].mlp.down_proj, tp.PhotonicLinear)
    assert isinstance(model.model.layers[1].self_attn.q_a_proj, tp.PhotonicLinear)
    assert r.excluded == ["lm_head"]
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert "model.layers.1.mlp.gate.weight" in r.digital_params  # router stays digital
    with torch.no_grad():
        got = model(ids).logits
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_convert_deepseek_v3_glass_write_once(sink, one_thread):
    model = _tiny_dsv3()
    tp.convert(model)  # default preset, no other argument
    ids = torch.randint(0, 128, (1, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            for _ in range(100):
                out = model(ids).logits
    assert torch.isfinite(out).all()
    prog = sink.of("program")
    names = [p["module"] for p in prog]
    for n in set(names):  # each weight programmed once (experts: once per expert)
        assert names.count(n) == (8 if ".experts." in n else 1), n
    total_cells = sum(p["cells"] for p in prog)
    r = model.photonic_report
    assert total_cells == 2 * r.params_optical  # each cell written exactly once


def test_experts_take_zero_tokens():
    from torch_photonic import models as M
    cfg = M.tiny_deepseek_config(num_hidden_layers=2)
    model = tp.convert(M.build_deepseek(cfg, seed=0), "glass-pcm-200mm").eval()
    ex = next(m for m in model.modules() if isinstance(m, tp.PhotonicExperts))
    k = cfg.num_experts_per_tok
    with torch.no_grad():
        out = ex(torch.zeros(0, ex.hidden_dim), torch.zeros(0, k, dtype=torch.long),
                 torch.zeros(0, k))
    assert out.shape == (0, ex.hidden_dim)

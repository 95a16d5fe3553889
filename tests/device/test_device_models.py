"""Whole models on the photonic device, against the same models on the CPU."""
from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytestmark = pytest.mark.usefixtures("exact_mode")

DEV = "photonic"


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab=50, dim=32, heads=4, layers=3, ctx=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(ctx, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.register_buffer("scale", torch.tensor(1.0))

    def forward(self, tok):
        x = self.embed(tok) + self.pos[: tok.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x)) * self.scale


def _pair(seed=0):
    torch.manual_seed(seed)
    cpu = TinyLM()
    dev = copy.deepcopy(cpu).to(DEV)
    tok = torch.randint(0, 50, (2, 12))
    return cpu, dev, tok


def test_forward_matches_cpu():
    cpu, dev, tok = _pair()
    assert all(p.device.type == DEV for p in dev.parameters())
    assert dev.scale.device.type == DEV
    ref = cpu(tok)
    out = dev(tok.to(DEV))
    assert out.device.type == DEV and out.shape == ref.shape and out.dtype == ref.dtype
    assert (out.cpu() - ref).abs().max().item() <= 1e-6


def test_eval_no_grad_and_generation_loop():
    cpu, dev, tok = _pair(1)
    cpu.eval()
    dev.eval()
    with torch.no_grad():
        seq_c, seq_d = tok[:, :4], tok[:, :4].to(DEV)
        for _ in range(6):
            seq_c = torch.cat([seq_c, cpu(seq_c)[:, -1].argmax(-1, keepdim=True)], 1)
            seq_d = torch.cat([seq_d, dev(seq_d)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(seq_d.cpu(), seq_c)


def test_state_dict_roundtrip():
    cpu, dev, tok = _pair(2)
    buf = io.BytesIO()
    torch.save(dev.state_dict(), buf)
    buf.seek(0)
    sd = torch.load(buf)
    assert set(sd) == set(dev.state_dict())
    assert all(v.device.type == DEV for v in sd.values())
    fresh = TinyLM().to(DEV)
    fresh.load_state_dict(sd)
    for (k, a), b in zip(fresh.state_dict().items(), dev.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu()), k
    assert torch.equal(fresh(tok.to(DEV)).cpu(), dev(tok.to(DEV)).cpu())
    buf.seek(0)
    on_cpu = TinyLM()
    on_cpu.load_state_dict(torch.load(buf, map_location="cpu"))
    assert torch.equal(on_cpu(tok), fresh(tok.to(DEV)).cpu())


def test_backward_and_adamw_match_cpu():
    cpu, dev, tok = _pair(3)
    target = torch.randint(0, 50, (2, 12))
    opt_c = torch.optim.AdamW(cpu.parameters(), lr=1e-2, weight_decay=0.1)
    opt_d = torch.optim.AdamW(dev.parameters(), lr=1e-2, weight_decay=0.1)
    for step in range(3):
        for model, opt, t, y in ((cpu, opt_c, tok, target), (dev, opt_d, tok.to(DEV), target.to(DEV))):
            opt.zero_grad()
            loss = F.cross_entropy(model(t).flatten(0, 1), y.flatten())
            loss.backward()
            opt.step()
        for (name, pc), pd in zip(cpu.named_parameters(), dev.parameters()):
            assert pd.grad.device.type == DEV
            torch.testing.assert_close(pd.grad.cpu(), pc.grad, rtol=1e-4, atol=1e-6, msg=f"{name} step {step}")
            torch.testing.assert_close(pd.detach().cpu(), pc.detach(), rtol=1e-5, atol=1e-6, msg=name)
    state = opt_d.state[next(iter(dev.parameters()))]
    assert state["exp_avg"].device.type == DEV


def _hf_pair(kind):
    transformers = pytest.importorskip("transformers", reason="the Hugging Face model needs transformers (pip install 'torch_photonic[models]')")
    torch.manual_seed(0)
    if kind == "gpt2":
        cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=32)
        model = transformers.GPT2LMHeadModel(cfg)
    else:
        cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                                       max_position_embeddings=64)
        model = transformers.LlamaForCausalLM(cfg)
    model.eval()
    return model, copy.deepcopy(model).to(DEV)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_hf_tiny_model_matches_cpu(kind):
    cpu, dev = _hf_pair(kind)
    tok = torch.randint(0, 100, (2, 10))
    with torch.no_grad():
        ref = cpu(tok).logits
        out = dev(tok.to(DEV)).logits
    assert out.device.type == DEV and out.shape == ref.shape
    assert (out.cpu() - ref).abs().max().item() <= 1e-6
    with torch.no_grad():
        g_c = cpu.generate(tok[:1, :4], max_new_tokens=5, do_sample=False)
        g_d = dev.generate(tok[:1, :4].to(DEV), max_new_tokens=5, do_sample=False)
    assert torch.equal(g_d.cpu(), g_c)

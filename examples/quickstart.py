"""Quickstart: move a small model to the emulated photonic chip, run it, check it against the CPU.

    python examples/quickstart.py

Runs on the CPU in seconds; no GPU, no network.
"""
import torch
from torch import nn

import torch_photonic as tp


class TinyTransformerBlock(nn.Module):
    def __init__(self, vocab=256, dim=128, heads=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.head = nn.Linear(dim, vocab)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / (d // self.heads) ** 0.5   # dynamic product (bmm)
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)

    def forward(self, ids):
        h = self.embed(ids)
        a = self.norm1(h)
        h = h + self.proj(self.attention(a))
        h = h + self.mlp(self.norm2(h))
        return self.head(h)


def main():
    torch.manual_seed(0)
    model = TinyTransformerBlock().eval()
    ids = torch.randint(0, 256, (2, 16))
    with torch.no_grad():
        ref = model(ids)

    dev = model.to("photonic")                       # parameters and buffers move to the device
    print(f"device: {next(dev.parameters()).device}, "
          f"memory allocated: {torch.photonic.memory_allocated() / 1e6:.2f} MB")

    # 1. exact mode: the device computes the float product (for testing); equals the CPU.
    with torch.photonic.set_config("exact"), torch.no_grad():
        exact = dev(ids.to("photonic")).cpu()
    err = (exact - ref).abs().max().item()
    print(f"exact mode        max |photonic - cpu| = {err:.2e}")
    assert err < 1e-4, err

    # 2. the default: the glass-substrate PCM chip, with its formats, noise and converters.
    print(f"default config: {tp.get_config().name}")
    with tp.meter() as m, torch.no_grad():
        out = dev(ids.to("photonic")).cpu()
    cos = torch.nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0).item()
    agree = (out.argmax(-1) == ref.argmax(-1)).float().mean().item()
    print(f"glass-pcm-200mm   logits cosine vs cpu = {cos:.4f}, top-1 agreement = {agree:.1%}")
    print(m.summary())
    assert cos > 0.95, cos
    print("quickstart OK")


if __name__ == "__main__":
    main()

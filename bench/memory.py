"""Memory of an emulated model on the CPU: its own weights, the programmed cells, the process.

    python bench/memory.py [--hidden 2048] [--layers 16] [--mlp 8192] [--tokens 16]

Builds a random-weight Llama-shaped model (defaults: about 1B parameters, hidden 2048, 16
layers, MLP 8192, 32 heads, 8 KV heads, vocabulary 32000) in float32, converts it to
``glass-pcm-200mm``, runs one forward (which programs every weight) and one more at an age of
one hour (drift: the aged copy), and reports the model's weight bytes, the store's bytes per
weight, and the process's peak resident memory over the weights. Target: <= 1.25x the model's
own weight memory.
"""
from __future__ import annotations

import argparse
import resource

import torch

import torch_photonic as tp
from torch_photonic.optics.store import store

TARGET = 1.25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--mlp", type=int, default=8192)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--preset", default="glass-pcm-200mm")
    a = ap.parse_args()
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=a.hidden, num_hidden_layers=a.layers,
                      intermediate_size=a.mlp, num_attention_heads=32, num_key_value_heads=8,
                      vocab_size=32000)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    optical = 0
    model = tp.convert(model, a.preset)
    for m in model.modules():
        if isinstance(m, tp.PhotonicLinear):
            optical += m.weight.numel()
    ids = torch.randint(0, cfg.vocab_size, (1, a.tokens))
    with torch.no_grad():
        model(ids)
        t0 = store.nbytes()
        tp.age(model, 3600.0)
        model(ids)
        aged = store.nbytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.3g} B parameters, "
          f"{weights / 1e9:.3g} GB of float32 weights ({optical / 1e9:.3g} B on the optics)")
    print(f"store: {t0 / optical:.2f} bytes per optical weight after programming, "
          f"{aged / optical:.2f} once aged")
    print(f"process peak RSS: {peak / 1e9:.3g} GB = {peak / weights:.2f}x the weights "
          f"(target <= {TARGET}x)")


if __name__ == "__main__":
    main()

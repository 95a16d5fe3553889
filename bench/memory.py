"""Memory of an emulated model on the CPU: its own weights, the programmed cells, the process.

    python bench/memory.py [--keep-weights] [--hidden 2048] [--layers 16] [--mlp 8192]

Builds a random-weight Llama-shaped model (defaults: about 1B parameters, hidden 2048, 16
layers, MLP 8192, 32 heads, 8 KV heads, vocabulary 32000) in float32, converts it to
``glass-pcm-200mm`` and programs it with ``tp.program(model, release_weights=True)`` (the cells
replace the digital copies; ``--keep-weights`` programs without letting them go, as a model
that is still fine-tuned must), runs one forward, then one more at an age of one hour (drift:
the aged cells). Reports the model's weight bytes, the store's bytes per optical weight, and
the process's peak resident memory above what it held before the model was built (Python,
torch and transformers themselves), over the model's weight bytes. Target: <= 1.25x.
Run the two modes in separate processes (peak memory is per process).
"""
from __future__ import annotations

import argparse
import resource
import time

import torch

import torch_photonic as tp
from torch_photonic.optics.store import store

TARGET = 1.25


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _resident() -> float:
    """Resident bytes now (Linux), or NaN."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except OSError:
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--mlp", type=int, default=8192)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--preset", default="glass-pcm-200mm")
    ap.add_argument("--keep-weights", action="store_true",
                    help="program without letting the digital weights go")
    a = ap.parse_args()
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=a.hidden, num_hidden_layers=a.layers,
                      intermediate_size=a.mlp, num_attention_heads=32, num_key_value_heads=8,
                      vocab_size=32000)
    ids = torch.randint(0, cfg.vocab_size, (1, a.tokens))
    base = _peak()
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    n_params = sum(p.numel() for p in model.parameters())
    model = tp.convert(model, a.preset)
    optical = sum(m.weight.numel() for m in model.modules() if isinstance(m, tp.PhotonicLinear))
    t = time.perf_counter()
    tp.program(model, release_weights=not a.keep_weights)
    t_program = time.perf_counter() - t
    peaks = [_peak()]
    with torch.no_grad():
        t = time.perf_counter()
        model(ids)
        t_fwd = time.perf_counter() - t
        peaks.append(_peak())
        t0 = store.nbytes()
        tp.age(model, 3600.0)
        t = time.perf_counter()
        model(ids)
        t_aged = time.perf_counter() - t
        aged = store.nbytes()
    peak = _peak()
    peaks.append(peak)
    mode = "digital weights kept" if a.keep_weights else "digital weights released"
    print(f"model: {n_params / 1e9:.3g} B parameters, {weights / 1e9:.3g} GB of float32 "
          f"weights ({optical / 1e9:.3g} B on the optics); {mode}")
    print(f"store: {t0 / optical:.2f} bytes per optical weight after programming, "
          f"{aged / optical:.2f} once aged")
    print(f"time: program {t_program:.1f} s, forward of {a.tokens} tokens {t_fwd:.1f} s, "
          f"aged forward (drift of every cell) {t_aged:.1f} s")
    print(f"process: {base / 1e9:.3g} GB before the model, peak {peak / 1e9:.3g} GB; "
          f"above that: {(peak - base) / 1e9:.3g} GB = {(peak - base) / weights:.2f}x the "
          f"weights (target <= {TARGET}x); whole process {peak / weights:.2f}x")
    print("peak above the start, over the weights, once programmed / after the first forward / "
          "after the aged one: " + " / ".join(f"{(p - base) / weights:.2f}x" for p in peaks)
          + f"; resident at the end: {(_resident() - base) / weights:.2f}x")


if __name__ == "__main__":
    main()

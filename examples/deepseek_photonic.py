"""Acceptance example: a DeepSeek-V3 with trained weights generating on the emulated glass chip.

The model is the tiny DeepSeek-V3 that ships with the package (transformers'
DeepseekV3ForCausalLM: MLA attention with low-rank q/kv, a dense first layer, 8 routed experts
top-2 + 1 shared; trained on the Shakespeare comedies and histories,
``torch_photonic.models.load_deepseek_tiny``). Prompted with the opening lines of Hamlet (never
trained on) it generates 32 tokens greedily four ways:

1. full precision on the CPU (the reference),
2. ``tp.convert(model, preset)`` on the CPU,
3. ``torch.photonic.set_config(preset)`` + ``model.to("photonic")``,
4. a copy fine-tuned for the preset with ``tp.finetune`` on the training text (24 steps of
   8 x 64 tokens by default, ``--finetune-steps 0`` leaves it out), then deployed.

For every path it prints the held-out perplexity (the first 512 tokens of Hamlet, 8 news
sentences), the teacher-forced top-1 agreement with full precision on Hamlet, the fraction of
tokens per MoE layer whose routed experts differ from full precision's, and the generated text;
for 2-4 also J/token by component, TOPS/W, chips needed, the GPU comparison and tokens per
expert, and it writes the energy plot. ``--model deepseek-tiny-random`` runs the random-weight
model of the same structure (shapes and energy only). About 4 minutes on 2 cores, most of it
fine-tuning and the chip's decode steps::

    PYTHONPATH=. python examples/deepseek_photonic.py [--preset glass-pcm-200mm] [--tokens 32]

Same as ``torch-photonic run``.
"""
from __future__ import annotations

import argparse
import json
import sys

from torch_photonic.eval.acceptance import PATHS, format_run, run_deepseek


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="deepseek-tiny",
                    help="deepseek-tiny (trained), deepseek-tiny-random, deepseek-small")
    ap.add_argument("--preset", default="glass-pcm-200mm", help="preset name or .json/.toml file")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--path", nargs="+", default=None, choices=list(PATHS),
                    help="default: every path that applies to the model")
    ap.add_argument("--heldout-tokens", type=int, default=512)
    ap.add_argument("--news-sentences", type=int, default=8)
    ap.add_argument("--finetune-steps", type=int, default=24,
                    help="0 leaves the finetuned path out")
    ap.add_argument("--experts", default="grouped_mm", choices=["grouped_mm", "eager"])
    ap.add_argument("--plot", default="deepseek_photonic.png")
    ap.add_argument("--report-json", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--strict", action="store_true", help="stop at the first failing path")
    args = ap.parse_args(argv)
    if args.tokens < 1:
        ap.error("--tokens must be >= 1")
    if args.finetune_steps < 0:
        ap.error("--finetune-steps must be >= 0")
    out = run_deepseek(model=args.model, preset=args.preset, tokens=args.tokens, paths=args.path,
                       experts_implementation=args.experts, plot=args.plot,
                       report_json=args.report_json, progress=not args.json, strict=args.strict,
                       heldout_tokens=args.heldout_tokens, news_sentences=args.news_sentences,
                       finetune_steps=args.finetune_steps)
    if args.json:
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
    else:
        print(format_run(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

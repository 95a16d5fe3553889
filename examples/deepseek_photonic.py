"""Acceptance example: a DeepSeek-style model generating on the emulated glass chip.

A tiny DeepSeek-V3-structured model (transformers' DeepseekV3ForCausalLM: MLA attention with
low-rank q/kv, a dense first layer, 8 routed experts top-2 + 1 shared; random weights, seed 0)
generates 32 tokens greedily three ways:

1. full precision on the CPU (the reference),
2. ``tp.convert(model, preset)`` on the CPU,
3. ``torch.photonic.set_config(preset)`` + ``model.to("photonic")``.

For 2 and 3 it prints top-1 agreement and logits cosine vs full precision, J/token by
component, TOPS/W, chips needed, the GPU comparison and tokens per expert, and writes the
energy plot. Runs in well under 2 minutes on 2 cores::

    PYTHONPATH=. python examples/deepseek_photonic.py [--preset glass-pcm-200mm] [--tokens 32]

Same as ``torch-photonic run``.
"""
from __future__ import annotations

import argparse
import json
import sys

from torch_photonic.eval.acceptance import format_run, run_deepseek


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="deepseek-tiny")
    ap.add_argument("--preset", default="glass-pcm-200mm", help="preset name or .json/.toml file")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--path", nargs="+", default=["cpu", "convert", "photonic"],
                    choices=["cpu", "convert", "photonic"])
    ap.add_argument("--experts", default="grouped_mm", choices=["grouped_mm", "eager"])
    ap.add_argument("--plot", default="deepseek_photonic.png")
    ap.add_argument("--report-json", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--strict", action="store_true", help="stop at the first failing path")
    args = ap.parse_args(argv)
    if args.tokens < 1:
        ap.error("--tokens must be >= 1")
    out = run_deepseek(model=args.model, preset=args.preset, tokens=args.tokens, paths=args.path,
                       experts_implementation=args.experts, plot=args.plot,
                       report_json=args.report_json, progress=not args.json, strict=args.strict)
    if args.json:
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
    else:
        print(format_run(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

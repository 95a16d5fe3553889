"""The README accuracy table: every preset at 1 hour and 1 year after programming, next to the
digital baselines W8A8 and W4A8 (round-to-nearest), with the error budget of each preset's worst
SmolLM2 layer.

* MiniLM (all-MiniLM-L6-v2): mean embedding cosine vs fp32 over 200 news sentences;
* SmolLM2-135M: perplexity on the first 512 tokens of Hamlet (fp32: 16.74).

Converter ranges that a preset calibrates are calibrated on other text (news sentences outside the
evaluation set; The Tempest), never on the text evaluated. Each preset's model is programmed once
and aged (``tp.age``). About 15 minutes on 2 cores::

    PYTHONPATH=. python examples/accuracy_table.py [--json rows.json] [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

import torch

import torch_photonic as tp
from torch_photonic.eval.aging import accuracy_over_time
from torch_photonic.eval.data import shakespeare_slice
from torch_photonic.eval.diagnose import diagnose, human_time
from torch_photonic.eval.digital import BASELINES, rtn_transform
from torch_photonic.eval.loaders import load_smollm2
from torch_photonic.eval.metrics import minilm_cosine, smollm2_perplexity

TIMES = (3600.0, 31536000.0)
PRESETS = ("glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021", "ideal")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--quick", action="store_true", help="32 sentences, 128 tokens (smoke test)")
    ap.add_argument("--preset", action="append", help="presets (default: all four)")
    args = ap.parse_args(argv)
    n, tokens = (32, 128) if args.quick else (200, 512)
    presets = args.preset or list(PRESETS)
    warnings.simplefilter("ignore", RuntimeWarning)
    out = dict(sentences=n, tokens=tokens, presets={}, digital={}, worst_layers={})

    for label, (wb, ab) in BASELINES.items():
        t = rtn_transform(wb, ab)
        out["digital"][label] = dict(minilm=minilm_cosine(t, n=n)["mean"],
                                     smollm2=smollm2_perplexity(t, n_tokens=tokens)["ppl"])
        print(label, out["digital"][label], flush=True)
    for metric in ("minilm", "smollm2"):
        for r in accuracy_over_time(metric, presets, TIMES, n=n, n_tokens=tokens):
            row = out["presets"].setdefault(r["preset"], {})
            row[f"{metric}@{human_time(r['seconds'])}"] = r["value"]
            row[f"{metric}_reference"] = r["reference"]
            print(r["preset"], metric, human_time(r["seconds"]), r["value"], flush=True)

    tok, model = load_smollm2()
    ids = shakespeare_slice(tok, 128).view(1, -1)
    for p in presets:
        if p == "ideal":
            continue
        d = diagnose(model, dict(input_ids=ids, use_cache=False), p, seconds=TIMES[0])
        worst = max(d["layers"], key=lambda r: r["error"])
        out["worst_layers"][p] = dict(layer=worst["name"], all=worst["error"],
                                      alone=worst["errors"], dominant=worst["dominant"],
                                      input_clip_rate=worst["input_clip_rate"],
                                      output_clip_rate=worst["output_clip_rate"],
                                      dominant_overall=d["summary"]["dominant"],
                                      mean_error=d["summary"]["mean_error"],
                                      end_to_end=d["end_to_end"]["rel_error"])
        print(p, json.dumps(out["worst_layers"][p], default=str), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    torch.manual_seed(0)
    sys.exit(main())

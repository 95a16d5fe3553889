"""The work of one decode step of a model, layer by layer: what the system planner prices.

:func:`workload` reads a model's module tree (shapes only, so a model built under
``torch.device("meta")`` costs no memory) and its ``config`` (attention and MoE sizes) into a
:class:`Workload`: for each transformer layer, in order, the weight products a token goes
through, the attention it runs over the cached context, and its other host ops.

What runs where (the device's defaults): every ``nn.Linear`` and fused-experts weight is an
optical product; attention (both operands change every token), norms, activations, residual
adds, RoPE, routing and the embedding lookup run on the host.

Attention per token and cached position:

* MLA (``config.kv_lora_rank`` set, DeepSeek-V2/V3): the latent of ``kv_lora_rank +
  qk_rope_head_dim`` values per token and layer is cached and attention runs in the latent space
  ("weight absorption"): ``2 * heads * ((kv_lora_rank + rope) + kv_lora_rank)`` FLOPs.
* Multi-head / grouped-query attention: ``2 * kv_heads * head_dim`` cached values and
  ``4 * heads * head_dim`` FLOPs.

Host ops per layer (launched one after the other, each paying ``host.op_overhead_s``): two
norms, RoPE, attention scores, softmax, attention-weighted sum, two residual adds, the gated
activation, and for MoE layers routing (a ``hidden x n_experts`` product and a top-k).
Their element-wise work is ``HOST_FLOPS_PER_HIDDEN * hidden`` FLOPs per token (norms, adds,
RoPE; a count of the formulas) plus 3 per element of the active feed-forward width (SiLU and the
gate product), moving ``2 * dynamic.bytes_per_element`` bytes per FLOP's operand.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

__all__ = ["Product", "Attention", "Layer", "Workload", "workload", "touched_experts",
           "register_model", "meta_model", "planned_models", "is_linear", "HOST_OPS_PER_LAYER",
           "HOST_FLOPS_PER_HIDDEN"]

#: models the planner knows by name: name -> a function building it on the meta device
#: (filled by :mod:`torch_photonic.models`, which imports this module, not the other way)
_MODELS: Dict[str, Callable[[], Any]] = {}


def register_model(name: str, build_meta: Callable[[], Any]) -> None:
    """Let ``tp.plan(name, ...)`` build ``name`` (on the meta device) with ``build_meta()``."""
    _MODELS[str(name)] = build_meta


def planned_models() -> List[str]:
    return list(_MODELS)


def meta_model(name: str) -> Any:
    """The registered model ``name`` built on the meta device."""
    if name not in _MODELS:
        raise ValueError(f"model_or_name: unknown model {name!r}; known models: "
                         f"{', '.join(_MODELS) or '(none registered)'}")
    return _MODELS[name]()

#: host ops of a transformer layer besides routing (see the module docstring)
HOST_OPS_PER_LAYER = 9
#: element-wise FLOPs per hidden element and token: 2 RMS norms (4 each: square, sum, scale,
#: weight), RoPE (3, on the rotated part, counted on the full width as an upper bound), 2
#: residual adds (1 each)
HOST_FLOPS_PER_HIDDEN = 13

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_EXPERT_LINEAR = re.compile(r"^(.*\.experts)\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class Product:
    """A weight matrix a token goes through: ``k`` inputs, ``n`` outputs. ``count`` matrices of
    that shape (routed experts), of which a token uses ``per_token`` (top-k; all for dense)."""
    name: str
    k: int
    n: int
    count: int = 1
    per_token: int = 1
    kind: str = "linear"              # "linear" | "experts"

    @property
    def weights(self) -> int:
        return self.k * self.n * self.count


@dataclass(frozen=True)
class Attention:
    heads: int
    cached_values: int                # per token (K and V, or the MLA latent)
    flops_per_position: float         # per query token and cached position


@dataclass
class Layer:
    name: str
    products: List[Product] = field(default_factory=list)
    attention: Optional[Attention] = None
    hidden: int = 0
    ffn_width: int = 0                # active feed-forward width per token (for SiLU work)
    router_experts: int = 0           # routed experts (0: dense layer)
    router_top_k: int = 0

    @property
    def host_ops(self) -> int:
        if self.attention is None:
            return 0
        return HOST_OPS_PER_LAYER + (2 if self.router_experts else 0)

    def host_flops_per_token(self) -> float:
        """Element-wise and routing FLOPs per token (attention apart)."""
        if self.attention is None:
            return 0.0
        f = HOST_FLOPS_PER_HIDDEN * self.hidden + 3.0 * self.ffn_width
        if self.router_experts:
            f += 2.0 * self.hidden * self.router_experts + self.router_experts
        return f


@dataclass
class Workload:
    name: str
    layers: List[Layer]
    params: int                       # all parameters (embedding and norms included)
    hidden: int
    vocab: int

    @property
    def optical_weights(self) -> int:
        return sum(p.weights for l in self.layers for p in l.products)

    def cached_values_per_token(self) -> int:
        return sum(l.attention.cached_values for l in self.layers if l.attention)

    def kv_bytes(self, batch: int, context: int, kv_bytes: int) -> int:
        """KV-cache bytes of ``batch`` sequences of ``context`` cached tokens."""
        return int(batch) * int(context) * self.cached_values_per_token() * int(kv_bytes)

    def macs_per_token(self) -> int:
        """Optical MACs of one token (routed experts at top-k)."""
        return sum(p.k * p.n * p.per_token for l in self.layers for p in l.products)

    def active_weights(self, batch: int) -> float:
        """Expected distinct weights one step of ``batch`` tokens reads (uniform routing)."""
        tot = 0.0
        for l in self.layers:
            for p in l.products:
                used = touched_experts(p, batch) if p.kind == "experts" else 1.0
                tot += p.k * p.n * used
        return tot


def touched_experts(p: Product, batch: int) -> float:
    """Expected distinct experts of ``p`` that ``batch`` tokens use, each routed to
    ``per_token`` of ``count`` experts uniformly: ``count * (1 - (1 - per_token/count)^batch)``."""
    if p.kind != "experts" or p.per_token >= p.count:
        return float(p.count if p.kind == "experts" else 1)
    return p.count * (1.0 - (1.0 - p.per_token / p.count) ** int(batch))


def is_linear(module: Any) -> bool:
    """An ``nn.Linear`` or a module shaped like one (``in_features``, ``out_features`` and a 2-D
    ``weight`` of ``[out, in]``, as a photonic layer): a weight product."""
    import torch.nn as nn
    if isinstance(module, nn.Linear):
        return True
    w = getattr(module, "weight", None)
    return (hasattr(module, "in_features") and hasattr(module, "out_features")
            and isinstance(w, nn.Parameter) and w.dim() == 2
            and tuple(w.shape) == (int(module.out_features), int(module.in_features)))


def _is_experts(name: str, module: Any) -> bool:
    return "expert" in type(module).__name__.lower() or name.rsplit(".", 1)[-1] == "experts"


def _attention(cfg: Any) -> Optional[Attention]:
    heads = getattr(cfg, "num_attention_heads", None)
    if not heads:
        return None
    kv_lora = getattr(cfg, "kv_lora_rank", None)
    if kv_lora:
        rope = int(getattr(cfg, "qk_rope_head_dim", 0) or 0)
        latent = int(kv_lora) + rope
        return Attention(heads=int(heads), cached_values=latent,
                         flops_per_position=2.0 * heads * (latent + int(kv_lora)))
    hidden = int(cfg.hidden_size)
    head_dim = int(getattr(cfg, "head_dim", None) or hidden // int(heads))
    kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
    return Attention(heads=int(heads), cached_values=2 * kv_heads * head_dim,
                     flops_per_position=4.0 * heads * head_dim)


def workload(model: Any, name: Optional[str] = None) -> Workload:
    """The decode work of ``model`` (an ``nn.Module``, real or on the meta device)."""
    import torch.nn as nn
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    cfg = getattr(model, "config", None)
    top_k = int(getattr(cfg, "num_experts_per_tok", 0) or 0)
    att = _attention(cfg) if cfg is not None else None
    hidden = int(getattr(cfg, "hidden_size", 0) or 0)

    layers: Dict[str, Layer] = {}
    order: List[str] = []
    grouped: Dict[str, Dict[str, Any]] = {}   # experts stored as ModuleLists of Linear

    def layer_of(mod_name: str) -> Layer:
        m = _LAYER.search(mod_name + ".")
        key = f"layers.{m.group(1)}" if m else ("head" if "lm_head" in mod_name else "other")
        if key not in layers:
            layers[key] = Layer(name=key, hidden=hidden)
            order.append(key)
        return layers[key]

    for mod_name, mod in model.named_modules():
        if is_linear(mod):
            w = mod.weight
            em = _EXPERT_LINEAR.match(mod_name)
            if em and top_k:
                key = f"{em.group(1)}.{em.group(3)}"
                g = grouped.setdefault(key, dict(k=int(w.shape[1]), n=int(w.shape[0]), count=0,
                                                 layer=layer_of(mod_name)))
                g["count"] += 1
                continue
            layer_of(mod_name).products.append(
                Product(name=mod_name, k=int(w.shape[1]), n=int(w.shape[0])))
        elif _is_experts(mod_name, mod):
            for pname, p in mod.named_parameters(recurse=False):
                if p.dim() == 3:
                    e, out, inp = (int(s) for s in p.shape)
                    layer_of(mod_name).products.append(Product(
                        name=f"{mod_name}.{pname}", k=inp, n=out, count=e,
                        per_token=min(top_k or e, e), kind="experts"))
    for key, g in grouped.items():
        g["layer"].products.append(Product(name=key, k=g["k"], n=g["n"], count=g["count"],
                                           per_token=min(top_k, g["count"]), kind="experts"))

    for l in layers.values():
        if not l.name.startswith("layers."):
            continue
        l.attention = att
        experts = [p for p in l.products if p.kind == "experts"]
        if experts:
            l.router_experts = max(p.count for p in experts)
            l.router_top_k = top_k
        # active feed-forward width per token: the outputs of the up/gate-style products
        l.ffn_width = sum(p.n * p.per_token for p in l.products
                          if re.search(r"(gate_up|up_proj|gate_proj)", p.name))

    def sort_key(k: str):
        if k == "other":
            return (0, 0)
        if k == "head":
            return (2, 0)
        return (1, int(k.split(".")[1]))

    ordered = [layers[k] for k in sorted(order, key=sort_key)]
    params = sum(int(p.numel()) for p in model.parameters())
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    return Workload(name=name or type(model).__name__, layers=ordered, params=params,
                    hidden=hidden, vocab=vocab)

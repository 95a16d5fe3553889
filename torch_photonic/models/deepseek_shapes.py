"""DeepSeek-V3-sized shapes for dry runs: a meta-device model and analytic per-token work.

``transformers.DeepseekV3Config()`` defaults are the V3 sizes (hidden 7168, 61 layers, first 3
dense, 256 routed experts top-8 + 1 shared, MoE width 2048, MLA with q_lora 1536, kv_lora 512,
rope 64, 128 heads, vocab 129280): :func:`build_meta_model` builds it under
``torch.device("meta")`` (671.0 B parameters, no weight memory). The multi-token-prediction
module (``num_nextn_predict_layers``) is not built by transformers and not counted (DeepSeek's
685 B = 671 B main model + 14 B MTP, DeepSeek-V3 technical report, arXiv 2412.19437).

:func:`decode_work` and :func:`prefill_work` list the matrix products, host ops and KV traffic
of one decode step / one prefill analytically from the config (the model is never run), and
:func:`emit` replays them into :mod:`torch_photonic.energy.events` so a meter prices them.

Modelling choices (documented, from the V3 report §2.1.1):
* MLA caches only the compressed latent (``kv_lora_rank`` + ``qk_rope_head_dim`` = 576 values
  per token per layer) and runs attention in the latent space ("weight absorption"): per head,
  QK^T is over 576 dims and AV over 512; ``kv_b_proj``'s two halves act as the query/output
  absorptions, so the static projection MACs equal one ``kv_b_proj`` per token.
* The attention products are dynamic (both operands change every token).
* The router (7168 x 256) runs on the host (routing is electronic), as do norms, softmax,
  SiLU, RoPE and the embedding lookup. Routing is uniform: with T tokens each of the
  ``min(256, 8T)`` experts used sees ``ceil(8T/256)`` rows.
* Prefill computes logits for the last position only; causal attention is counted as
  T(T+1)/2 query-key pairs.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from ..energy import events

__all__ = ["v3_config", "build_meta_model", "decode_work", "prefill_work", "emit",
           "param_counts"]


def v3_config(**overrides) -> Any:
    """``DeepseekV3Config()`` (V3 sizes by default) with overrides."""
    from transformers import DeepseekV3Config
    return DeepseekV3Config(**overrides)


def build_meta_model(config: Any = None) -> Any:
    """DeepseekV3ForCausalLM on the meta device (shapes only, no weight memory)."""
    import torch
    from transformers import DeepseekV3ForCausalLM
    config = config or v3_config()
    with torch.device("meta"):
        return DeepseekV3ForCausalLM(config)


def _layer_shapes(c: Any, layer: int) -> List[Dict[str, Any]]:
    """Static (weight) products of one layer for one token: module, op, k (in), n (out),
    and 'experts' = True for routed experts."""
    H = c.hidden_size
    heads = c.num_attention_heads
    qk = c.qk_nope_head_dim + c.qk_rope_head_dim
    p = f"model.layers.{layer}"
    out = [
        dict(module=f"{p}.self_attn.q_a_proj", k=H, n=c.q_lora_rank),
        dict(module=f"{p}.self_attn.q_b_proj", k=c.q_lora_rank, n=heads * qk),
        dict(module=f"{p}.self_attn.kv_a_proj_with_mqa", k=H, n=c.kv_lora_rank + c.qk_rope_head_dim),
        dict(module=f"{p}.self_attn.kv_b_proj", k=c.kv_lora_rank,
             n=heads * (c.qk_nope_head_dim + c.v_head_dim)),
        dict(module=f"{p}.self_attn.o_proj", k=heads * c.v_head_dim, n=H),
    ]
    if layer < c.first_k_dense_replace:
        I = c.intermediate_size
        out += [dict(module=f"{p}.mlp.gate_proj", k=H, n=I), dict(module=f"{p}.mlp.up_proj", k=H, n=I),
                dict(module=f"{p}.mlp.down_proj", k=I, n=H)]
    else:
        I = c.moe_intermediate_size * c.n_shared_experts
        s = f"{p}.mlp.shared_experts"
        out += [dict(module=f"{s}.gate_proj", k=H, n=I), dict(module=f"{s}.up_proj", k=H, n=I),
                dict(module=f"{s}.down_proj", k=I, n=H)]
        Ie = c.moe_intermediate_size
        out += [dict(module=f"{p}.mlp.experts.gate_up_proj", k=H, n=2 * Ie, experts=True),
                dict(module=f"{p}.mlp.experts.down_proj", k=Ie, n=H, experts=True)]
    return out


def param_counts(config: Any = None) -> Dict[str, float]:
    """Analytic parameter counts: total, optical (matrices), active per token."""
    c = config or v3_config()
    total_opt = active = 0
    for layer in range(c.num_hidden_layers):
        for s in _layer_shapes(c, layer):
            w = s["k"] * s["n"]
            total_opt += w * (c.n_routed_experts if s.get("experts") else 1)
            active += w * (c.num_experts_per_tok if s.get("experts") else 1)
    head = c.hidden_size * c.vocab_size
    router = c.hidden_size * c.n_routed_experts * (c.num_hidden_layers - c.first_k_dense_replace)
    embed = c.hidden_size * c.vocab_size
    return dict(optical=total_opt + head, active_optical=active + head, router=router,
                embed=embed, active_total=active + head + router + embed)


def _work(c: Any, tokens: int, context: int, phase: str, kv_bytes: int) -> Dict[str, Any]:
    """T = tokens new positions, attending to `context` cached positions before them."""
    T = int(tokens)
    H, heads = c.hidden_size, c.num_attention_heads
    lat = c.kv_lora_rank + c.qk_rope_head_dim
    mv: List[Dict[str, Any]] = []
    host: List[Dict[str, Any]] = []
    kv_read = kv_written = 0.0
    k_routed = c.num_experts_per_tok
    used = min(c.n_routed_experts, k_routed * T)
    rows_per_expert = math.ceil(k_routed * T / c.n_routed_experts) if T else 0
    # query-key pairs: decode T=1 sees context+1 keys; prefill is causal
    pairs = T * context + T * (T + 1) // 2
    host.append(dict(module="model.embed_tokens", op="embedding", flops=0.0,
                     bytes=T * H * 2.0))
    for layer in range(c.num_hidden_layers):
        p = f"model.layers.{layer}"
        for s in _layer_shapes(c, layer):
            if s.get("experts"):
                for e in range(used):
                    mv.append(dict(module=s["module"], op="expert", m=rows_per_expert, k=s["k"],
                                   n=s["n"], expert=e))
            else:
                mv.append(dict(module=s["module"], op="linear", m=T, k=s["k"], n=s["n"]))
        # dynamic latent-space attention: QK^T over 576 dims, AV over 512 dims, every head
        avg_keys = pairs / T if T else 0
        mv.append(dict(module=f"{p}.self_attn", op="qk", m=T, k=lat,
                       n=max(1, round(avg_keys)), batch=heads, dynamic=True))
        mv.append(dict(module=f"{p}.self_attn", op="av", m=T, k=max(1, round(avg_keys)),
                       n=c.kv_lora_rank, batch=heads, dynamic=True))
        kv_read += (context + (T if phase == "prefill" else 0)) * lat * kv_bytes
        kv_written += T * lat * kv_bytes
        # host ops: ~5 FLOP per softmax element; RMSNorm ~4 FLOP/element (3 norms);
        # SiLU*mul ~5 FLOP/element; router 2*H*E FLOP per token + reading its bf16 weights
        host.append(dict(module=f"{p}.self_attn", op="softmax", flops=5.0 * heads * pairs,
                         bytes=4.0 * heads * pairs))
        host.append(dict(module=f"{p}", op="rmsnorm",
                         flops=4.0 * T * (2 * H + c.q_lora_rank + c.kv_lora_rank),
                         bytes=2.0 * T * (2 * H + c.q_lora_rank + c.kv_lora_rank) * 2))
        if layer < c.first_k_dense_replace:
            act = c.intermediate_size * T
        else:
            act = (c.moe_intermediate_size * c.n_shared_experts) * T \
                + c.moe_intermediate_size * k_routed * T
            host.append(dict(module=f"{p}.mlp.gate", op="router",
                             flops=2.0 * T * H * c.n_routed_experts + 10.0 * T * c.n_routed_experts,
                             bytes=2.0 * H * c.n_routed_experts + 2.0 * T * H))
        host.append(dict(module=f"{p}.mlp", op="silu_mul", flops=5.0 * act, bytes=6.0 * act))
    head_rows = T if phase == "decode" else 1
    host.append(dict(module="model.norm", op="rmsnorm", flops=4.0 * T * H, bytes=4.0 * T * H))
    mv.append(dict(module="lm_head", op="linear", m=head_rows, k=H, n=c.vocab_size))
    static = sum(x["m"] * x["k"] * x["n"] * x.get("batch", 1) for x in mv if not x.get("dynamic"))
    dyn = sum(x["m"] * x["k"] * x["n"] * x.get("batch", 1) for x in mv if x.get("dynamic"))
    return dict(phase=phase, tokens=T, context=context, mvms=mv, host=host,
                kv=dict(bytes_read=kv_read, bytes_written=kv_written),
                static_macs=static, dynamic_macs=dyn, macs=static + dyn)


def decode_work(config: Any = None, context: int = 4096, kv_bytes: int = 2) -> Dict[str, Any]:
    """One batch-1 decode step at ``context`` cached tokens (bf16 latent cache by default;
    ``kv_bytes=1`` for an FP8 cache)."""
    return _work(config or v3_config(), 1, context, "decode", kv_bytes)


def prefill_work(config: Any = None, tokens: int = 4096, kv_bytes: int = 2) -> Dict[str, Any]:
    """Prefill of one ``tokens``-long prompt (empty cache before it)."""
    c = config or v3_config()
    return _work(c, tokens, 0, "prefill", kv_bytes)


def emit(work: Dict[str, Any], hw_config: Any) -> None:
    """Replay a work list into :mod:`torch_photonic.energy.events` (priced by any open meter)."""
    for x in work["mvms"]:
        events.record_mvm(x["module"], x["op"], x["m"], x["k"], x["n"], hw_config,
                          dynamic=x.get("dynamic", False), expert=x.get("expert"),
                          batch=x.get("batch", 1))
    for h in work["host"]:
        events.record_host(h["op"], h["flops"], h["bytes"], module=h["module"])
    events.record_kv(work["kv"]["bytes_read"], work["kv"]["bytes_written"], module="kv_cache")

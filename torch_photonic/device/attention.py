"""``F.scaled_dot_product_attention`` on the ``photonic`` device.

Attention has two dynamic products, ``Q K^T`` and ``P V``. Where they would run on the host
anyway (config ``"exact"``, or a :class:`~torch_photonic.HardwareConfig` whose
``dynamic.mode`` is ``"electronic"``), the whole attention runs as the CPU's fused flash kernel
on host aliases of the device operands, instead of PyTorch's math path (``bmm`` + ``softmax`` +
masks, one op at a time through the alias fallback). Where they run on the optics
(``dynamic.mode == "optical"``), the math path stays, so that both products go through the
device's matmul entry and the optical kernel.

How the choice is made: ``at::scaled_dot_product_attention`` asks the photonic stub of
``_fused_sdp_choice`` (``csrc/aten/register_attention.cpp``), which defers to the PrivateUse1
kernel of ``aten::_fused_sdp_choice`` registered here. That kernel answers as the CPU would for
the same operands (so ``torch.nn.attention.sdpa_kernel`` and the CPU's own limits apply), with
``OVERRIDEABLE`` in place of the CPU's flash kernel; ``OVERRIDEABLE`` sends the call to
``aten::_scaled_dot_product_fused_attention_overrideable`` and, under autograd, its backward,
both registered here on the CPU flash kernels (run through the device's host fallback, so the
meter's host-op counters see them).

The energy meter sees the fused kernel as it sees the math path: in a non-exact config, the
forward reports the two dynamic products and the backward the up to four products the math
path's backward would run, with the same sizes and in the same order.
"""
from __future__ import annotations

import math
import threading
from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch.nn.attention import SDPBackend

from .. import _C
from ..energy import events
from . import module as _device_module

__all__ = ["install", "runs_on_host"]

NAME = "photonic"
_MODULE = "device.attention"  # the meter row of the math path's products (device/matmul.py)

_MATH = int(SDPBackend.MATH)
_FLASH = int(SDPBackend.FLASH_ATTENTION)
_OVERRIDEABLE = int(SDPBackend.OVERRIDEABLE)

_lock = threading.Lock()
_library: Optional[torch.library.Library] = None


def runs_on_host(config: Any) -> bool:
    """Whether attention's dynamic products run on the host under ``config``."""
    if isinstance(config, str):
        return config == "exact"
    return config.dynamic.mode == "electronic"


def _host(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """A host alias of a device operand, requiring grad as it does (the CPU's choice reads that)."""
    if t is None or t.device.type != NAME:
        return t
    alias = _C._host_alias(t)
    return alias.requires_grad_() if t.requires_grad else alias


def _batch(query: torch.Tensor) -> int:
    return math.prod(query.shape[:-2])


def _record(config: Any, products: Sequence[Tuple[int, int, int]], batch: int) -> None:
    for m, k, n in products:
        events.record_mvm(_MODULE, "bmm", m, k, n, config, dynamic=True, batch=batch)


# ---- aten::_fused_sdp_choice -----------------------------------------------------------------
def _fused_sdp_choice(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attn_mask: Optional[torch.Tensor] = None, dropout_p: float = 0.0,
                      is_causal: bool = False, *, scale: Optional[float] = None,
                      enable_gqa: bool = False) -> int:
    if not runs_on_host(_device_module.get_config()):
        return _MATH  # the products go through the optical kernel, one bmm at a time
    if attn_mask is not None and attn_mask.requires_grad:
        return _MATH  # the CPU's flash backward gives no gradient for the mask
    choice = torch._fused_sdp_choice(_host(query), _host(key), _host(value), _host(attn_mask),
                                     dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa)
    return _OVERRIDEABLE if choice == _FLASH else choice


# ---- aten::_scaled_dot_product_fused_attention_overrideable (+ backward) ------------------------
def _fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attn_bias: Optional[torch.Tensor] = None, dropout_p: float = 0.0,
                     is_causal: bool = False, return_debug_mask: bool = False, *,
                     scale: Optional[float] = None):
    if events.active():
        config = _device_module.get_config()
        if not isinstance(config, str):
            L, E, S, Ev = query.shape[-2], query.shape[-1], key.shape[-2], value.shape[-1]
            _record(config, [(L, E, S), (L, S, Ev)], _batch(query))  # Q K^T, then P V
    out, logsumexp = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal, attn_mask=attn_bias, scale=scale)
    L, S = query.shape[-2], key.shape[-2]
    empty = [query.new_empty(0) for _ in range(5)]
    return out, logsumexp, empty[0], empty[1], L, S, empty[2], empty[3], empty[4]


def _backward_products(L: int, E: int, S: int, Ev: int,
                       needs: Sequence[bool]) -> List[Tuple[int, int, int]]:
    """The products of the math path's backward, in the order autograd runs them."""
    needs_q, needs_k, needs_v = needs[0], needs[1], needs[2]
    products = []
    if needs_v:
        products.append((S, L, Ev))  # dV = P^T dO
    if needs_q or needs_k:
        products.append((L, Ev, S))  # dP = dO V^T
    if needs_k:
        products.append((E, L, S))  # dK^T = Q^T dS
    if needs_q:
        products.append((L, S, E))  # dQ = dS K
    return products


def _fused_attention_backward(grad_out: torch.Tensor, query: torch.Tensor, key: torch.Tensor,
                              value: torch.Tensor, attn_bias: Optional[torch.Tensor],
                              grad_input_mask: List[bool], out: torch.Tensor,
                              logsumexp: torch.Tensor, cum_seq_q: torch.Tensor,
                              cum_seq_k: torch.Tensor, max_q: int, max_k: int, dropout_p: float,
                              is_causal: bool, philox_seed: torch.Tensor,
                              philox_offset: torch.Tensor, *, scale: Optional[float] = None):
    if events.active():
        config = _device_module.get_config()
        if not isinstance(config, str):
            L, E, S, Ev = query.shape[-2], query.shape[-1], key.shape[-2], value.shape[-1]
            _record(config, _backward_products(L, E, S, Ev, grad_input_mask), _batch(query))
    if attn_bias is not None and attn_bias.numel() == 0 and attn_bias.dim() <= 1:
        attn_bias = None  # autograd saves an absent bias as an empty tensor
    grad_q, grad_k, grad_v = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
        grad_out, query, key, value, out, logsumexp, dropout_p, is_causal, attn_mask=attn_bias,
        scale=scale)
    return grad_q, grad_k, grad_v, query.new_empty(0)


def install() -> None:
    """Registers the photonic kernels above (once)."""
    global _library
    with _lock:
        if _library is not None:
            return
        lib = torch.library.Library("aten", "IMPL")
        lib.impl("_fused_sdp_choice", _fused_sdp_choice, "PrivateUse1")
        lib.impl("_scaled_dot_product_fused_attention_overrideable", _fused_attention, "PrivateUse1")
        lib.impl("_scaled_dot_product_fused_attention_overrideable_backward", _fused_attention_backward,
                 "PrivateUse1")
        _library = lib

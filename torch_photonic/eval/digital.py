"""Digital baselines: what a digital accelerator at a given integer precision keeps on the same
text, next to the emulated chip.

``WxAy`` is round-to-nearest (RTN) quantization of every linear layer as integer accelerators run
it: weights symmetric per output channel to ``x`` bits (scale = max |w| of the channel /
(2^(x-1) - 1)), input activations symmetric per token to ``y`` bits (scale = max |a| of the
token / (2^(y-1) - 1)), products and sums exact. W8A8 and W4A8 are the usual points.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch

from .transforms import HIGH_PRECISION, Transform, fake_quant_transform

__all__ = ["rtn", "rtn_transform", "BASELINES"]

#: the digital baselines of the accuracy tables: label -> (weight bits, activation bits)
BASELINES: Dict[str, tuple] = {"W8A8 RTN": (8, 8), "W4A8 RTN": (4, 8)}


def rtn(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric round-to-nearest along the last dimension (one scale per row), in x's dtype."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    q = float(2 ** (bits - 1) - 1)
    xf = x.float()
    scale = xf.abs().amax(dim=-1, keepdim=True) / q
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    out = torch.clamp(torch.round(xf / safe), -q, q) * safe
    return torch.where(scale > 0, out, xf).to(x.dtype)


def rtn_transform(weight_bits: int, activation_bits: int,
                  skip: Sequence[str] = HIGH_PRECISION) -> Transform:
    """``W{weight_bits}A{activation_bits}`` RTN on every ``nn.Linear`` (and fused expert
    weights, per expert and output channel); ``skip`` as in :func:`fake_quant_transform`."""
    rtn(torch.zeros(1), weight_bits)
    rtn(torch.zeros(1), activation_bits)

    def quantizer(x, fmt, scaling, rule, weight):
        return rtn(x, weight_bits if weight else activation_bits)

    t = fake_quant_transform("int", "rtn", skip=skip, quantizer=quantizer)
    t.__name__ = f"rtn[W{weight_bits}A{activation_bits}]"
    return t

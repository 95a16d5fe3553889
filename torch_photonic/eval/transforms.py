"""Transforms: callables ``model -> model`` whose accuracy the harness measures.

* :func:`identity`: the full-precision reference.
* :func:`fake_quant_transform`: fake quantization of every linear layer (weights and/or input
  activations) in one number format and scaling, no hardware model.
* :func:`preset_transform`: ``convert(model, resolve(preset, **overrides))``, the emulated chip.

The metrics apply a transform to a deep copy of the reference model (:func:`apply_to_copy`), so
the reference is never modified.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..hardware.resolve import resolve
from ..nn.convert import convert
from ..quant.ops import fake_quantize

__all__ = ["Transform", "HIGH_PRECISION", "identity", "fake_quant_transform", "preset_transform",
           "apply_to_copy"]

Transform = Callable[[nn.Module], nn.Module]

# Kept in full precision by the format rows, as in DeepSeek-V3's FP8 recipe (arXiv 2412.19437
# §3.3: the embedding and the output head keep their original precision) and as `convert` does.
HIGH_PRECISION: Tuple[str, ...] = ("lm_head",)


def identity(model: nn.Module) -> nn.Module:
    return model


def _is_expert_param(name: str, p: torch.Tensor) -> bool:
    return p.dim() == 3 and ".experts." in f".{name}"


def fake_quant_transform(fmt: str, scaling: str, *, weights: bool = True,
                         activations: bool = True, scale_rule: str = "floor",
                         skip: Sequence[str] = HIGH_PRECISION,
                         quantizer: Optional[Callable] = None) -> Transform:
    """A transform that fake-quantizes every ``nn.Linear`` (weights and/or input activations).

    Weights are replaced by ``fake_quantize(W, fmt, scaling, scale_rule, weight=True)`` as new
    parameters (so tied embeddings stay in full precision); activations are fake-quantized by a
    forward pre-hook with ``weight=False`` (blocks along the last dim, the GEMM's K). Fused 3-D
    expert weights (``*.experts.*``, DeepSeek) are weight-quantized per expert. Modules whose
    qualified name contains one of ``skip`` are left alone (default: the output head, see
    ``HIGH_PRECISION``; pass ``skip=()`` to quantize it too). ``quantizer(x, fmt, scaling,
    scale_rule, weight)`` defaults to :func:`torch_photonic.quant.ops.fake_quantize`.
    """
    fn = quantizer or fake_quantize

    def q(x: torch.Tensor, weight: bool) -> torch.Tensor:
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
    """``lambda m: convert(m, resolve(preset, **overrides))`` with a readable name."""

    def transform(model: nn.Module) -> nn.Module:
        return convert(model, resolve(preset, **overrides))

    label = preset if isinstance(preset, str) else getattr(preset, "name", "preset")
    if overrides:
        label += "(" + ",".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    transform.__name__ = f"preset[{label}]"
    return transform


def apply_to_copy(transform: Transform, model: nn.Module) -> nn.Module:
    """``transform`` applied to a deep copy of ``model``, in eval mode."""
    return transform(copy.deepcopy(model)).eval()

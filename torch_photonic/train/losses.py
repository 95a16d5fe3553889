"""The losses of fine-tuning: the language-model loss, logit distillation, and hidden-state
distillation for embedding models.

Every loss is a mean over the positions it counts, so its scale does not depend on the batch or
sequence length. ``mask`` (``[batch, tokens]``, 1 = a real token, 0 = padding, as a tokenizer's
``attention_mask``) leaves padded positions out.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["lm_loss", "distill_kl", "hidden_distill"]


def _check_3d(name: str, t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor) or t.dim() != 3:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name}: expected a tensor [batch, tokens, features], got {shape}")


def _weights(mask: Optional[torch.Tensor], shape, device) -> torch.Tensor:
    """Per-position weights [batch, tokens] (1 everywhere without a mask)."""
    if mask is None:
        return torch.ones(shape, device=device)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"mask: expected shape {tuple(shape)} (batch, tokens), got "
                         f"{tuple(mask.shape)}")
    return mask.to(device=device, dtype=torch.float32)


def _masked_mean(per_pos: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    total = w.sum()
    if total.item() == 0:
        raise ValueError("mask: every position is masked out; nothing to average")
    return (per_pos * w).sum() / total


def lm_loss(logits: torch.Tensor, ids: torch.Tensor,
            mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Next-token cross entropy: position ``t`` of ``logits`` ``[B, L, V]`` predicts ``ids[:, t+1]``
    (``ids`` ``[B, L]``); the mean over the ``B * (L - 1)`` predictions, or over those whose target
    is a real token when ``mask`` is given."""
    _check_3d("logits", logits)
    if tuple(ids.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"ids: expected shape {tuple(logits.shape[:2])} to match logits "
                         f"{tuple(logits.shape)}, got {tuple(ids.shape)}")
    if logits.shape[1] < 2:
        raise ValueError(f"logits: the next-token loss needs at least 2 tokens, got "
                         f"{logits.shape[1]}")
    pred = logits[:, :-1].float()
    target = ids[:, 1:].to(logits.device)
    ce = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none")
    w = _weights(None if mask is None else mask[:, 1:], target.shape, logits.device)
    return _masked_mean(ce.view(target.shape), w)


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
               temperature: float = 2.0, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``T^2 * mean over tokens of KL(p_teacher || p_student)`` with ``p = softmax(logits / T)``
    over the last dimension (Hinton et al.'s soft-target loss; ``T^2`` keeps its gradients on the
    scale of a hard-label loss). No gradient flows into the teacher."""
    _check_3d("student_logits", student_logits)
    if tuple(teacher_logits.shape) != tuple(student_logits.shape):
        raise ValueError(f"teacher_logits: expected the student's shape "
                         f"{tuple(student_logits.shape)}, got {tuple(teacher_logits.shape)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not temperature > 0 or temperature == float("inf"):
        raise ValueError(f"temperature: expected a finite number > 0, got {temperature!r}")
    t = float(temperature)
    log_ps = F.log_softmax(student_logits.float() / t, dim=-1)
    log_pt = F.log_softmax(teacher_logits.detach().float().to(student_logits.device) / t, dim=-1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)  # [B, L]
    w = _weights(mask, kl.shape, kl.device)
    return _masked_mean(kl, w) * (t * t)


def hidden_distill(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor,
                   mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Distillation of an embedding model's last hidden states ``[B, L, H]``:

        loss = (1 - mean_b cos(pool(S)_b, pool(T)_b))
               + sum_{b,t} w_bt ||S_bt - T_bt||^2 / sum_{b,t} w_bt ||T_bt||^2

    ``pool`` is the mean over the real tokens (the sentence embedding the model is used for),
    ``w`` the mask (1 everywhere without one). The first term aligns sentence embeddings; the
    second keeps every token state close, as a mean squared error divided by the teacher's mean
    square so that it is scale-free (0 for a perfect student, 1 for a student that outputs 0)."""
    _check_3d("student_hidden", student_hidden)
    if tuple(teacher_hidden.shape) != tuple(student_hidden.shape):
        raise ValueError(f"teacher_hidden: expected the student's shape "
                         f"{tuple(student_hidden.shape)}, got {tuple(teacher_hidden.shape)}")
    s = student_hidden.float()
    t = teacher_hidden.detach().float().to(s.device)
    w = _weights(mask, s.shape[:2], s.device)
    if (w.sum(1) == 0).any():
        raise ValueError("mask: a sequence has no real token; nothing to pool")
    wn = (w / w.sum(1, keepdim=True)).unsqueeze(-1)
    cos = F.cosine_similarity((s * wn).sum(1), (t * wn).sum(1), dim=-1)
    den = ((t * t).sum(-1) * w).sum().clamp_min(torch.finfo(torch.float32).tiny)
    mse = (((s - t) ** 2).sum(-1) * w).sum() / den
    return (1.0 - cos.mean()) + mse

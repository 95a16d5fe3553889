"""Tiny models and data for the trainer tests: a causal LM whose output is its logits, an
embedding model whose output has only ``last_hidden_state``, and token ids to train on. Every
builder is seeded, so two calls give the same weights."""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

VOCAB = 32


class TinyLM(nn.Module):
    """Embedding, a residual MLP of two linear layers, dropout and an ``lm_head``: ``ids [B, L]``
    to logits ``[B, L, VOCAB]``. ``lm_head`` is scaled up so the logits are peaked."""

    def __init__(self, hidden: int = 32, dropout: float = 0.0):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, hidden)
        self.fc1 = nn.Linear(hidden, 64)
        self.fc2 = nn.Linear(64, hidden)
        self.drop = nn.Dropout(dropout)
        self.lm_head = nn.Linear(hidden, VOCAB)
        with torch.no_grad():
            self.lm_head.weight.mul_(8)

    def forward(self, ids):
        x = self.emb(ids)
        x = x + self.drop(self.fc2(torch.relu(self.fc1(x))))
        return self.lm_head(x)


class TinyEncoder(nn.Module):
    """An embedding model: keyword inputs as a tokenizer gives them, an output with
    ``last_hidden_state`` only."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask=None):
        x = self.emb(input_ids)
        return SimpleNamespace(last_hidden_state=x + self.fc2(torch.tanh(self.fc1(x))))


def tiny_lm(hidden: int = 32, dropout: float = 0.0, seed: int = 0) -> TinyLM:
    torch.manual_seed(seed)
    return TinyLM(hidden, dropout)


def tiny_encoder(seed: int = 0) -> TinyEncoder:
    torch.manual_seed(seed)
    return TinyEncoder()


def token_ids(rows: int = 16, length: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (rows, length), generator=torch.Generator().manual_seed(seed))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Bit-for-bit equal state dicts (same keys, same values)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

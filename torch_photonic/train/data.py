"""The training-data contract of the trainer, and the batch each step reads.

``train_data`` is one of

* a 2-D integer tensor ``[N, L]`` of token ids, one sequence per row: each epoch visits the rows
  in a fresh random order and a step reads ``batch_size`` consecutive rows of that order (the
  last ``N % batch_size`` rows of an epoch are skipped);
* a non-empty list or tuple of ready batches, each a tensor or a mapping of tensors (a
  tokenizer's output, for example): step ``s`` reads item ``s % len(train_data)``.

:func:`batch_at` is a pure function of ``(data, step, batch_size, seed)``, so a run resumed
from a checkpoint reads exactly the batches an uninterrupted run would have read.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

import torch

from ..optics.store import mix_seed

__all__ = ["check_data", "batch_at", "to_device", "batches_per_epoch"]

Batch = Union[torch.Tensor, Mapping]


def _check_item(i: int, item: Any) -> None:
    if isinstance(item, torch.Tensor):
        if item.numel() == 0:
            raise ValueError(f"train_data: batch {i} is an empty tensor of shape "
                             f"{tuple(item.shape)}; expected a non-empty tensor")
        return
    if isinstance(item, Mapping):
        if not item:
            raise ValueError(f"train_data: batch {i} is an empty mapping; expected a mapping of "
                             f"tensors such as {{'input_ids': ..., 'attention_mask': ...}}")
        for k, v in item.items():
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"train_data: batch {i}[{k!r}] is a {type(v).__name__}; expected "
                                f"a tensor")
        return
    raise TypeError(f"train_data: batch {i} is a {type(item).__name__}; expected a tensor or a "
                    f"mapping of tensors")


def check_data(data: Any, batch_size: int) -> None:
    """Raises ``ValueError``/``TypeError`` naming ``train_data`` when ``data`` breaks the
    contract of this module (or, for a tensor, holds fewer than ``batch_size`` rows)."""
    if isinstance(data, torch.Tensor):
        if data.dim() != 2:
            raise ValueError(f"train_data: expected a 2-D tensor [sequences, tokens] of token "
                             f"ids, got {data.dim()}-D with shape {tuple(data.shape)}")
        if data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool:
            raise TypeError(f"train_data: expected integer token ids, got dtype {data.dtype}")
        if data.shape[0] == 0 or data.shape[1] == 0:
            raise ValueError(f"train_data: the tensor is empty (shape {tuple(data.shape)}); "
                             f"expected at least one sequence of at least one token")
        if batch_size > data.shape[0]:
            raise ValueError(f"train_data: batch_size {batch_size} is larger than the "
                             f"{data.shape[0]} sequences of the tensor; expected at least "
                             f"batch_size rows")
        return
    if isinstance(data, (list, tuple)):
        if not data:
            raise ValueError("train_data: the list of batches is empty; expected at least one "
                             "batch")
        for i, item in enumerate(data):
            _check_item(i, item)
        return
    raise TypeError(f"train_data: expected a 2-D integer tensor of token ids or a list of "
                    f"batches, got {type(data).__name__}")


def batches_per_epoch(data: Any, batch_size: int) -> int:
    """Steps of one pass over ``data``."""
    if isinstance(data, torch.Tensor):
        return data.shape[0] // batch_size
    return len(data)


def batch_at(data: Any, step: int, batch_size: int, seed: int) -> Batch:
    """The batch step ``step`` (0-based) of a run with ``seed`` reads from ``data``.

    For a tensor, the rows of epoch ``e`` are permuted by ``torch.randperm`` with a generator
    seeded from ``(seed, e)`` (independent of the global RNG); for a list, the item
    ``step % len(data)``."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step: expected an integer >= 0, got {step!r}")
    if not isinstance(data, torch.Tensor):
        return data[step % len(data)]
    per_epoch = batches_per_epoch(data, batch_size)
    epoch, k = divmod(step, per_epoch)
    g = torch.Generator(device="cpu")
    g.manual_seed(mix_seed(seed, epoch))
    order = torch.randperm(data.shape[0], generator=g)
    rows = order[k * batch_size:(k + 1) * batch_size]
    return data.index_select(0, rows.to(data.device))


def to_device(batch: Batch, device: torch.device) -> Batch:
    """``batch`` with its tensors on ``device`` (a mapping stays a plain ``dict``)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    return {k: v.to(device) for k, v in batch.items()}

"""The optical body of the ``photonic`` device's matmul entry (``csrc/aten/native/matmul_entry.cpp``).

In any config but ``"exact"``, every ``mm``/``addmm``/``bmm``/``baddbmm``/``_grouped_mm`` of the
device arrives here with its device operands. What runs on the optics:

* **Static products** (``mm``, ``addmm``, ``_grouped_mm``): the right operand is a weight
  (``nn.Linear`` gives ``x @ W.T``; HF fused experts give ``x @ W[e].T`` per expert). It goes
  through :func:`torch_photonic.optics.weight_product`, the same function ``convert()``'s layers
  call, so it is programmed into the one store of programmed weights (keyed weakly by the weight
  tensor, or by its storage for inference tensors, which track no views), with the same seeds and
  ageing clock. Weights marked with ``tp.keep_digital`` are multiplied on the host instead.
* **Dynamic products** (``bmm``, ``baddbmm``: attention's ``Q K^T`` and ``P V``): both operands
  change every call, so PCM cannot hold them. ``config.dynamic.mode == "electronic"`` computes
  them on the host in float32; ``"optical"`` runs them through the optical kernel as volatile
  modulator weights (noise and converters, no PCM writes). Either way they are reported with
  ``dynamic=True``, apart from the static products.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

import torch

from .. import _C
from ..energy import events
from ..hardware.config import HardwareConfig
from ..optics import kernels
from ..optics.product import expert_products, weight_product
from ..optics.store import mix_seed, store

__all__ = ["handler_for", "weight_owner"]


def weight_owner(operand: torch.Tensor) -> Any:
    """What the store keys a weight operand by: the tensor it is a view of (``W`` for ``W.t()``),
    or, for inference tensors (no view tracking), their storage. Both die with the weight."""
    if operand._base is not None:
        return operand._base
    if operand.is_inference():
        return operand.untyped_storage()
    return operand


def handler_for(config: HardwareConfig) -> Callable:
    """The matmul handler that runs the device's products on ``config``."""
    dynamic_calls = itertools.count(1)

    def run_dynamic(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ha, hb = _C._host_alias(a), _C._host_alias(b)
        batch, m, k = ha.shape
        n = hb.shape[-1]
        events.record_mvm("device.attention", "bmm", m, k, n, config, dynamic=True, batch=batch)
        if config.dynamic.mode == "electronic" or k == 0 or m == 0 or n == 0:
            return torch.bmm(ha, hb)
        outs = []
        for i in range(batch):  # volatile weights: modulators, not PCM (nothing written)
            state = kernels.program(hb[i].transpose(0, 1), config)
            seed = mix_seed(config.seed, next(dynamic_calls))
            outs.append(kernels.mvm(ha[i].float().contiguous(), state, seed=seed))
        return torch.stack(outs).to(ha.dtype)

    def run_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ha, hb = _C._host_alias(a), _C._host_alias(b)
        owner = weight_owner(b)
        if store.is_digital(owner):  # left digital (tp.keep_digital): the host's product
            m, k = ha.shape
            events.record_host("aten::mm", 2.0 * m * k * hb.shape[1],
                               ha.nbytes + hb.nbytes + m * hb.shape[1] * ha.element_size(),
                               module=store.row_name(store.name_of(owner)))
            return torch.mm(ha, hb)
        y = weight_product(ha, owner, hb.transpose(0, 1), config, op="mm")
        return y.to(ha.dtype)

    def run_grouped(a: torch.Tensor, b: torch.Tensor, offs: Optional[torch.Tensor]) -> torch.Tensor:
        if a.dim() != 2 or b.dim() != 3 or offs is None:
            raise NotImplementedError(
                f"photonic _grouped_mm: only the MoE form (2-D tokens, 3-D experts, offs) runs on the "
                f"optics; got self {tuple(a.shape)}, mat2 {tuple(b.shape)}, offs {'None' if offs is None else 'set'}")
        owner = weight_owner(b)  # views made in here (hb[e]) are untracked: resolve it first
        ha, hb = _C._host_alias(a), _C._host_alias(b)
        ends = _C._host_alias(offs).tolist()
        y = expert_products(ha, ends, owner, lambda e: hb[e].transpose(0, 1), config)
        return y.to(ha.dtype)

    def run_backward(op: str, a: torch.Tensor, b: torch.Tensor,
                     offs: Optional[torch.Tensor]) -> torch.Tensor:
        ha, hb = _C._host_alias(a), _C._host_alias(b)
        if op == "mm":
            y = torch.mm(ha, hb)
        elif op == "bmm":
            y = torch.bmm(ha, hb)
        else:
            y = torch._grouped_mm(ha, hb, offs=None if offs is None else _C._host_alias(offs))
        events.record_host(f"photonic::backward.{op}", 2.0 * ha.numel() * hb.shape[-1],
                           ha.nbytes + hb.nbytes + y.nbytes, module="backward")
        return y

    def handler(op: str, a: torch.Tensor, b: torch.Tensor, offs: Optional[torch.Tensor]) -> torch.Tensor:
        if torch._C._current_autograd_node() is not None and not (
                op == "bmm" and config.dynamic.mode == "electronic"):  # those are host work anyway
            return run_backward(op, a, b, offs)
        if op == "mm":
            return run_mm(a, b)
        if op == "bmm":
            return run_dynamic(a, b)
        if op == "grouped_mm":
            return run_grouped(a, b, offs)
        raise NotImplementedError(f"photonic matmul handler: unknown op {op!r}")

    return handler

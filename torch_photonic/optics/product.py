"""The optical product of an activation batch with a programmed weight, the one function both the
``photonic`` device and ``convert()``'s layers call.

:func:`weight_product` looks the matrix up in the store (programming it when needed), draws the
read-noise seed from the matrix's own counter, runs the kernel, and reports the work to the
meter. :func:`expert_products` runs it for each expert of a fused 3-D weight over tokens grouped by
expert (only experts with tokens run and are charged).

Degenerate and bad input behaves as the CPU's product would:

* ``M = 0`` or ``N = 0``: an empty result; ``K = 0``: zeros (plus the bias); nothing is charged;
* float16, bfloat16 and float64 inputs are computed in float32 (the converters' precision) and
  returned in float32 for the caller to cast; non-contiguous inputs are fine;
* bound management's repeated passes (a saturated token and tile run again at half the input
  scale) are charged as extra products of ``op = "bound_management"``;
* a row of ``x`` holding NaN or Inf gives, in that row, what the float product gives (NaN/Inf
  propagate), and the layer warns once, naming itself: real converters would saturate instead.
"""
from __future__ import annotations

import threading
import warnings
from typing import Callable, Optional, Sequence

import torch

from ..energy import events
from ..hardware.config import HardwareConfig
from . import kernels
from .store import WeightStore, store as _default_store

__all__ = ["weight_product", "expert_products"]

_warned_lock = threading.Lock()
_warned_nonfinite: set = set()


def _check_float(x: torch.Tensor, what: str) -> None:
    if not x.is_floating_point() or x.is_complex():
        raise TypeError(f"{what} must be a real floating-point tensor (float32, float16, bfloat16 "
                        f"or float64), got {x.dtype}")


def _warn_nonfinite(row: str, config: HardwareConfig) -> None:
    with _warned_lock:
        if row in _warned_nonfinite:
            return
        _warned_nonfinite.add(row)
    warnings.warn(f"photonic layer '{row}': the input holds NaN or Inf; those rows give the float "
                  f"product's NaN/Inf, as on the CPU (real converters on '{config.name}' would "
                  f"saturate instead)", RuntimeWarning, stacklevel=4)


def weight_product(x: torch.Tensor, weight: torch.Tensor, matrix: torch.Tensor,
                   config: HardwareConfig, *, bias: Optional[torch.Tensor] = None,
                   op: str = "linear", expert: Optional[int] = None,
                   weight_store: Optional[WeightStore] = None) -> torch.Tensor:
    """``x @ matrix.T (+ bias)`` on the optics: float32 [M, N] on the host.

    ``x``: [M, K] host activations; ``weight``: the tensor (or storage) the store keys the
    matrix by; ``matrix``: a host view [N, K] of its data.
    """
    st = _default_store if weight_store is None else weight_store
    _check_float(x, "x")
    _check_float(matrix, "weight")
    if x.dim() != 2 or matrix.dim() != 2 or x.shape[1] != matrix.shape[1]:
        raise ValueError(f"photonic product: x {tuple(x.shape)} and weight {tuple(matrix.shape)} "
                         f"do not match (x must be [M, K], the weight [N, K])")
    m, k = x.shape
    n = matrix.shape[0]
    if m == 0 or n == 0 or k == 0:
        y = torch.zeros(m, n, dtype=torch.float32, device=x.device)
        if bias is not None and m and n:
            y += bias.float().to(x.device)
        return y
    if x.dtype != torch.float32:
        x = x.float()
    if not x.is_contiguous():
        x = x.contiguous()
    bad_rows = x_bad = None
    if not bool(torch.isfinite(x.sum(dim=1)).all()):  # one read of x; rows confirmed below
        bad_rows = (~torch.isfinite(x).all(dim=1)).nonzero().flatten()
    if bad_rows is not None and bad_rows.numel() == 0:  # only large sums overflowed
        bad_rows = None
    if bad_rows is not None:
        x_bad = x[bad_rows]
        x = x.clone()
        x[bad_rows] = 0.0
    entry = st.entry(weight, matrix, config, expert)
    seed = st.read_seed(weight, entry, config)
    retries = entry.state.clips.retries
    y = kernels.mvm(x, entry.state, st.age_of(weight), seed, bias)
    retries = entry.state.clips.retries - retries
    row = st.row_name(st.name_of(weight))
    if bad_rows is not None:
        # those rows as given, through the float product (of the cells, once the weight is gone)
        w_ref = entry.state.weight_at(st.age_of(weight)) if matrix.is_meta else matrix
        ref = x_bad @ w_ref.float().t()
        if bias is not None:
            ref = ref + bias.float()
        y[bad_rows] = ref
        _warn_nonfinite(row, config)
    events.record_mvm(row, op, m, k, n, config, expert=expert)
    if retries:  # bound management ran these (token, tile) passes again at half scale
        events.record_mvm(row, "bound_management", retries, min(k, config.array.tile_rows), n,
                          config, expert=expert)
    return y


def expert_products(x: torch.Tensor, ends: Sequence[int], weight: torch.Tensor,
                    matrix_of: Callable[[int], torch.Tensor], config: HardwareConfig, *,
                    bias_of: Optional[Callable[[int], Optional[torch.Tensor]]] = None,
                    op: str = "grouped_mm",
                    weight_store: Optional[WeightStore] = None) -> torch.Tensor:
    """Tokens grouped by expert (``x`` rows ``ends[e-1]:ends[e]`` go to expert ``e``) through each
    expert's matrix ``matrix_of(e)`` ([N, K] host view of ``weight``): float32 [T, N]."""
    n = matrix_of(0).shape[0] if len(ends) else 0
    out = torch.zeros(x.shape[0], n, dtype=torch.float32, device=x.device)
    start = 0
    for e, end in enumerate(ends):
        end = int(end)
        if end > start:  # only experts with routed tokens run (and are charged)
            bias = None if bias_of is None else bias_of(e)
            out[start:end] = weight_product(x[start:end], weight, matrix_of(e), config,
                                            bias=bias, op=op, expert=e,
                                            weight_store=weight_store)
        start = max(start, end)
    return out

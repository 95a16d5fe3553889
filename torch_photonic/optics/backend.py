"""Which implementation of the optical kernels runs on a device.

Two implementations give the same bits on the CPU: the C++ ops (``torch.ops.photonic``, the
default for host tensors) and :mod:`torch_photonic.optics.torch_kernels`, in composable torch ops
(any device PyTorch supports). ``TORCH_PHOTONIC_BACKEND=torch`` makes host tensors use the torch
one (read at every call); tensors on other devices (CUDA, ...) always do.
"""
from __future__ import annotations

import os

import torch

from . import torch_kernels as _torch_ops

__all__ = ["BACKEND_ENV", "kernel_backend", "on_host", "ops_for"]

BACKEND_ENV = "TORCH_PHOTONIC_BACKEND"
_HOST_DEVICES = ("cpu", "photonic", "privateuseone")  # host memory: the C++ kernels can run


def kernel_backend() -> str:
    """The kernels CPU tensors use now: ``"cpp"`` (the C++ ops, the default) or ``"torch"``
    (``TORCH_PHOTONIC_BACKEND=torch``; the variable is read at every call)."""
    v = os.environ.get(BACKEND_ENV, "").strip().lower()
    if v in ("", "cpp", "c++"):
        return "cpp"
    if v == "torch":
        return "torch"
    raise ValueError(f"{BACKEND_ENV} must be 'cpp' or 'torch', got {v!r}")


def on_host(device: torch.device) -> bool:
    return device.type in _HOST_DEVICES


def ops_for(device: torch.device):
    """The kernels (``program``, ``drift``, ``mvm``, ``draw_cells``, with the schemas of
    ``torch.ops.photonic``) for tensors on ``device``: on the host per :func:`kernel_backend`,
    elsewhere the torch implementation."""
    if on_host(torch.device(device)) and kernel_backend() == "cpp":
        return torch.ops.photonic
    return _torch_ops

"""Registers the C++ runtime as PyTorch's ``photonic`` device (the renamed PrivateUse1 key)."""
from __future__ import annotations

import torch

from . import attention as _attention
from . import compile as _compile
from . import module as _device_module

NAME = "photonic"


def register() -> None:
    if torch._C._get_privateuse1_backend_name() != NAME:
        torch.utils.rename_privateuse1_backend(NAME)
    if not hasattr(torch, NAME):
        torch._register_device_module(NAME, _device_module)
    if not hasattr(torch.Tensor, "is_photonic"):
        torch.utils.generate_methods_for_privateuse1_backend(for_storage=True)
    _attention.install()
    _compile.install()

"""``PhotonicLinear``: ``nn.Linear`` with its weight in PCM cells (optical) and the bias added
in the digital domain."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..optics import kernels
from ..optics.product import weight_product
from ..optics.store import store
from .base import PhotonicModule

__all__ = ["PhotonicLinear"]


class PhotonicLinear(PhotonicModule):
    """``y = x W^T + b`` with ``W`` in PCM cells (optical) and ``b`` added digitally.

    The weight is programmed on the first forward (or by ``tp.program(model)``) and again only
    when it changes (its version or storage). The Parameters are shared with the module it wraps.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 config=None, name: str = "", device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device,
                                               dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype)) \
            if bias else None
        nn.Linear.reset_parameters(self)  # type: ignore[arg-type]
        self._init_common(config, name)
        self._label(self.weight, "weight")

    @classmethod
    def from_linear(cls, linear: nn.Linear, config=None, name: str = "") -> "PhotonicLinear":
        """Wrap ``linear``, sharing its Parameters (no copy; tied weights stay tied)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear expects nn.Linear, got {type(linear).__name__}")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self._init_common(config, name)
        self._label(self.weight, "weight")
        return self

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, preset={self.config.name!r}")

    def _host_weight(self) -> torch.Tensor:
        w = self.weight.detach()
        return w if w.device.type == "cpu" else w.to("cpu")

    @property
    def state(self) -> kernels.ProgrammedState:
        """The programmed cells of the weight on this layer's config (programs if needed)."""
        return store.entry(self.weight, self._host_weight(), self.config).state

    @property
    def cells_written(self) -> int:
        return self.state.cells_written

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.photonic_name or 'PhotonicLinear'}: input shape "
                             f"{tuple(x.shape)} does not match weight shape "
                             f"{tuple(self.weight.shape)} (in_features={self.in_features})")
        rows = 1
        for d in x.shape[:-1]:
            rows *= d
        x2 = x.detach().reshape(rows, self.in_features)
        if x2.device.type != "cpu":
            x2 = x2.to("cpu")
        bias = None if self.bias is None else self.bias.detach().to("cpu")
        with torch.no_grad():
            y = weight_product(x2, self.weight, self._host_weight(), self.config, bias=bias,
                               op="linear")
            if self.calibration_error is None:
                ref = F.linear(x2.float(), self._host_weight().float(),
                               None if bias is None else bias.float())
                self._check_faithful(y, ref)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y.to(device=x.device, dtype=x.dtype)

"""``PhotonicLinear``: ``nn.Linear`` with its weight in PCM cells (optical) and the bias added
in the digital domain."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..optics import kernels, training
from ..optics.product import weight_product
from ..optics.store import store
from . import hwa
from .base import PhotonicModule

__all__ = ["PhotonicLinear"]


class _StraightThrough(torch.autograd.Function):
    """The optical product forward; backward, the gradients of the float product ``x W^T + b``
    (a straight-through estimator: rounding, noise and the converters pass gradients as if they
    were the identity)."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return layer._optical(x)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gx = gw = gb = None
        g2 = gy.reshape(-1, gy.shape[-1])
        if ctx.needs_input_grad[0]:
            gx = (g2 @ w.to(g2.dtype)).reshape(x.shape).to(x.dtype)
        if ctx.needs_input_grad[1]:
            gw = (g2.t() @ x.reshape(-1, x.shape[-1]).to(g2.dtype)).to(w.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g2.sum(0)
        return gx, gw, gb, None


class _TrainingProduct(torch.autograd.Function):
    """The training product (:mod:`torch_photonic.optics.training`): cells drawn afresh, the
    optical kernel on them, nothing programmed or charged; backward, straight-through gradients
    that stop where a converter clips, and the learned input ranges' gradients."""

    @staticmethod
    def forward(ctx, x2, weight, bias, input_range, full_scale, layer):
        cfg = layer.config
        w = layer._host_weight()
        noise = hwa.options_of(layer).noise
        table = hwa.noise_table(layer, ".weight", -1, w, hwa.training_seconds(layer, layer.weight))
        rng, fs = hwa.converter_ranges(layer, layer.weight, w, None, input_range, full_scale)
        cells, scales = training.training_weight(w, cfg, table,
                                                 hwa.draw_seed(layer, ".weight", -1))
        y, _ = training.product(x2, cells, scales, cfg, input_range=rng, full_scale=fs,
                                noise=noise, seed=hwa.draw_seed(layer, ".weight", -1))
        if bias is not None:
            y = y + bias.detach().to(y.device).float()
        ctx.save_for_backward(x2, weight)
        ctx.cfg, ctx.rng, ctx.fs = cfg, rng, fs
        ctx.has_bias, ctx.learned = bias is not None, input_range is not None
        ctx.learned_fs = full_scale is not None
        return y

    @staticmethod
    def backward(ctx, gy):
        x2, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx, gw, gr, gfs = training.grads(gy, x2, w.to(x2.device), ctx.cfg, input_range=ctx.rng,
                                         full_scale=ctx.fs, need_x=need[0], need_w=need[1],
                                         need_range=ctx.learned and need[3],
                                         need_full_scale=ctx.learned_fs and need[4])
        gb = gy.sum(0) if (ctx.has_bias and need[2]) else None
        if gx is not None:
            gx = gx.to(x2.dtype)
        if gw is not None:
            gw = gw.to(device=w.device, dtype=w.dtype)
        return gx, gw, gb, gr, gfs, None


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
        self.train(linear.training)
        return self

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, preset={self.config.name!r}")

    OPTICAL_WEIGHTS = ("weight",)

    def _host_weight(self) -> torch.Tensor:
        return self.kernel_view(self.weight)

    @property
    def state(self) -> kernels.ProgrammedState:
        """The programmed cells of the weight on this layer's config (programs if needed)."""
        return store.entry(self.weight, self._host_weight(), self.config).state

    @property
    def cells_written(self) -> int:
        return self.state.cells_written

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The optical product; when gradients are needed, they flow straight through it (the
        float product's gradients)."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.photonic_name or 'PhotonicLinear'}: input shape "
                             f"{tuple(x.shape)} does not match weight shape "
                             f"{tuple(self.weight.shape)} (in_features={self.in_features})")
        self.check_inference_only(x, self.bias)
        if hwa.training_forward(self):
            return self._training(x)
        if torch.is_grad_enabled() and any(
                t is not None and t.requires_grad for t in (x, self.weight, self.bias)):
            return _StraightThrough.apply(x, self.weight, self.bias, self)
        return self._optical(x)

    def _training(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, self.in_features)
        dev, kdev = x2.device, self.kernel_device()
        x2 = x2.to(kdev)
        bias = None if self.bias is None else self.bias.to(kdev)
        rng = getattr(self, "input_range", None)
        fs = getattr(self, "adc_full_scale", None)
        y = _TrainingProduct.apply(x2, self.weight, bias, rng, fs, self)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y.to(device=dev, dtype=x.dtype)

    def training_matrices(self) -> list:
        return [(".weight", -1, self.weight, self._host_weight())]

    def program_cells(self) -> None:
        _ = self.state

    def make_range_parameters(self, name: str, inputs: bool, outputs: bool) -> list:
        out = []
        for attr, what, on in (("input_range", "input", inputs), ("adc_full_scale", "adc", outputs)):
            if on:
                setattr(self, attr, nn.Parameter(hwa.calibrated_ranges(
                    self, self.weight, self._host_weight(), None, name, what)))
                out.append(getattr(self, attr))
        return out

    def push_ranges(self) -> None:
        """Hands the learned input ranges (if any) to the programmed weight's converters."""
        for attr, field in (("input_range", "input_range"), ("adc_full_scale", "full_scale")):
            value = getattr(self, attr, None)
            if isinstance(value, nn.Parameter):
                setattr(self.state, field, value.detach().to("cpu").float().clamp(min=1e-6)
                        .contiguous() if field == "full_scale" else
                        value.detach().to("cpu").float().clone())

    def _optical(self, x: torch.Tensor) -> torch.Tensor:
        rows = 1
        for d in x.shape[:-1]:
            rows *= d
        kdev = self.kernel_device()
        x2 = x.detach().reshape(rows, self.in_features).to(kdev)
        bias = None if self.bias is None else self.bias.detach().to(kdev)
        self.push_ranges()
        with torch.no_grad():
            y = weight_product(x2, self.weight, self._host_weight(), self.config, bias=bias,
                               op="linear")
            if self.calibration_error is None and not self.released:
                ref = F.linear(x2.float(), self._host_weight().float(),
                               None if bias is None else bias.float())
                self._check_faithful(y, ref)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y.to(device=x.device, dtype=x.dtype)

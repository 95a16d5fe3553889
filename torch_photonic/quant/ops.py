"""FP8 / FP4 quantization with block scaling, backed by the C++ ops ``torch.ops.photonic.*``.

Element formats (round-to-nearest-even, subnormals kept):

* ``fp8_e4m3``: OCP E4M3 "fn" (``torch.float8_e4m3fn``): max 448, no Inf, NaN kept. Plain casts
  saturate out-of-range values and +-Inf to +-448, exactly like torch 2.13's ``.to()``.
* ``fp8_e5m2``: ``torch.float8_e5m2``: max 57344. The plain cast (``scaling="none"``) overflows to
  +-Inf like torch (|x| >= 61440); every scaled mode saturates to +-57344.
* ``fp4_e2m1``: values 0, .5, 1, 1.5, 2, 3, 4, 6 and their negatives; saturates (+-Inf -> +-6).
  It has no NaN: a NaN input raises ``ValueError``. Two codes per byte, element ``2i`` in the low
  nibble, packed along the last dim; an odd last dim is padded with a zero nibble.

Scalings (``x`` is seen as rows along its last dim ``K``; a 0-d tensor counts as one element):

===================  ============================================  ==============================
scaling              scale                                         ``scales`` (dtype, shape)
===================  ============================================  ==============================
``none``             none: the plain cast                          float32 ``[0]``
``tensor``           ``s = amax / max_elem`` (fp32), ``q = x / s`` float32 ``[]``
``channel``          same, one per row                             float32 ``x.shape[:-1] + [1]``
``mx``               E8M0 per 32 elements, ``q = x * 2^-e``        float8_e8m0fnu ``[..., ceil(K/32)]``
``nvfp4``            E4M3 per 16 elements + fp32 tensor scale      float8_e4m3fn ``[..., ceil(K/16)]``
``block128``         ``amax / max_elem`` per 1x128 tile, or per    float32 ``[..., ceil(K/128)]`` or
                     128x128 block of the last two dims if weight  ``[..., ceil(N/128), ceil(K/128)]``
``block128_ue8m0``   ``2^ceil(log2(max(amax, 1e-4) / max_elem))``  float8_e8m0fnu, same shapes
===================  ============================================  ==============================

* ``mx`` rules: ``floor`` (OCP MX v1.0 section 6.3: ``e = floor(log2 amax) - emax_elem`` from the fp32
  exponent bits, so subnormal / zero amax give ``e = -127``; block maxima may clip) and ``rceil``
  (``e = ceil(log2(amax / max_elem))``, computed exactly from the bits, never clips). ``e`` is
  clamped to [-127, 127]; the scale 2^-127 is applied exactly.
* ``nvfp4`` follows torchao's two-level algorithm: ``pts = amax_tensor / 2688``,
  ``s8 = e4m3(clamp(amax_block / 6 / pts, 2^-6, 448))``, ``q = e2m1(x * ((1 / pts) / s8))``, decode
  ``q * (pts * s8)``. It is only defined for ``fp4_e2m1`` (other formats raise ``ValueError``).
  ``tensor_scale`` holds ``pts`` (1.0 for every other scaling, and for an all-zero tensor).
* fp32 scales of an all-zero block (or one whose ``amax / max_elem`` underflows) are 1.0, so zero
  blocks never produce NaN.
* Scaled modes need finite input: NaN or Inf in ``x`` raises ``ValueError`` naming ``x``; so
  does a float64 value that overflows float32 (the quantizer computes in float32).
* Blocks that do not divide the shape are padded internally; the padding never enters amax.
* Inputs may be float32, float16, bfloat16 or float64; they are converted to float32 first (as
  torch's own float8 casts do); ``fake_quantize`` returns ``x``'s dtype.
* ``dequantize(quantize(x), dtype) == fake_quantize(x)`` bit for bit (NaNs are the canonical
  quiet NaN with ``x``'s sign).
* Values within an element step of the float32 maximum can round up past it and dequantize to
  inf (inherent to rounding up at the top of the float32 range).

Gradients: ``fake_quantize`` passes gradients straight through (the identity's gradient) where
the element stays within its block's range, and gives zero where it saturates or overflows (past
the rounding threshold above the format's largest value times the block's scale; NaN and Inf
inputs too). ``quantize`` returns integer codes, which carry no gradient: with gradients enabled
it refuses an ``x`` that requires grad (``ValueError``; use ``fake_quantize`` or ``x.detach()``),
and ``dequantize`` refuses scales that require grad.

Where this differs from torchao 0.18 (our choice follows the OCP spec / exact arithmetic; the peer
tests avoid these inputs):

* MX ``floor`` blocks whose scale code is 0 (amax < 2^(emax_elem - 126)): torchao divides by 2^-126
  but stores 2^-127; we quantize with 2^-127, the stored scale.
* MX ``rceil``: torchao takes ``ceil(torch.log2(amax / max_elem))`` in float32, which misses the next
  power of two when the ratio is a few ulps above one (e.g. 448 * 2^20 * (1 + 2^-23)); we compute it
  exactly. torchao also multiplies by 1.0 instead of 2^127 when the scale code is 0.
* fp32 scales of all-zero blocks, and the NVFP4 tensor scale of an all-zero tensor: torchao gives
  NaN (0 / 0); we use 1.0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..hardware.names import QUANT_FORMATS, SCALE_RULES, SCALINGS

__all__ = ["QuantizedTensor", "quantize", "dequantize", "fake_quantize", "formats", "scalings",
           "scale_rules"]

_FORMATS = QUANT_FORMATS
_SCALINGS = SCALINGS
_RULES = SCALE_RULES
_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
_FLOAT32_MAX = torch.finfo(torch.float32).max
# Per format: the code of the largest magnitude and of the one below it (fp4: both nibbles).
_TOP_CODES = {"fp8_e4m3": (0x7E, 0x7D), "fp8_e5m2": (0x7B, 0x7A), "fp4_e2m1": (0x77, 0x66)}


def formats() -> tuple[str, ...]:
    """Names of the element formats."""
    return _FORMATS


def scalings() -> tuple[str, ...]:
    """Names of the scalings."""
    return _SCALINGS


def scale_rules() -> tuple[str, ...]:
    """Names of the MX scale rules."""
    return _RULES


@dataclass(frozen=True)
class QuantizedTensor:
    """The result of :func:`quantize`: uint8 codes plus the scales needed to decode them."""

    codes: torch.Tensor
    scales: torch.Tensor
    tensor_scale: torch.Tensor
    format: str
    scaling: str
    shape: torch.Size
    scale_rule: str = "floor"
    weight: bool = False

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(self, dtype)


def _check_name(value, valid, arg):
    if not isinstance(value, str):
        raise TypeError(f"{arg}: expected a string, one of {', '.join(valid)}; got {type(value).__name__}")
    if value not in valid:
        raise ValueError(f"{arg}: unknown {arg.replace('_', ' ')} {value!r}; valid: {', '.join(valid)}")


def _check(x, format, scaling, scale_rule, weight):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"x: expected a floating-point tensor (float32, float16, bfloat16 or float64), got {x.dtype}")
    _check_name(format, _FORMATS, "format")
    _check_name(scaling, _SCALINGS, "scaling")
    _check_name(scale_rule, _RULES, "scale_rule")
    if not isinstance(weight, bool):
        raise TypeError(f"weight: expected a bool, got {type(weight).__name__}")
    if scaling == "nvfp4" and format != "fp4_e2m1":
        raise ValueError(f"format: scaling='nvfp4' is only defined for format='fp4_e2m1', got {format!r}")
    if weight and scaling in ("block128", "block128_ue8m0") and x.dim() < 2:
        raise ValueError(
            f"weight: 128x128 weight blocks need a tensor with at least 2 dims, got {x.dim()}-d "
            "(use weight=False for 1x128 tiles)")
    if (x.dtype == torch.float64 and scaling != "none" and x.numel() and x.device.type != "meta"
            and not torch.compiler.is_compiling()):
        over = torch.isinf(x.float()) & torch.isfinite(x)
        if bool(over.any()):
            big = float(x[over].abs().max())
            raise ValueError(
                f"x: {int(over.sum())} float64 value(s) overflow float32 (largest |x| = {big:.6g} "
                f"> {_FLOAT32_MAX:.6g}); the quantizer computes in float32, so scaling="
                f"{scaling!r} cannot scale them: bring x into the float32 range first")


def _grad_mask(x, format, scaling, scale_rule, weight) -> torch.Tensor:
    """Where a straight-through gradient passes: ``|x|`` below the rounding threshold above the
    largest value of its block (the format's top value times the block's scale, plus half the
    step below it). The threshold comes from the quantizer itself: the top code and the one
    below it, decoded with ``x``'s own scales."""
    codes, scales, tensor_scale = torch.ops.photonic.quantize(x, format, scaling, scale_rule,
                                                              weight)
    top_code, below_code = _TOP_CODES[format]

    def decoded(code: int) -> torch.Tensor:
        return torch.ops.photonic.dequantize(torch.full_like(codes, code), scales, tensor_scale,
                                             format, scaling, list(x.shape), weight,
                                             torch.float32).double()

    top = decoded(top_code)
    threshold = top + (top - decoded(below_code)) / 2
    return x.detach().float().abs().double() < threshold


class _FakeQuantize(torch.autograd.Function):
    """``fake_quantize`` forward; backward, the identity's gradient where the element stays in
    range and zero where it saturates (see :func:`_grad_mask`)."""

    @staticmethod
    def forward(ctx, x, format, scaling, scale_rule, weight):
        ctx.save_for_backward(_grad_mask(x, format, scaling, scale_rule, weight))
        return torch.ops.photonic.fake_quantize(x, format, scaling, scale_rule, weight)

    @staticmethod
    def backward(ctx, gy):
        (mask,) = ctx.saved_tensors
        return torch.where(mask, gy, torch.zeros_like(gy)), None, None, None, None


def quantize(x: torch.Tensor, format: str, scaling: str = "none", scale_rule: str = "floor",
             weight: bool = False) -> QuantizedTensor:
    """Quantize ``x`` to ``format`` codes with ``scaling`` (see the module docstring)."""
    _check(x, format, scaling, scale_rule, weight)
    if x.requires_grad and torch.is_grad_enabled():
        raise ValueError("x: requires grad, but quantize returns integer codes, through which no "
                         "gradient flows; use fake_quantize (straight-through gradients) or pass "
                         "x.detach()")
    codes, scales, tensor_scale = torch.ops.photonic.quantize(x, format, scaling, scale_rule, weight)
    return QuantizedTensor(codes, scales, tensor_scale, format, scaling, x.shape, scale_rule, weight)


def dequantize(q: QuantizedTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decode a :class:`QuantizedTensor` to ``dtype`` (float32 by default)."""
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"q: expected a QuantizedTensor, got {type(q).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype: expected one of float32, float16, bfloat16, float64; got {dtype}")
    if torch.is_grad_enabled():
        for attr in ("scales", "tensor_scale"):
            t = getattr(q, attr)
            if isinstance(t, torch.Tensor) and t.requires_grad:
                raise ValueError(f"q.{attr}: requires grad, but dequantize carries no gradient to "
                                 f"the scales; pass them detached")
    return torch.ops.photonic.dequantize(q.codes, q.scales, q.tensor_scale, q.format, q.scaling,
                                         list(q.shape), q.weight, dtype)


def fake_quantize(x: torch.Tensor, format: str, scaling: str = "none", scale_rule: str = "floor",
                  weight: bool = False) -> torch.Tensor:
    """Quantize and dequantize in one pass; the result has ``x``'s shape and dtype. Gradients
    pass straight through where ``x`` stays in range (see the module docstring)."""
    _check(x, format, scaling, scale_rule, weight)
    if x.requires_grad and torch.is_grad_enabled():
        return _FakeQuantize.apply(x, format, scaling, scale_rule, weight)
    return torch.ops.photonic.fake_quantize(x, format, scaling, scale_rule, weight)

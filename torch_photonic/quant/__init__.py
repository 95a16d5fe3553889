"""FP8/FP4 quantization ops (``torch.ops.photonic.{quantize,dequantize,fake_quantize}``)."""
from .ops import (QuantizedTensor, dequantize, fake_quantize, formats, quantize, scale_rules,
                  scalings)

__all__ = ["QuantizedTensor", "dequantize", "fake_quantize", "formats", "quantize",
           "scale_rules", "scalings"]

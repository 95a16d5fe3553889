// C++ entry points of the quantizer, for other kernels of the extension (the optical kernel's
// DAC/ADC/PCM formats). The torch ops photonic::quantize / dequantize / fake_quantize
// (csrc/quant/register.cpp) are thin wrappers around these.
//
// Layout of the results of quantize_codes (see docs/quant in torch_photonic/quant.py):
//   codes        uint8; fp8: x.shape; fp4: x.shape[:-1] + [ceil(K/2)], element 2i in the low nibble
//                (0-d x counts as K = 1).
//   scales       none: float32 [0]; tensor: float32 []; channel: float32 x.shape[:-1]+[1];
//                mx: float8_e8m0fnu x.shape[:-1]+[ceil(K/32)]; nvfp4: float8_e4m3fn
//                x.shape[:-1]+[ceil(K/16)]; block128: float32, block128_ue8m0: float8_e8m0fnu,
//                activations x.shape[:-1]+[ceil(K/128)], weights x.shape[:-2]+[ceil(N/128),ceil(K/128)].
//   tensor_scale float32 [] (the NVFP4 per-tensor scale; 1.0 otherwise).
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <tuple>

#include "quant/formats.h"

namespace photonic {
namespace quant {

Format parse_format(const std::string& name);
Scaling parse_scaling(const std::string& name);
Rule parse_rule(const std::string& name);

// Quantize-then-dequantize in one pass; the result has x's dtype and shape.
at::Tensor fake_quantize(const at::Tensor& x, const std::string& format, const std::string& scaling,
                         const std::string& rule, bool weight);

// (codes, scales, tensor_scale)
std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_codes(const at::Tensor& x,
                                                              const std::string& format,
                                                              const std::string& scaling,
                                                              const std::string& rule, bool weight);

at::Tensor dequantize_codes(const at::Tensor& codes, const at::Tensor& scales,
                            const at::Tensor& tensor_scale, const std::string& format,
                            const std::string& scaling, at::IntArrayRef shape, bool weight,
                            at::ScalarType dtype);

// Output shapes (used by the CPU and Meta kernels alike).
std::vector<c10::SymInt> codes_shape(c10::SymIntArrayRef xs, Format f);
std::vector<c10::SymInt> scales_shape(c10::SymIntArrayRef xs, Scaling s, bool weight);
at::ScalarType scales_dtype(Scaling s);

}  // namespace quant
}  // namespace photonic

// Schemas and CPU / Meta registrations of photonic::quantize, photonic::dequantize and
// photonic::fake_quantize (schemas as in docs/design.md). TORCH_LIBRARY_FRAGMENT because other
// parts of the extension also add ops to the `photonic` namespace.
#include <torch/library.h>

#include "quant/quantize.h"

namespace photonic {
namespace quant {
namespace {

std::string S(c10::string_view v) { return std::string(v.data(), v.size()); }

std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_cpu(const at::Tensor& x, c10::string_view format,
                                                            c10::string_view scaling,
                                                            c10::string_view rule, bool weight) {
  return quantize_codes(x, S(format), S(scaling), S(rule), weight);
}

at::Tensor fake_quantize_cpu(const at::Tensor& x, c10::string_view format, c10::string_view scaling,
                             c10::string_view rule, bool weight) {
  return fake_quantize(x, S(format), S(scaling), S(rule), weight);
}

at::Tensor dequantize_cpu(const at::Tensor& codes, const at::Tensor& scales,
                          const at::Tensor& tensor_scale, c10::string_view format,
                          c10::string_view scaling, c10::SymIntArrayRef shape, bool weight,
                          at::ScalarType dtype) {
  return dequantize_codes(codes, scales, tensor_scale, S(format), S(scaling),
                          C10_AS_INTARRAYREF_SLOW(shape), weight, dtype);
}

void check_meta(const at::Tensor& x, Format f, Scaling s, bool weight) {
  TORCH_CHECK_TYPE(x.is_floating_point(), "x: expected a floating-point tensor, got ", x.scalar_type());
  TORCH_CHECK_VALUE(s != Scaling::NVFP4 || f == Format::E2M1,
                    "format: scaling='nvfp4' is only defined for format='fp4_e2m1'");
  TORCH_CHECK_VALUE(!weight || x.dim() >= 2 || (s != Scaling::Block128 && s != Scaling::Block128UE8M0),
                    "weight: 128x128 weight blocks need a tensor with at least 2 dims");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_meta(const at::Tensor& x, c10::string_view format,
                                                             c10::string_view scaling,
                                                             c10::string_view rule, bool weight) {
  const Format f = parse_format(S(format));
  const Scaling s = parse_scaling(S(scaling));
  parse_rule(S(rule));
  check_meta(x, f, s, weight);
  auto opts = x.options();
  return {at::empty_symint(codes_shape(x.sym_sizes(), f), opts.dtype(at::kByte)),
          at::empty_symint(scales_shape(x.sym_sizes(), s, weight), opts.dtype(scales_dtype(s))),
          at::empty({}, opts.dtype(at::kFloat))};
}

at::Tensor fake_quantize_meta(const at::Tensor& x, c10::string_view format, c10::string_view scaling,
                              c10::string_view rule, bool weight) {
  const Format f = parse_format(S(format));
  const Scaling s = parse_scaling(S(scaling));
  parse_rule(S(rule));
  check_meta(x, f, s, weight);
  return at::empty_like(x, at::MemoryFormat::Contiguous);
}

at::Tensor dequantize_meta(const at::Tensor& codes, const at::Tensor& scales,
                           const at::Tensor& tensor_scale, c10::string_view format,
                           c10::string_view scaling, c10::SymIntArrayRef shape, bool weight,
                           at::ScalarType dtype) {
  parse_format(S(format));
  parse_scaling(S(scaling));
  return at::empty_symint(shape, codes.options().dtype(dtype));
}

}  // namespace
}  // namespace quant
}  // namespace photonic

TORCH_LIBRARY_FRAGMENT(photonic, m) {
  m.def("quantize(Tensor x, str format, str scaling=\"none\", str scale_rule=\"floor\", "
        "bool weight=False) -> (Tensor codes, Tensor scales, Tensor tensor_scale)");
  m.def("dequantize(Tensor codes, Tensor scales, Tensor tensor_scale, str format, str scaling, "
        "SymInt[] shape, bool weight=False, ScalarType dtype=float) -> Tensor");
  m.def("fake_quantize(Tensor x, str format, str scaling=\"none\", str scale_rule=\"floor\", "
        "bool weight=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(photonic, CPU, m) {
  m.impl("quantize", &photonic::quant::quantize_cpu);
  m.impl("dequantize", &photonic::quant::dequantize_cpu);
  m.impl("fake_quantize", &photonic::quant::fake_quantize_cpu);
}

TORCH_LIBRARY_IMPL(photonic, Meta, m) {
  m.impl("quantize", &photonic::quant::quantize_meta);
  m.impl("dequantize", &photonic::quant::dequantize_meta);
  m.impl("fake_quantize", &photonic::quant::fake_quantize_meta);
}

#include "optical/common.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <cmath>
#include <sstream>
#include <vector>

#if __has_include("quant/quantize.h")
#include "quant/quantize.h"
#define PHOTONIC_HAVE_QUANT_H 1
#endif

namespace photonic {
namespace optical {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

at::Tensor fake_quant(const at::Tensor& x, const std::string& fmt, const std::string& scaling,
                      const std::string& rule, bool weight) {
  if (fmt == "none") return x;
#ifdef PHOTONIC_HAVE_QUANT_H
  return photonic::quant::fake_quantize(x, fmt, scaling, rule, weight).to(at::kFloat);
#else
  auto handle = c10::Dispatcher::singleton().findSchema({"photonic::fake_quantize", ""});
  TORCH_CHECK(handle.has_value(), "format '", fmt,
              "' needs the quantization ops (photonic::fake_quantize), which are not built");
  std::vector<c10::IValue> stack{x, fmt, scaling, rule, weight};
  handle->callBoxed(&stack);
  return stack[0].toTensor().to(at::kFloat);
#endif
}

void check_weight_state(const at::Tensor& weff, const at::Tensor& scales, int64_t tile_rows,
                        const char* op) {
  TORCH_CHECK(tile_rows >= 1, op, ": tile_rows must be >= 1, got ", tile_rows);
  TORCH_CHECK(weff.dim() == 2, op, ": programmed weight must be 2-D [out, in], got shape ",
              shape_str(weff.sizes()));
  const int64_t T = n_tiles(weff.size(1), tile_rows);
  TORCH_CHECK(scales.dim() == 2 && scales.size(0) == weff.size(0) && scales.size(1) == T, op,
              ": scales shape ", shape_str(scales.sizes()), " does not match programmed weight ",
              shape_str(weff.sizes()), " with tile_rows=", tile_rows, " (expected [",
              weff.size(0), ", ", T, "])");
  TORCH_CHECK(weff.scalar_type() == at::kFloat && scales.scalar_type() == at::kFloat, op,
              ": programmed state must be float32");
}

void check_list(c10::ArrayRef<double> v, size_t n, const char* op, const char* name) {
  TORCH_CHECK(v.size() == n, op, ": ", name, " must have ", n, " entries, got ", v.size());
  for (size_t i = 0; i < n; ++i)
    TORCH_CHECK(std::isfinite(v[i]), op, ": ", name, "[", i, "] must be finite, got ", v[i]);
}

at::Tensor flatten_input(const at::Tensor& x, const at::Tensor& weff, const char* op) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == weff.size(1), op, ": input shape ",
              shape_str(x.sizes()), " does not match programmed weight shape ",
              shape_str(weff.sizes()), " (input's last dim ", x.dim() ? x.size(-1) : 0,
              " != in_features ", weff.size(1), ")");
  TORCH_CHECK(x.is_floating_point(), op, ": input must be floating point");
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < x.dim(); ++d) rows *= x.size(d);
  return x.reshape({rows, weff.size(1)}).to(at::kFloat).contiguous();
}

}  // namespace optical
}  // namespace photonic

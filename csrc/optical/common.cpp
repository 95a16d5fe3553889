#include "optical/common.h"

#include "optical/numerics.h"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
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

// Activations through the DAC: format, per-row gain a[m] = max|x|, optional uniform rounding.
std::pair<at::Tensor, at::Tensor> prepare_activations(const at::Tensor& x2d,
                                                      const std::string& fmt,
                                                      const std::string& scaling,
                                                      const std::string& rule, int64_t dac_bits,
                                                      bool dac_rounding) {
  at::Tensor xq = fake_quant(x2d, fmt, scaling, rule, /*weight=*/false).contiguous();
  if (!xq.is_same(x2d) && xq.data_ptr() == x2d.data_ptr()) xq = xq.clone();
  const int64_t M = xq.size(0), K = xq.size(1);
  at::Tensor a = at::empty({M}, xq.options());
  at::Tensor xe = dac_rounding ? at::empty_like(xq) : xq;
  const float* px = xq.data_ptr<float>();
  float* pa = a.data_ptr<float>();
  float* pe = xe.data_ptr<float>();
  TORCH_CHECK(!dac_rounding || (dac_bits >= 2 && dac_bits <= 23), "dac_bits must be in [2, 23]");
  const float Q = dac_rounding ? static_cast<float>((int64_t(1) << (dac_bits - 1)) - 1) : 1.f;
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      const float* r = px + m * K;
      float mx = 0.f;
      for (int64_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(r[k]));
      pa[m] = mx;
      if (dac_rounding) {
        float* o = pe + m * K;
        if (mx == 0.f || !std::isfinite(mx)) {
          for (int64_t k = 0; k < K; ++k) o[k] = (mx == 0.f) ? 0.f : r[k];
          continue;
        }
        const float inv = Q / mx, step = mx / Q;
        for (int64_t k = 0; k < K; ++k) o[k] = round_magic(r[k] * inv) * step;
      }
    }
  });
  return {xe, a};
}

at::Tensor flatten_input(const at::Tensor& x, const at::Tensor& weff, const char* op) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == weff.size(1), op, ": input shape ",
              shape_str(x.sizes()), " does not match programmed weight shape ",
              shape_str(weff.sizes()), " (input's last dim ", x.dim() ? x.size(-1) : 0,
              " != in_features ", weff.size(1), ")");
  TORCH_CHECK(x.is_floating_point(), op, ": input must be floating point");
  return x.reshape({-1, weff.size(1)}).to(at::kFloat).contiguous();
}

}  // namespace optical
}  // namespace photonic

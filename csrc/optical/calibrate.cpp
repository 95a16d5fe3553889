// photonic::calibrate: ADC full scales per (output tile, k-tile) from sample activations.
#include "optical/kernels.h"

#include "optical/common.h"
#include "optical/numerics.h"
#include "optical/rng.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace photonic {
namespace optical {

at::Tensor calibrate_cpu(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                         c10::string_view act_format, c10::string_view act_scaling,
                         c10::string_view scale_rule, int64_t dac_bits, bool dac_rounding,
                         int64_t tile_rows, int64_t tile_cols, double k_sigma) {
  check_weight_state(weff, scales, tile_rows, "photonic::calibrate");
  TORCH_CHECK(tile_cols >= 1, "photonic::calibrate: tile_cols must be >= 1");
  TORCH_CHECK(k_sigma > 0, "photonic::calibrate: k_sigma must be > 0");
  at::Tensor x2 = flatten_input(x, weff, "photonic::calibrate");
  auto [xe, a] = prepare_activations(x2, std::string(act_format), std::string(act_scaling),
                                     std::string(scale_rule), dac_bits, dac_rounding);
  const int64_t M = xe.size(0), N = weff.size(0), K = weff.size(1), T = scales.size(1);
  const int64_t NT = (N + tile_cols - 1) / tile_cols;
  at::Tensor fs = at::empty({N, T}, weff.options());
  const float* pa = a.data_ptr<float>();
  const float* ps = scales.contiguous().data_ptr<float>();
  float* pf = fs.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t k0 = t * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
    at::Tensor Y = at::mm(xe.narrow(1, k0, kl), weff.narrow(1, k0, kl).t()).contiguous();
    const float* py = Y.data_ptr<float>();
    std::vector<double> ss(NT, 0.0);
    std::vector<int64_t> cnt(NT, 0);
    at::parallel_for(0, NT, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        const int64_t n0 = j * tile_cols, n1 = std::min(N, n0 + tile_cols);
        double acc = 0;
        int64_t c = 0;
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = n0; n < n1; ++n) {
            const float d = pa[m] * ps[n * T + t];
            if (d > 0) {
              const double y = py[m * N + n] / d;
              acc += y * y;
              ++c;
            }
          }
        ss[j] = acc;
        cnt[j] = c;
      }
    });
    for (int64_t j = 0; j < NT; ++j) {
      const double rms = cnt[j] ? std::sqrt(ss[j] / cnt[j]) : 0.0;
      double v = k_sigma * rms;
      if (!(v > 0) || v > kl) v = static_cast<double>(kl);  // max possible |y| is kl
      const int64_t n0 = j * tile_cols, n1 = std::min(N, n0 + tile_cols);
      for (int64_t n = n0; n < n1; ++n) pf[n * T + t] = static_cast<float>(v);
    }
  }
  return fs;
}

}  // namespace optical
}  // namespace photonic

// photonic::drift: conductance drift of a programmed state (model in kernels.h).
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

at::Tensor drift_impl(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                      int64_t tile_rows, double nu, double nu_std, double t0, double seconds,
                      bool compensate, int64_t seed) {
  check_weight_state(weff, scales, tile_rows, "photonic::drift");
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2,
              "photonic::drift: cells_per_weight must be 1 or 2, got ", cells_per_weight);
  TORCH_CHECK(t0 > 0, "photonic::drift: t0 must be > 0, got ", t0);
  TORCH_CHECK(nu_std >= 0, "photonic::drift: nu_std must be >= 0, got ", nu_std);
  at::Tensor w = weff.contiguous();
  const double t = std::max(seconds, t0);
  if (t <= t0 || (nu == 0.0 && nu_std == 0.0)) return w.clone();
  const int64_t N = w.size(0), K = w.size(1), T = scales.size(1);
  at::Tensor out = at::empty_like(w);
  const float* pw = w.data_ptr<float>();
  const float* ps = scales.contiguous().data_ptr<float>();
  float* po = out.data_ptr<float>();
  const double L = std::log(t / t0);
  const float base = static_cast<float>(std::exp(-nu * L));
  const float negLs = static_cast<float>(-nu_std * L);
  const uint64_t key = stream_key(seed, kStreamDrift);
  // Per-row sums of conductance before/after (double, per row -> thread-count independent).
  std::vector<double> s0(N, 0.0), s1(N, 0.0);
  const float* tab = normal_table();
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    std::vector<float> fbuf(static_cast<size_t>(std::min(K, tile_rows)));
    for (int64_t n = b; n < e; ++n) {
      double a0 = 0, a1 = 0;
      for (int64_t t_ = 0; t_ < T; ++t_) {
        const float s = ps[n * T + t_];
        const int64_t k0 = t_ * tile_rows, k1 = std::min(K, k0 + tile_rows);
        const float inv = s > 0 ? 1.f / s : 0.f;
        const int64_t kl = k1 - k0;
        float* fb = fbuf.data();
        if (nu_std > 0) {
          fill_normals(tab, key, n * K + k0, kl, fb);
          for (int64_t j = 0; j < kl; ++j) fb[j] = base * fast_exp(negLs * fb[j]);
        } else {
          for (int64_t j = 0; j < kl; ++j) fb[j] = base;
        }
        const float* wr = pw + n * K + k0;
        float* orow = po + n * K + k0;
        if (cells_per_weight == 2) {
          for (int64_t j = 0; j < kl; ++j) orow[j] = wr[j] * fb[j];
          if (compensate)
            for (int64_t j = 0; j < kl; ++j) {
              a0 += std::fabs(wr[j]);
              a1 += std::fabs(orow[j]);
            }
        } else {
          for (int64_t j = 0; j < kl; ++j) {
            const float g0 = 0.5f * (wr[j] * inv + 1.f);
            const float g = g0 * fb[j];
            orow[j] = (2.f * g - 1.f) * s;
          }
          if (compensate)
            for (int64_t j = 0; j < kl; ++j) {
              const float g0 = 0.5f * (wr[j] * inv + 1.f);
              a0 += g0 * s;
              a1 += g0 * fb[j] * s;
            }
        }
      }
      s0[n] = a0;
      s1[n] = a1;
    }
  });
  if (compensate) {
    double S0 = 0, S1 = 0;
    for (int64_t n = 0; n < N; ++n) { S0 += s0[n]; S1 += s1[n]; }
    const float alpha = S1 > 0 ? static_cast<float>(S0 / S1) : 1.f;
    at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        for (int64_t t_ = 0; t_ < T; ++t_) {
          const float s = ps[n * T + t_];
          const int64_t k0 = t_ * tile_rows, k1 = std::min(K, k0 + tile_rows);
          for (int64_t k = k0; k < k1; ++k) {
            float& v = po[n * K + k];
            if (cells_per_weight == 2) v *= alpha;
            else if (s > 0) v = (2.f * alpha * 0.5f * (v / s + 1.f) - 1.f) * s;
          }
        }
      }
    });
  }
  return out;
}

at::Tensor drift_cpu(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                     int64_t tile_rows, double nu, double nu_std, double t0, double seconds,
                     bool compensate, int64_t seed) {
  return drift_impl(weff, scales, cells_per_weight, tile_rows, nu, nu_std, t0, seconds,
                    compensate, seed);
}

}  // namespace optical
}  // namespace photonic

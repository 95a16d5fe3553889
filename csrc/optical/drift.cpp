// photonic::drift: the cells of a programmed state at an age (model in kernels.h).
#include "optical/kernels.h"

#include "optical/common.h"
#include "optical/numerics.h"
#include "optical/rng.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace photonic {
namespace optical {

namespace {

constexpr const char* kOp = "photonic::drift";

enum class Compensation { kNone, kGlobal, kPerColumn };

Compensation parse_compensation(c10::string_view v) {
  if (v == "none") return Compensation::kNone;
  if (v == "global") return Compensation::kGlobal;
  if (v == "per_column") return Compensation::kPerColumn;
  TORCH_CHECK(false, kOp, ": compensation must be 'none', 'global' or 'per_column', got '",
              std::string(v), "'");
}

// The per-cell law, all float: nu(g0) = |clamp(a ln g0 + b) + clamp(a2 ln g0 + b2) z1|,
// g = g0 (t/t0)^-nu + |.| q(g0) r z2 with q(g0) = min(q0 / max(g0^q_exp, 1e-3), q_max).
struct Law {
  float a, b, lo, hi;      // mean drift exponent
  float a2, b2, lo2, hi2;  // its spread
  float neg_L;             // -ln(t / t0), 0 while t <= t0
  float q0, q_exp, q_max;  // read-noise amplitude
  float r;                 // sqrt(ln((t + t_read) / (2 t_read))), 0 without read noise
  bool spread, read;       // whether z1 / z2 are used
};

// The cells of one block at the age: g [n] from g0 [n] and the draws z1, z2 (zeros where the
// spread or the read noise is off). Branch-free element loop.
void age_cells(const Law law, const float* g0, const float* z1, const float* z2, int64_t n,
               float* __restrict g) {
  const float a = law.a, b = law.b, lo = law.lo, hi = law.hi;
  const float a2 = law.a2, b2 = law.b2, lo2 = law.lo2, hi2 = law.hi2;
  const float neg_L = law.neg_L, q0 = law.q0, q_exp = law.q_exp, q_max = law.q_max, r = law.r;
  for (int64_t j = 0; j < n; ++j) {
    const float lg = fast_log(std::max(g0[j], 1e-7f));
    const float mu = std::min(hi, std::max(lo, a * lg + b));
    const float sd = std::min(hi2, std::max(lo2, a2 * lg + b2));
    const float nu = std::fabs(mu + sd * z1[j]);
    const float gd = g0[j] * fast_exp(neg_L * nu);
    const float q = std::min(q_max, q0 / std::max(fast_exp(q_exp * lg), 1e-3f));
    g[j] = std::max(0.f, gd + std::fabs(gd) * q * r * z2[j]);
  }
}

}  // namespace

at::Tensor drift_cpu(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                     int64_t tile_rows, c10::ArrayRef<double> nu_coeffs,
                     c10::ArrayRef<double> nu_range, c10::ArrayRef<double> nu_std_coeffs,
                     c10::ArrayRef<double> nu_std_range, double t0,
                     c10::ArrayRef<double> read_noise, double seconds,
                     c10::string_view compensation, int64_t seed) {
  check_weight_state(weff, scales, tile_rows, kOp);
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2, kOp,
              ": cells_per_weight must be 1 or 2, got ", cells_per_weight);
  check_list(nu_coeffs, 2, kOp, "nu_coeffs");
  check_list(nu_range, 2, kOp, "nu_range");
  check_list(nu_std_coeffs, 2, kOp, "nu_std_coeffs");
  check_list(nu_std_range, 2, kOp, "nu_std_range");
  check_list(read_noise, 4, kOp, "read_noise");
  TORCH_CHECK(nu_range[0] <= nu_range[1], kOp, ": nu_range must have lo <= hi, got [",
              nu_range[0], ", ", nu_range[1], "]");
  TORCH_CHECK(nu_std_range[0] <= nu_std_range[1], kOp, ": nu_std_range must have lo <= hi, got [",
              nu_std_range[0], ", ", nu_std_range[1], "]");
  TORCH_CHECK(std::isfinite(t0) && t0 > 0, kOp, ": t0 must be > 0, got ", t0);
  TORCH_CHECK(std::isfinite(seconds) && seconds >= 0, kOp,
              ": seconds (time since programming) must be >= 0, got ", seconds);
  const double q0 = read_noise[0], t_read = read_noise[3];
  TORCH_CHECK(q0 >= 0, kOp, ": read_noise[0] (q0) must be >= 0, got ", q0);
  TORCH_CHECK(q0 == 0 || t_read > 0, kOp, ": read_noise[3] (t_read) must be > 0, got ", t_read);
  TORCH_CHECK(read_noise[2] >= 0, kOp, ": read_noise[2] (q_max) must be >= 0, got ",
              read_noise[2]);
  const Compensation comp = parse_compensation(compensation);

  at::Tensor w = weff.contiguous();
  bool drift_on = false;
  for (double v : {nu_coeffs[0], nu_coeffs[1], nu_range[0], nu_range[1], nu_std_coeffs[0],
                   nu_std_coeffs[1], nu_std_range[0], nu_std_range[1]})
    drift_on = drift_on || v != 0.0;
  if (!drift_on && q0 == 0) return w.clone();

  const double t = seconds + t0;
  Law law;
  law.a = static_cast<float>(nu_coeffs[0]);
  law.b = static_cast<float>(nu_coeffs[1]);
  law.lo = static_cast<float>(nu_range[0]);
  law.hi = static_cast<float>(nu_range[1]);
  law.a2 = static_cast<float>(nu_std_coeffs[0]);
  law.b2 = static_cast<float>(nu_std_coeffs[1]);
  law.lo2 = static_cast<float>(nu_std_range[0]);
  law.hi2 = static_cast<float>(nu_std_range[1]);
  law.neg_L = t > t0 ? static_cast<float>(-std::log(t / t0)) : 0.f;
  // The spread is identically 0 when its clamp range is {0} or it is a constant 0.
  const bool sd_zero = (law.lo2 == 0.f && law.hi2 == 0.f) ||
                       (law.a2 == 0.f && std::min(law.hi2, std::max(law.lo2, law.b2)) == 0.f);
  law.spread = law.neg_L != 0.f && !sd_zero;
  law.q0 = static_cast<float>(q0);
  law.q_exp = static_cast<float>(read_noise[1]);
  law.q_max = static_cast<float>(read_noise[2]);
  law.r = q0 > 0 ? static_cast<float>(
                       std::sqrt(std::max(0.0, std::log((t + t_read) / (2.0 * t_read)))))
                 : 0.f;
  law.read = law.r > 0.f && law.q_max > 0.f;
  if (!law.read) law.r = 0.f;

  const int64_t N = w.size(0), K = w.size(1), T = scales.size(1);
  at::Tensor out = at::empty_like(w);
  const float* pw = w.data_ptr<float>();
  at::Tensor sc = scales.contiguous();
  const float* ps = sc.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const bool pair = cells_per_weight == 2;
  const bool map_now = comp == Compensation::kNone;  // else map back after the sums
  const uint64_t key1 = stream_key(seed, kStreamDrift);
  // One age gives one reproducible draw of the accumulated read noise, another age a fresh one.
  uint64_t sbits;
  std::memcpy(&sbits, &seconds, sizeof(sbits));
  const uint64_t key2 = stream_key(
      static_cast<int64_t>(mix64(static_cast<uint64_t>(seed)) ^ mix64(sbits)), kStreamReadNoise);
  // Conductance sums at programming and now, per weight row, each block weighted by its scale
  // (what the digital side adds up; for pairs the sum of |w|). Double, and each row is summed by
  // one thread in a fixed order, so the totals do not depend on the thread count.
  std::vector<double> sum0(N, 0.0), sum1(N, 0.0);
  at::parallel_for(0, N, std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    const size_t L = static_cast<size_t>(std::min(K, tile_rows));
    std::vector<float> z1(L, 0.f), z2(L, 0.f), g0b(L);
    for (int64_t n = b; n < e; ++n) {
      double a0 = 0, a1 = 0;
      for (int64_t tt = 0; tt < T; ++tt) {
        const float s = ps[n * T + tt];
        const int64_t k0 = tt * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
        const float* wr = pw + n * K + k0;
        float* orow = po + n * K + k0;
        if (!(s > 0.f)) {  // an all-zero block: nothing programmed
          std::fill(orow, orow + kl, 0.f);
          continue;
        }
        if (law.spread) fill_normals(key1, n * K + k0, kl, z1.data());
        if (law.read) fill_normals(key2, n * K + k0, kl, z2.data());
        float* g0 = g0b.data();
        if (pair)
          for (int64_t j = 0; j < kl; ++j) g0[j] = std::fabs(wr[j]) / s;
        else
          for (int64_t j = 0; j < kl; ++j) g0[j] = 0.5f * (wr[j] / s + 1.f);
        age_cells(law, g0, z1.data(), z2.data(), kl, orow);  // g stays in orow until mapped back
        if (!map_now) {  // sums in weight units: each block's conductances times its scale
          double b0 = 0, b1 = 0;
          for (int64_t j = 0; j < kl; ++j) {
            b0 += g0[j];
            b1 += orow[j];
          }
          a0 += b0 * s;
          a1 += b1 * s;
        } else if (pair) {
          for (int64_t j = 0; j < kl; ++j) orow[j] = (wr[j] < 0.f ? -orow[j] : orow[j]) * s;
        } else {
          for (int64_t j = 0; j < kl; ++j) orow[j] = (2.f * orow[j] - 1.f) * s;
        }
      }
      sum0[n] = a0;
      sum1[n] = a1;
    }
  });
  if (map_now) return out;

  // Compensation: conductances times alpha = sum(s g0) / sum(s g) (whole matrix or per row).
  std::vector<float> alpha(N, 1.f);
  if (comp == Compensation::kGlobal) {
    double S0 = 0, S1 = 0;
    for (int64_t n = 0; n < N; ++n) {
      S0 += sum0[n];
      S1 += sum1[n];
    }
    std::fill(alpha.begin(), alpha.end(), S1 > 0 ? static_cast<float>(S0 / S1) : 1.f);
  } else {
    for (int64_t n = 0; n < N; ++n)
      alpha[n] = sum1[n] > 0 ? static_cast<float>(sum0[n] / sum1[n]) : 1.f;
  }
  at::parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float al = alpha[n];
      for (int64_t tt = 0; tt < T; ++tt) {
        const float s = ps[n * T + tt];
        if (!(s > 0.f)) continue;
        const int64_t k0 = tt * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
        const float* wr = pw + n * K + k0;
        float* orow = po + n * K + k0;
        if (pair)
          for (int64_t j = 0; j < kl; ++j) {
            const float g = al * orow[j];
            orow[j] = (wr[j] < 0.f ? -g : g) * s;
          }
        else
          for (int64_t j = 0; j < kl; ++j) orow[j] = (2.f * al * orow[j] - 1.f) * s;
      }
    }
  });
  return out;
}

}  // namespace optical
}  // namespace photonic

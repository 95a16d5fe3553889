// Normals of the counter-based generator (rng.h). Contraction into fused multiply-adds is off
// here, so the bulk fill (compiled for several instruction sets) and normal_at give the same
// value for an element on every path.
#pragma GCC optimize("fp-contract=off")
#include "optical/rng.h"

#include "optical/numerics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace photonic {
namespace optical {

namespace {

// Inverse normal CDF in double: Acklam's rational approximation refined by one Halley step.
double inv_norm_cdf(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  const double plow = 0.02425;
  double x;
  if (p < plow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - plow) {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// The inverse CDF tabulated at 2^12 + 1 points (16 KB: stays in L1). Interior samples
// interpolate linearly; the two outermost intervals (|z| > 3.35) are computed exactly.
constexpr int kTableBits = 12;
constexpr uint32_t kTableN = 1u << kTableBits;
constexpr uint32_t kFracBits = 32 - kTableBits;

const float* normal_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(kTableN + 1);
    for (uint32_t i = 1; i < kTableN; ++i)
      t[i] = static_cast<float>(inv_norm_cdf(static_cast<double>(i) / kTableN));
    t[0] = t[kTableN] = 0.f;  // unused: the outer intervals are computed exactly
    return t;
  }();
  return table.data();
}

inline bool outer_interval(uint32_t h) {
  const uint32_t i = h >> kFracBits;
  return i == 0 || i == kTableN - 1;
}

inline float interpolate(const float* tab, uint32_t h) {
  const int32_t i = static_cast<int32_t>(h >> kFracBits);
  const float fr = static_cast<float>(static_cast<int32_t>(h & ((1u << kFracBits) - 1))) *
                   (1.0f / static_cast<float>(1u << kFracBits));
  return tab[i] + fr * (tab[i + 1] - tab[i]);
}

inline float exact(uint32_t h) {
  return static_cast<float>(inv_norm_cdf((static_cast<double>(h) + 0.5) * (1.0 / 4294967296.0)));
}

// The 32-bit uniform of element index i.
inline uint32_t uniform_bits(uint64_t key, uint64_t i) {
  const uint64_t h = mix64(key + (i >> 1) * 0x9E3779B97F4A7C15ULL);
  return (i & 1) ? static_cast<uint32_t>(h) : static_cast<uint32_t>(h >> 32);
}

}  // namespace

float normal_at(uint64_t key, uint64_t i) {
  const uint32_t h = uniform_bits(key, i);
  return outer_interval(h) ? exact(h) : interpolate(normal_table(), h);
}

// Three passes over blocks: the hashes (one per pair of elements, vectorised 64-bit
// arithmetic), the interpolation, then the rare outer intervals; the values of normal_at.
PHOTONIC_CLONES
void fill_normals(uint64_t key, int64_t i0, int64_t n, float* out) {
  constexpr int64_t kBlock = 256;
  const float* tab = normal_table();
  uint32_t h[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t nb = std::min(kBlock, n - b);
    const uint64_t first = static_cast<uint64_t>(i0 + b);
    int64_t j = 0;
    if (first & 1) h[j++] = uniform_bits(key, first);
    const uint64_t c0 = (first + static_cast<uint64_t>(j)) >> 1;
    const int64_t pairs = (nb - j) / 2;
    uint32_t* hp = h + j;
    for (int64_t p = 0; p < pairs; ++p) {
      const uint64_t v = mix64(key + (c0 + static_cast<uint64_t>(p)) * 0x9E3779B97F4A7C15ULL);
      hp[2 * p] = static_cast<uint32_t>(v >> 32);
      hp[2 * p + 1] = static_cast<uint32_t>(v);
    }
    j += 2 * pairs;
    if (j < nb) h[j] = uniform_bits(key, first + static_cast<uint64_t>(j));
    float* o = out + b;
    for (int64_t q = 0; q < nb; ++q) o[q] = interpolate(tab, h[q]);
    for (int64_t q = 0; q < nb; ++q)
      if (outer_interval(h[q])) o[q] = exact(h[q]);
  }
}

}  // namespace optical
}  // namespace photonic

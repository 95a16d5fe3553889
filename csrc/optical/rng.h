// Counter-based random numbers of the optical kernels: every normal is a pure function of
// (seed, stream, element index), so programming noise, drift exponents and read noise do not
// depend on the thread count or on how a range is split, and drift can regenerate the
// programming-time draws from the seed instead of storing them.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace photonic {
namespace optical {

// Streams: independent key spaces of one seed.
inline constexpr uint64_t kStreamProgram = 1;
inline constexpr uint64_t kStreamDrift = 2;
inline constexpr uint64_t kStreamRead = 3;

inline uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t stream_key(int64_t seed, uint64_t stream) {
  return mix64(mix64(static_cast<uint64_t>(seed)) ^ (stream * 0xD1B54A32D192ED03ULL));
}

// Standard normals by inverse CDF: Acklam's rational approximation refined by one Halley step
// (full double precision) tabulated at 2^12 + 1 points; interior samples interpolate linearly,
// the two outermost intervals (|z| > 3.35) are computed exactly. One 32-bit uniform per normal.
inline double inv_norm_cdf(double p) {
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
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;  // Halley refinement
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

inline constexpr int kTableBits = 12;  // 16 KB: stays in L1
inline constexpr uint32_t kTableN = 1u << kTableBits;

inline const float* normal_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(kTableN + 1);
    for (uint32_t i = 1; i < kTableN; ++i)
      t[i] = static_cast<float>(inv_norm_cdf(static_cast<double>(i) / kTableN));
    t[0] = t[kTableN] = 0.f;  // unused: the outer intervals are computed exactly
    return t;
  }();
  return table.data();
}

inline float normal_u32(const float* tab, uint32_t h) {
  const uint32_t i = h >> (32 - kTableBits);
  if (i == 0 || i == kTableN - 1)
    return static_cast<float>(inv_norm_cdf((static_cast<double>(h) + 0.5) * (1.0 / 4294967296.0)));
  const float fr = static_cast<float>(h & ((1u << (32 - kTableBits)) - 1)) *
                   (1.0f / static_cast<float>(1u << (32 - kTableBits)));
  return tab[i] + fr * (tab[i + 1] - tab[i]);
}

// Two independent standard normals from one 64-bit counter hash.
inline void normal2(const float* tab, uint64_t key, uint64_t counter, float& z0, float& z1) {
  const uint64_t h = mix64(key + counter * 0x9E3779B97F4A7C15ULL);
  z0 = normal_u32(tab, static_cast<uint32_t>(h >> 32));
  z1 = normal_u32(tab, static_cast<uint32_t>(h));
}

// Normals for the consecutive element indices [i0, i0 + n): element i takes half (i & 1) of
// counter i >> 1, so the values do not depend on how a range is split between threads.
inline void fill_normals(const float* tab, uint64_t key, int64_t i0, int64_t n, float* out) {
  int64_t j = 0;
  float a, b;
  if (n > 0 && (i0 & 1)) {
    normal2(tab, key, static_cast<uint64_t>(i0 >> 1), a, b);
    out[j++] = b;
  }
  for (; j + 1 < n; j += 2) {
    normal2(tab, key, static_cast<uint64_t>((i0 + j) >> 1), a, b);
    out[j] = a;
    out[j + 1] = b;
  }
  if (j < n) {
    normal2(tab, key, static_cast<uint64_t>((i0 + j) >> 1), a, b);
    out[j] = a;
  }
}

}  // namespace optical
}  // namespace photonic

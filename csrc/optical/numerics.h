// Branch-free float helpers of the optical kernels' element loops (they keep the loops
// vectorisable and avoid libm calls).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

// Element loops that run on every output are compiled for several instruction sets and picked
// at load time (the same choice for every thread, so results do not depend on the thread count).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PHOTONIC_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PHOTONIC_CLONES
#endif

namespace photonic {
namespace optical {

// Round to nearest (even) for |v| < 2^22 without a libm call (vectorisable).
inline float round_magic(float v) {
  const float m = 12582912.0f;  // 1.5 * 2^23
  return (v + m) - m;
}

// exp(x) for x in [-80, 80], ~2e-7 relative error, branch-free (vectorisable).
inline float fast_exp(float x) {
  x = std::min(80.f, std::max(-80.f, x));
  const float t = x * 1.4426950408889634f;
  const float n = round_magic(t);
  const float f = (t - n) * 0.6931471805599453f;  // |f| <= ln2 / 2
  float p = 1.f / 720.f;
  p = p * f + 1.f / 120.f;
  p = p * f + 1.f / 24.f;
  p = p * f + 1.f / 6.f;
  p = p * f + 0.5f;
  p = p * f + 1.f;
  p = p * f + 1.f;
  const int32_t ni = static_cast<int32_t>(n);
  const uint32_t bits = static_cast<uint32_t>(ni + 127) << 23;
  float sc;
  std::memcpy(&sc, &bits, sizeof(sc));
  return p * sc;
}

// Natural log for normal x > 0, ~1e-7 relative error, branch-free (vectorisable). The caller
// keeps x away from 0, inf and NaN (the kernels take ln(max(x, 1e-7)) of values <= a few).
inline float fast_log(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  int32_t e = static_cast<int32_t>(bits >> 23) - 127;
  uint32_t mb = (bits & 0x007FFFFFu) | 0x3F800000u;  // mantissa in [1, 2)
  float m;
  std::memcpy(&m, &mb, sizeof(m));
  const bool hi = m > 1.41421356f;                     // fold into [sqrt(1/2), sqrt(2))
  m = hi ? 0.5f * m : m;
  e += hi ? 1 : 0;
  const float f = (m - 1.f) / (m + 1.f);              // |f| <= 0.1716
  const float f2 = f * f;
  float p = 1.f / 11.f;
  p = p * f2 + 1.f / 9.f;
  p = p * f2 + 1.f / 7.f;
  p = p * f2 + 1.f / 5.f;
  p = p * f2 + 1.f / 3.f;
  p = p * f2 + 1.f;
  return static_cast<float>(e) * 0.6931471805599453f + 2.f * f * p;
}

// sqrt(x) for finite x >= 0 (0 gives 0), ~1e-7 relative error: an inverse square root from the
// exponent bits refined by three Newton steps, times x. Unlike std::sqrt it needs no errno
// path, so the loops around it vectorise.
inline float sqrt_nr(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  bits = 0x5F3759DFu - (bits >> 1);
  float y;
  std::memcpy(&y, &bits, sizeof(y));
  const float h = 0.5f * x;
  y = y * (1.5f - h * y * y);
  y = y * (1.5f - h * y * y);
  y = y * (1.5f - h * y * y);
  return x * y;
}

// bfloat16 bits of a finite float, rounded to nearest even (as at::BFloat16 rounds).
inline uint16_t float_to_bf16_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  b += 0x7FFFu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}

// The float value of bfloat16 bits (vectorisable).
inline float bf16_bits_to_float(uint16_t h) {
  const uint32_t b = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

}  // namespace optical
}  // namespace photonic

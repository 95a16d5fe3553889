// Element formats of the photonic quantizer: bit-exact round-to-nearest-even conversions from
// float32 to FP8 E4M3 (fn), FP8 E5M2 and FP4 E2M1, their decode tables, and the E8M0 / E4M3 scale
// helpers used by the block scalings. Header-only and free of torch includes so that kernels can
// inline every conversion (no per-element dispatch).
//
// Conventions (they match torch 2.13's casts, see tests/quant/test_quant_exhaustive.py):
//  * RNE everywhere; subnormals kept (no flush to zero).
//  * E4M3 (fn): |x| > 448 and +-Inf saturate to +-448 (0x7E); NaN -> 0x7F | sign.
//  * E5M2, "saturating" off (plain cast): |x| >= 61440 and +-Inf -> +-Inf (0x7C); NaN -> 0x7F | sign.
//    E5M2 with saturation (every scaled mode): |x| > 57344 -> +-57344 (0x7B).
//  * E2M1: |x| > 6 and +-Inf -> +-6 (code 7); the format has no NaN, callers reject NaN input.
#pragma once

#include <cstdint>
#include <cstring>

namespace photonic {
namespace quant {

enum class Format : uint8_t { E4M3 = 0, E5M2 = 1, E2M1 = 2 };
enum class Scaling : uint8_t { None = 0, Tensor, Channel, MX, NVFP4, Block128, Block128UE8M0 };
enum class Rule : uint8_t { Floor = 0, RCeil = 1 };

inline uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Branch-free select (keeps the element loops vectorizable): c ? t : f.
inline uint32_t sel(bool c, uint32_t t, uint32_t f) {
  const uint32_t m = 0u - uint32_t(c);
  return (t & m) | (f & ~m);
}

constexpr uint32_t kF32Inf = 0x7f800000u;
constexpr uint32_t kF32QNaN = 0x7fc00000u;

// Static description of an element format.
template <Format F>
struct Fmt;
template <>
struct Fmt<Format::E4M3> {
  static constexpr int E = 4, M = 3, BIAS = 7, EMAX = 8;
  static constexpr uint32_t MAXBITS = 0x43e00000u;  // 448.0f
  static constexpr uint8_t MAXCODE = 0x7E, NANCODE = 0x7F;
  static constexpr bool HAS_NAN = true;
};
template <>
struct Fmt<Format::E5M2> {
  static constexpr int E = 5, M = 2, BIAS = 15, EMAX = 15;
  static constexpr uint32_t MAXBITS = 0x47600000u;  // 57344.0f
  static constexpr uint32_t OVFBITS = 0x47700000u;  // 61440.0f: first value that rounds to Inf
  static constexpr uint8_t MAXCODE = 0x7B, NANCODE = 0x7F, INFCODE = 0x7C;
  static constexpr bool HAS_NAN = true;
};
template <>
struct Fmt<Format::E2M1> {
  static constexpr int E = 2, M = 1, BIAS = 1, EMAX = 2;
  static constexpr uint32_t MAXBITS = 0x40c00000u;  // 6.0f
  static constexpr uint8_t MAXCODE = 0x7, NANCODE = 0x0;
  static constexpr bool HAS_NAN = false;
};

// Shared derived constants.
template <Format F>
struct FmtC {
  using T = Fmt<F>;
  static constexpr int EMIN = 1 - T::BIAS;                                   // min normal exponent
  static constexpr uint32_t MINNORM = uint32_t(127 + EMIN) << 23;            // 2^EMIN as f32 bits
  static constexpr uint32_t MAGIC = uint32_t(127 + EMIN - T::M + 23) << 23;  // ulp(MAGIC) = 2^(EMIN-M)
  static constexpr uint32_t SHIFT = 23 - T::M;
  static constexpr uint32_t HALF_M1 = (1u << (SHIFT - 1)) - 1u;
  static constexpr uint32_t LOWMASK = (1u << SHIFT) - 1u;
  static constexpr uint32_t REBIAS = uint32_t(127 - T::BIAS) << 23;
  static constexpr uint32_t SIGNSHIFT = 31 - (T::E + T::M);
};

inline float max_value(Format f) {
  switch (f) {
    case Format::E4M3: return 448.0f;
    case Format::E5M2: return 57344.0f;
    default: return 6.0f;
  }
}
inline int emax_elem(Format f) {
  switch (f) {
    case Format::E4M3: return 8;
    case Format::E5M2: return 15;
    default: return 2;
  }
}

// float32 -> element code (RNE). SAT selects saturation for E5M2 (E4M3 and E2M1 always saturate).
template <Format F, bool SAT>
inline uint8_t encode(float v) {
  using T = Fmt<F>;
  using C = FmtC<F>;
  const uint32_t u = f2u(v);
  const uint32_t a = u & 0x7fffffffu;
  const uint32_t sgn = (u >> 31) << (T::E + T::M);
  // normal result: re-bias the exponent, then round the mantissa (ties to even)
  const uint32_t rb = a - C::REBIAS;
  const uint32_t odd = (rb >> C::SHIFT) & 1u;
  const uint32_t nrm = (rb + C::HALF_M1 + odd) >> C::SHIFT;
  // subnormal result: adding MAGIC rounds |v| to a multiple of the subnormal quantum
  const uint32_t sub = f2u(u2f(a) + u2f(C::MAGIC)) - C::MAGIC;
  uint32_t code = sel(a < C::MINNORM, sub, nrm);
  if constexpr (F == Format::E5M2 && !SAT) {
    code = sel(a >= Fmt<Format::E5M2>::OVFBITS, uint32_t(Fmt<Format::E5M2>::INFCODE), code);
  } else {
    code = sel(a > T::MAXBITS, uint32_t(T::MAXCODE), code);
  }
  if constexpr (T::HAS_NAN) code = sel(a > kF32Inf, uint32_t(T::NANCODE), code);
  return uint8_t(code | sgn);
}

// float32 -> float32 value of the nearest element (same rounding as encode; NaN -> sign|0x7fc00000,
// which is also what the decode tables give, so decode(encode(v)) == round_value(v) bitwise).
template <Format F, bool SAT>
inline float round_value(float v) {
  using T = Fmt<F>;
  using C = FmtC<F>;
  const uint32_t u = f2u(v);
  const uint32_t s = u & 0x80000000u;
  const uint32_t a = u & 0x7fffffffu;
  const uint32_t odd = (a >> C::SHIFT) & 1u;
  const uint32_t nrm = (a + C::HALF_M1 + odd) & ~C::LOWMASK;
  const float m = u2f(C::MAGIC);
  const uint32_t sub = f2u((u2f(a) + m) - m);
  uint32_t r = sel(a < C::MINNORM, sub, nrm);
  if constexpr (F == Format::E5M2 && !SAT) {
    r = sel(a >= Fmt<Format::E5M2>::OVFBITS, kF32Inf, r);
  } else {
    r = sel(a > T::MAXBITS, T::MAXBITS, r);
  }
  if constexpr (T::HAS_NAN) r = sel(a > kF32Inf, kF32QNaN, r);
  return u2f(r | s);
}

// code -> float32 (exact). NaN codes decode to sign|0x7fc00000.
template <Format F>
inline float decode_scalar(uint32_t c) {
  using T = Fmt<F>;
  const int nb = T::E + T::M;
  const uint32_t s = (c >> nb) & 1u;
  const uint32_t e = (c >> T::M) & ((1u << T::E) - 1u);
  const uint32_t m = c & ((1u << T::M) - 1u);
  uint32_t bits;
  if (F == Format::E4M3 && e == 15 && m == 7) {
    bits = kF32QNaN;
  } else if (F == Format::E5M2 && e == 31) {
    bits = m == 0 ? kF32Inf : kF32QNaN;
  } else if (e == 0) {
    // m * 2^(EMIN - M): exact in float
    float v = float(m);
    int k = FmtC<F>::EMIN - T::M;
    bits = f2u(v * u2f(uint32_t(127 + k) << 23));
  } else {
    bits = (uint32_t(int(e) - T::BIAS + 127) << 23) | (m << (23 - T::M));
  }
  return u2f(bits | (s << 31));
}

// 256-entry decode table (for E2M1 only the low nibble matters; entries 16.. repeat).
template <Format F>
inline const float* decode_table() {
  struct Table {
    float v[256];
    Table() {
      for (uint32_t c = 0; c < 256; ++c) {
        v[c] = F == Format::E2M1 ? decode_scalar<F>(c & 0xF) : decode_scalar<F>(c);
      }
    }
  };
  static const Table t;
  return t.v;
}

// ---- scales --------------------------------------------------------------------------------

// 2^k as float32 for k in [-149, 127] (exact; subnormal below -126).
inline float exp2i(int k) {
  if (k >= -126) return u2f(uint32_t(k + 127) << 23);
  return u2f(1u << (k + 149));
}

// E8M0 code -> float32 scale (0xFF -> NaN, 0x00 -> 2^-127).
inline float e8m0_value(uint8_t c) {
  if (c == 0xFF) return u2f(kF32QNaN);
  return exp2i(int(c) - 127);
}

// floor(log2(a)) from the float32 exponent field, the OCP MX rule (subnormals and 0 give -127).
inline int floor_log2_bits(float a) { return int((f2u(a) >> 23) & 0xFFu) - 127; }

// ceil(log2(a)) exactly, for finite a >= 0 (0 -> -149 sentinel, below every clamp we use).
inline int ceil_log2_exact(float a) {
  const uint32_t b = f2u(a) & 0x7fffffffu;
  if (b == 0) return -149;
  const uint32_t e = b >> 23;
  const uint32_t m = b & 0x7fffffu;
  if (e == 0) {  // subnormal: a = m * 2^-149
    int hi = 31 - __builtin_clz(m);               // floor(log2 m)
    return hi - 149 + ((m & (m - 1)) ? 1 : 0);
  }
  return int(e) - 127 + (m ? 1 : 0);
}

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

}  // namespace quant
}  // namespace photonic

// The receiver and ADC of one k-tile of photonic::mvm (model in kernels.h).
#include "optical/readout.h"

#include "optical/numerics.h"
#include "optical/rng.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

namespace photonic {
namespace optical {

namespace {

// One output n: y <- y / s + sqrt(var) z, var from the common-mode light cm (bfloat16 bits,
// original units; nullptr without shot noise). Masked rows (ok == 0) get no noise.
PHOTONIC_CLONES
void detect_row(float* y, const uint16_t* cm, const float* z, const float* ok,
                const float* xsum, int64_t R, float inv_s, float inv_photons, float receiver_var,
                bool single) {
  if (cm == nullptr) {
    const float sd = sqrt_nr(receiver_var * (single ? 4.f : 1.f));
    for (int64_t r = 0; r < R; ++r) y[r] = y[r] * inv_s + sd * z[r] * ok[r];
  } else if (!single) {  // pairs: cm = sum |x̂| |ĝ|
    for (int64_t r = 0; r < R; ++r) {
      const float c = bf16_bits_to_float(cm[r]) * inv_s;
      const float var = std::max(0.f, c * inv_photons + receiver_var);
      y[r] = y[r] * inv_s + sqrt_nr(var) * z[r] * ok[r];
    }
  } else {  // single cell: cm = sum |x̂| g = (sum |x̂| ĝ + sum |x̂|) / 2, variance times 4
    for (int64_t r = 0; r < R; ++r) {
      const float c = 0.5f * (bf16_bits_to_float(cm[r]) * inv_s + xsum[r]);
      const float var = 4.f * std::max(0.f, c * inv_photons + receiver_var);
      y[r] = y[r] * inv_s + sqrt_nr(var) * z[r] * ok[r];
    }
  }
}

// One output n through the ADC: count and clip to [-fs, fs], then round(v Qa / fs) fs / Qa
// (in that order, so ties round as the formula says).
PHOTONIC_CLONES
void adc_row(float* y, int32_t* clipped, int64_t R, float fs, float Qa, float step) {
  for (int64_t r = 0; r < R; ++r) {
    const float v = y[r];
    clipped[r] += std::fabs(v) > fs ? 1 : 0;
    y[r] = round_magic(std::min(fs, std::max(-fs, v)) * Qa / fs) * step;
  }
}

// 16 float lanes; the compiler maps them onto the vector registers of each clone's target.
typedef float F16 __attribute__((vector_size(64)));

inline F16 load16(const float* p) {
  F16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Sum of the 16 lanes in a fixed pairwise order.
inline float sum16(F16 v) {
  float a[16], b[8], c[4];
  std::memcpy(a, &v, sizeof(a));
  for (int l = 0; l < 8; ++l) b[l] = a[l] + a[l + 8];
  for (int l = 0; l < 4; ++l) c[l] = b[l] + b[l + 4];
  return (c[0] + c[2]) + (c[1] + c[3]);
}

// R rows against outputs [n0, n1) of a weight tile, 16 lanes per row held in registers.
template <int R>
inline __attribute__((always_inline)) void row_products(const float* w, int64_t ldw, int64_t n0,
                                                        int64_t n1, int64_t kl, const float* xs,
                                                        float* y) {
  const int64_t kv = kl - kl % 16;
  for (int64_t n = n0; n < n1; ++n) {
    const float* wr = w + n * ldw;
    F16 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = F16{};
    for (int64_t k = 0; k < kv; k += 16) {
      const F16 wv = load16(wr + k);
      for (int r = 0; r < R; ++r) acc[r] += wv * load16(xs + r * kl + k);
    }
    if (kv < kl) {  // the tail, zero-padded
      float wt[16] = {}, xt[16] = {};
      std::copy(wr + kv, wr + kl, wt);
      const F16 wv = load16(wt);
      for (int r = 0; r < R; ++r) {
        std::copy(xs + r * kl + kv, xs + r * kl + kl, xt);
        acc[r] += wv * load16(xt);
      }
    }
    for (int r = 0; r < R; ++r) y[n * R + r] = sum16(acc[r]);
  }
}

PHOTONIC_CLONES
void row_products_any(int R, const float* w, int64_t ldw, int64_t n0, int64_t n1, int64_t kl,
                      const float* xs, float* y) {
  static_assert(kDirectRows == 8, "one case per row count");
  switch (R) {
    case 1: row_products<1>(w, ldw, n0, n1, kl, xs, y); break;
    case 2: row_products<2>(w, ldw, n0, n1, kl, xs, y); break;
    case 3: row_products<3>(w, ldw, n0, n1, kl, xs, y); break;
    case 4: row_products<4>(w, ldw, n0, n1, kl, xs, y); break;
    case 5: row_products<5>(w, ldw, n0, n1, kl, xs, y); break;
    case 6: row_products<6>(w, ldw, n0, n1, kl, xs, y); break;
    case 7: row_products<7>(w, ldw, n0, n1, kl, xs, y); break;
    case 8: row_products<8>(w, ldw, n0, n1, kl, xs, y); break;
    default: break;
  }
}

}  // namespace

void tile_row_products(const float* w, int64_t ldw, int64_t N, int64_t kl, const float* xs,
                       int64_t R, float* y) {
  TORCH_CHECK(R >= 1 && R <= kDirectRows, "tile_row_products: R must be in [1, ", kDirectRows,
              "], got ", R);
  at::parallel_for(0, N, 16, [&](int64_t b, int64_t e) {
    row_products_any(static_cast<int>(R), w, ldw, b, e, kl, xs, y);
  });
}

void readout_tile(const Readout& ro, int64_t t, int64_t attempt, float* y,
                  const at::BFloat16* cm, int64_t R, const int64_t* rows, const float* gain_ok,
                  const float* xsum, int64_t* clips, int64_t n0, int64_t n1) {
  if (R == 0 || n1 <= n0) return;
  const int64_t N = ro.N, T = ro.T, tc = ro.tile_cols;
  const bool shot = ro.noisy && ro.inv_photons > 0.f;
  const uint16_t* cmb = shot ? reinterpret_cast<const uint16_t*>(cm) : nullptr;
  const uint64_t base = (static_cast<uint64_t>(attempt) * T + static_cast<uint64_t>(t)) * N;
  std::mutex mu;
  at::parallel_for(n0, n1, std::max<int64_t>(1, 8192 / R), [&](int64_t b, int64_t e) {
    std::vector<float> zb(ro.noisy ? R : 0);
    // Many rows of the call: draw its whole row range at once and pick (same values as one
    // draw per row, faster than hashing each row apart).
    const bool gather = rows != nullptr && R * 4 >= ro.M;
    std::vector<float> zall(ro.noisy && gather ? ro.M : 0);
    const int64_t jb = b / tc, nj = (e - 1) / tc - jb + 1;  // the output tiles of this chunk
    std::vector<int32_t> cb(ro.adc ? nj * R : 0, 0);
    float* z = zb.data();
    for (int64_t n = b; n < e; ++n) {
      float* yr = y + (n - n0) * R;
      const float s = ro.scales[n * T + t];
      if (!(s > 0.f)) {  // an all-zero weight block reads 0
        std::fill(yr, yr + R, 0.f);
        continue;
      }
      const float inv_s = 1.f / s;
      if (ro.noisy) {  // one substream per (attempt, t, n), indexed by the row
        const uint64_t key = mix64(ro.key + mix64(base + static_cast<uint64_t>(n)));
        if (rows == nullptr) {
          fill_normals(key, 0, R, z);
        } else if (gather) {
          fill_normals(key, 0, ro.M, zall.data());
          for (int64_t r = 0; r < R; ++r) z[r] = zall[rows[r]];
        } else {
          for (int64_t r = 0; r < R; ++r) z[r] = normal_at(key, static_cast<uint64_t>(rows[r]));
        }
        detect_row(yr, shot ? cmb + (n - n0) * R : nullptr, z, gain_ok, xsum, R, inv_s,
                   ro.inv_photons, ro.receiver_var, ro.single);
      } else {
        for (int64_t r = 0; r < R; ++r) yr[r] *= inv_s;
      }
      if (ro.adc) {
        const float fs = ro.fs_scalar ? ro.full_scale[0] : ro.full_scale[n * T + t];
        adc_row(yr, cb.data() + (n / tc - jb) * R, R, fs, ro.Qa, fs / ro.Qa);
      }
    }
    if (ro.adc) {
      std::lock_guard<std::mutex> lock(mu);  // integer sums: the order does not matter
      for (int64_t i = 0; i < nj * R; ++i) clips[jb * R + i] += cb[i];
    }
  });
}

}  // namespace optical
}  // namespace photonic

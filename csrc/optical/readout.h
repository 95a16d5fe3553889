// The receiver and ADC of one k-tile of photonic::mvm (body in readout.cpp): partial sums in
// y units, detector noise, clipping and rounding.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace photonic {
namespace optical {

struct Readout {
  int64_t N = 0, T = 0;                // outputs, k-tiles
  const float* scales = nullptr;       // s [N, T]
  const float* full_scale = nullptr;   // FS [N, T], or one value when fs_scalar
  bool fs_scalar = true;
  bool noisy = false;                  // detector noise on
  bool adc = false;                    // ADC clipping and rounding on
  bool single = false;                 // one cell per weight (else a differential pair)
  float inv_photons = 0.f;             // 1 / photons_per_unit, 0 without shot noise
  float receiver_var = 0.f;            // receiver_sigma^2
  float Qa = 1.f;                      // ADC steps per side
  uint64_t key = 0;                    // detector noise stream
  int64_t tile_cols = 1;               // outputs per physical tile (clips are counted per tile)
  int64_t J = 1;                       // output tiles: ceil(N / tile_cols)
  int64_t M = 0;                       // rows of the call
};

// Reads out outputs [n0, n1) of k-tile t for R rows of the call, in place. y [n1 - n0, R] holds
// the signal GEMM weff_tile @ x̂^T (original weight units) and leaves as the ADC output in y
// units; cm [n1 - n0, R] holds the common-mode GEMM (bfloat16, original units; unused without
// shot noise). Column r is row rows[r] of the call (rows == nullptr: row r); gain_ok[r] is 1
// where that row's gain is > 0 (0 masks its noise), xsum[r] its sum of |x̂| over the tile
// (single cell only). Adds to clips[j * R + r] the outputs of output tile j (outputs
// [j tile_cols, (j + 1) tile_cols)) that the ADC clipped for column r. The detector noise of
// (k-tile t, row m, output n, attempt) is element m of a substream keyed by
// (key, (attempt * T + t) * N + n): it depends on neither the batch size nor the threads.
void readout_tile(const Readout& ro, int64_t t, int64_t attempt, float* y,
                  const at::BFloat16* cm, int64_t R, const int64_t* rows, const float* gain_ok,
                  const float* xsum, int64_t* clips, int64_t n0, int64_t n1);

// Rows that bound management reads again are few: their signal on one weight tile comes from
// one pass over the tile, y [N, R] = w x̂^T (fp32), w [N, kl] with row stride ldw, xs = x̂
// [R, kl], R <= kDirectRows. Sums run in a fixed order: the results do not depend on the
// thread count.
inline constexpr int64_t kDirectRows = 8;
void tile_row_products(const float* w, int64_t ldw, int64_t N, int64_t kl, const float* xs,
                       int64_t R, float* y);

}  // namespace optical
}  // namespace photonic

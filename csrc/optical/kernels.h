// Optical MVM with non-volatile PCM weights: programming, drift, ADC calibration, tiled MVM.
// The kernels of the photonic::program / drift / calibrate / mvm ops (one file each, schemas
// and registrations in register.cpp).
//
// Model (docs/design.md, torch_photonic/hardware/config.py):
//  * program: W -> fake_quantize(W, weight format) -> per (output n, k-tile t) scale s[n,t] =
//    max |W| in the block (the full level range is always used) -> normalised weight
//    wn = W / s in [-1, 1] -> PCM cells. cells_per_weight == 2: differential pair, one cell holds
//    |wn| (rounded onto `levels` levels), the other is reset to 0. cells_per_weight == 1: one
//    cell at g = (wn + 1) / 2. Programming noise N(0, program_noise) (fraction of the full
//    conductance range) is drawn once from `seed` for every programmed (non-reset) cell, then the
//    conductance is clipped to [0, 1]. The state is weff = s * wn_noisy (float32, [N, K]) plus
//    s ([N, T]): 4 bytes per weight; noise is never redrawn.
//  * drift: g(t) = g0 * (t / t0)^-nu, nu ~ N(drift_nu, drift_nu_std) per cell, regenerated from
//    the programming seed (no stored copy); optional global compensation rescales so that the
//    summed conductance equals the one at t0.
//  * mvm: x -> fake_quantize(x, activation format) -> per-row DAC normalisation a[m] = max |x|
//    (+ uniform rounding to dac_bits) -> per k-tile partial sums y = x_t . w_t in normalised
//    units (|x| <= 1, |g| <= 1) -> read noise sigma^2 = (c^2 |y| FS + (t FS)^2) -> ADC: clip to
//    [-FS, FS] and round to 2^(adc_bits-1)-1 steps per side -> digital fp32 accumulation of
//    a[m] * s[n,t] * y over the tiles.
// Noise comes from a counter-based generator keyed by (seed, stream, element index) (rng.h), so
// results do not depend on the thread count. No hardware number lives in these kernels: all are
// arguments.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <tuple>

namespace photonic {
namespace optical {

// ---- CPU kernels
std::tuple<at::Tensor, at::Tensor> program_cpu(const at::Tensor& weight,
                                                c10::string_view weight_format,
                                                c10::string_view weight_scaling,
                                                c10::string_view scale_rule, int64_t levels,
                                                int64_t cells_per_weight, bool quantize_levels,
                                                double program_noise, int64_t tile_rows,
                                                int64_t seed);

// The drifted conductances at `seconds` after programming (also used by mvm_cpu).
at::Tensor drift_impl(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                      int64_t tile_rows, double nu, double nu_std, double t0, double seconds,
                      bool compensate, int64_t seed);

at::Tensor drift_cpu(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                     int64_t tile_rows, double nu, double nu_std, double t0, double seconds,
                     bool compensate, int64_t seed);

at::Tensor calibrate_cpu(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                         c10::string_view act_format, c10::string_view act_scaling,
                         c10::string_view scale_rule, int64_t dac_bits, bool dac_rounding,
                         int64_t tile_rows, int64_t tile_cols, double k_sigma);

at::Tensor mvm_cpu(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                   const at::Tensor& full_scale, c10::string_view act_format,
                   c10::string_view act_scaling, c10::string_view scale_rule, int64_t dac_bits,
                   bool dac_rounding, int64_t adc_bits, bool adc_rounding, double read_noise_shot,
                   double read_noise_thermal, int64_t tile_rows, int64_t tile_cols,
                   int64_t cells_per_weight, double drift_nu, double drift_nu_std,
                   double drift_t0, bool drift_compensation, double seconds_since_program,
                   int64_t program_seed, int64_t seed, const c10::optional<at::Tensor>& bias);

// ---- Meta kernels (meta.cpp)
std::tuple<at::Tensor, at::Tensor> program_meta(const at::Tensor& weight, c10::string_view,
                                                 c10::string_view, c10::string_view, int64_t,
                                                 int64_t, bool, double, int64_t tile_rows,
                                                 int64_t);

at::Tensor drift_meta(const at::Tensor& weff, const at::Tensor&, int64_t, int64_t, double, double,
                      double, double, bool, int64_t);

at::Tensor calibrate_meta(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                          c10::string_view, c10::string_view, c10::string_view, int64_t, bool,
                          int64_t, int64_t, double);

at::Tensor mvm_meta(const at::Tensor& x, const at::Tensor& weff, const at::Tensor&,
                    const at::Tensor&, c10::string_view, c10::string_view, c10::string_view,
                    int64_t, bool, int64_t, bool, double, double, int64_t, int64_t, int64_t,
                    double, double, double, bool, double, int64_t, int64_t,
                    const c10::optional<at::Tensor>&);

}  // namespace optical
}  // namespace photonic

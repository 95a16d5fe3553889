// Optical MVM with non-volatile PCM weights: programming, ageing, tiled MVM. The kernels of the
// photonic::program / drift / mvm ops (one file each, the k-tile readout in readout.cpp,
// schemas and registrations in register.cpp).
//
// Units: a weight block is (output n, k-tile t) with scale s[n,t] = max |W| over the block;
// conductances ĝ = w / s lie in [-1, 1]. Inputs are normalised per (row m, k-tile t) to
// x̂ in [-1, 1]. A partial sum ŷ[m,n,t] = sum over the tile of x̂[m,k] ĝ[n,k] is in "y units"
// (at most tile_rows).
//
// Model (docs/design.md, torch_photonic/hardware/config.py):
//  * program: W -> fake_quantize(W, weight format) -> s[n,t] -> PCM cells. cells_per_weight 2:
//    a differential pair, one cell holds g = |ĝ| (rounded onto `levels` levels), the other is
//    reset to 0. cells_per_weight 1: one cell at g = (ĝ + 1) / 2. Programming noise
//    sigma(g) = max(c0 + c1 g + c2 g^2, 0) (fraction of the cell's range, at the target g) is
//    drawn once from `seed` for every programmed cell (a reset cell gets none), then g is
//    clipped to [0, 1]. The state is weff = s ĝ_programmed (float32 [N, K]) plus s ([N, T]).
//    `first_row`: the weight is rows [first_row, first_row + N) of a larger matrix with K
//    columns, and draws the noise of those rows (so a matrix can be written a block of rows at
//    a time, bit for bit).
//  * drift: the cells at `seconds` after programming, t = seconds + t0. Per cell at g0:
//    nu = |mu(g0) + sd(g0) z1| with mu, sd = clamp(a ln g0 + b, lo, hi) (z1 regenerated from
//    `seed`), g = g0 (t / t0)^-nu; accumulated 1/f read noise
//    g += |g| min(q0 / max(g0^q_exp, 1e-3), q_max) sqrt(ln((t + t_read) / (2 t_read))) z2 with
//    z2 drawn per (seed, age); g >= 0. Optional compensation multiplies the conductances by
//    sum(s g0) / sum(s g) (conductances in weight units) over the matrix ("global") or per
//    output row ("per_column").
//  * mvm: x -> fake_quantize(x, activation format) -> per (row, k-tile) input gain a (dynamic
//    max |x| of the tile or a static range per tile, optionally a shared power-of-two exponent)
//    -> x̂ = clip(x / a) (+ DAC rounding to dac_bits) -> per k-tile ŷ = x̂ ĝ^T (fp32 GEMM) ->
//    detector noise of variance cm / photons_per_unit + receiver_sigma^2 (pairs; cm the
//    common-mode light sum |x̂| |ĝ|) or 4 (cm / photons_per_unit + receiver_sigma^2) (single
//    cell, cm = sum |x̂| g) -> ADC: clip to [-FS, FS], round to 2^(adc_bits-1)-1 steps per
//    side -> optional bound management (a (row, tile) that clipped is read again at twice the
//    gain, up to bound_management times) -> digital fp32 accumulation of ŷ s a over tiles.
//    Without noise and ADC the product is one GEMM on the inputs as the DAC leaves them.
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
                                                c10::ArrayRef<double> program_noise_coeffs,
                                                int64_t tile_rows, int64_t seed,
                                                int64_t first_row);

at::Tensor drift_cpu(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                     int64_t tile_rows, c10::ArrayRef<double> nu_coeffs,
                     c10::ArrayRef<double> nu_range, c10::ArrayRef<double> nu_std_coeffs,
                     c10::ArrayRef<double> nu_std_range, double t0,
                     c10::ArrayRef<double> read_noise, double seconds,
                     c10::string_view compensation, int64_t seed);

// Returns (y [..., N] float32, stats int64 [5] = [input samples, inputs clipped, outputs
// converted, outputs clipped, bound-management retries]).
std::tuple<at::Tensor, at::Tensor> mvm_cpu(
    const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
    const at::Tensor& full_scale, const c10::optional<at::Tensor>& input_range,
    const c10::optional<at::Tensor>& cm_weight, c10::string_view act_format,
    c10::string_view act_scaling, c10::string_view scale_rule, int64_t dac_bits,
    bool dac_rounding, bool block_exponent, int64_t adc_bits, bool adc_rounding,
    double photons_per_unit, double receiver_sigma, int64_t bound_management, int64_t tile_rows,
    int64_t tile_cols, int64_t cells_per_weight, int64_t seed,
    const c10::optional<at::Tensor>& bias);

// Bins of the noise table when levels are not rounded: |g| (or (w+1)/2) in kUnquantisedBins
// equal bins.
inline constexpr int64_t kUnquantisedBins = 64;

// The cells of one training forward: the weight mapped as `program` maps it (format, tile
// scales, levels), then per cell target + offset[level] * sign(w) + sigma[level] * z (pairs; single
// cells without the sign), z standard normal from (seed, kStreamTrain, n * K + k), clipped to
// [-1, 1]; a zero weight of a pair stays 0. No offset/sigma: the target itself.
std::tuple<at::Tensor, at::Tensor> draw_cells_cpu(const at::Tensor& weight,
                                                   const c10::optional<at::Tensor>& offset,
                                                   const c10::optional<at::Tensor>& sigma,
                                                   c10::string_view weight_format,
                                                   c10::string_view weight_scaling,
                                                   c10::string_view scale_rule, int64_t levels,
                                                   int64_t cells_per_weight, bool quantize_levels,
                                                   int64_t tile_rows, int64_t seed);

// ---- Meta kernels (meta.cpp)
std::tuple<at::Tensor, at::Tensor> program_meta(const at::Tensor& weight, c10::string_view,
                                                 c10::string_view, c10::string_view, int64_t,
                                                 int64_t, bool, c10::ArrayRef<double>,
                                                 int64_t tile_rows, int64_t, int64_t);

at::Tensor drift_meta(const at::Tensor& weff, const at::Tensor&, int64_t, int64_t,
                      c10::ArrayRef<double>, c10::ArrayRef<double>, c10::ArrayRef<double>,
                      c10::ArrayRef<double>, double, c10::ArrayRef<double>, double,
                      c10::string_view, int64_t);

std::tuple<at::Tensor, at::Tensor> mvm_meta(
    const at::Tensor& x, const at::Tensor& weff, const at::Tensor&, const at::Tensor&,
    const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&, c10::string_view,
    c10::string_view, c10::string_view, int64_t, bool, bool, int64_t, bool, double, double,
    int64_t, int64_t, int64_t, int64_t, int64_t, const c10::optional<at::Tensor>&);

}  // namespace optical
}  // namespace photonic

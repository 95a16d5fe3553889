// photonic::mvm: the tiled optical matrix-vector product (model in kernels.h).
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

at::Tensor mvm_cpu(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                   const at::Tensor& full_scale, c10::string_view act_format,
                   c10::string_view act_scaling, c10::string_view scale_rule, int64_t dac_bits,
                   bool dac_rounding, int64_t adc_bits, bool adc_rounding, double read_noise_shot,
                   double read_noise_thermal, int64_t tile_rows, int64_t tile_cols,
                   int64_t cells_per_weight, double drift_nu, double drift_nu_std,
                   double drift_t0, bool drift_compensation, double seconds_since_program,
                   int64_t program_seed, int64_t seed, const c10::optional<at::Tensor>& bias) {
  check_weight_state(weff, scales, tile_rows, "photonic::mvm");
  const bool has_bias = bias.has_value() && bias->defined();
  at::Tensor b32;
  if (has_bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weff.size(0), "photonic::mvm: bias shape ",
                shape_str(bias->sizes()), " does not match programmed weight shape ",
                shape_str(weff.sizes()), " (expected [", weff.size(0), "])");
    b32 = bias->to(at::kFloat);
  }
  TORCH_CHECK(tile_cols >= 1, "photonic::mvm: tile_cols must be >= 1");
  TORCH_CHECK(read_noise_shot >= 0 && read_noise_thermal >= 0,
              "photonic::mvm: read noise must be >= 0");
  TORCH_CHECK(!adc_rounding || (adc_bits >= 2 && adc_bits <= 23),
              "photonic::mvm: adc_bits must be in [2, 23], got ", adc_bits);
  const int64_t N = weff.size(0), K = weff.size(1), T = scales.size(1);
  at::Tensor x2 = flatten_input(x, weff, "photonic::mvm");
  const int64_t M = x2.size(0);
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = N;

  at::Tensor W = weff;
  if (seconds_since_program > drift_t0 && (drift_nu != 0.0 || drift_nu_std != 0.0))
    W = drift_impl(weff, scales, cells_per_weight, tile_rows, drift_nu, drift_nu_std, drift_t0,
                   seconds_since_program, drift_compensation, program_seed);

  const bool noisy = read_noise_shot > 0 || read_noise_thermal > 0;
  if (!noisy && !adc_rounding) {
    // Exact path: one GEMM on the (dequantised, possibly aged) conductances; the per-row DAC
    // gain cancels unless the DAC rounds.
    at::Tensor xe0 = dac_rounding
        ? prepare_activations(x2, std::string(act_format), std::string(act_scaling),
                              std::string(scale_rule), dac_bits, dac_rounding).first
        : fake_quant(x2, std::string(act_format), std::string(act_scaling),
                     std::string(scale_rule), false);
    at::Tensor y = has_bias ? at::addmm(b32, xe0, W.t()) : at::mm(xe0, W.t());
    return y.reshape(out_shape);
  }
  auto [xe, a] = prepare_activations(x2, std::string(act_format), std::string(act_scaling),
                                     std::string(scale_rule), dac_bits, dac_rounding);
  at::Tensor fsf = full_scale.to(at::kFloat).contiguous();
  TORCH_CHECK(fsf.numel() == 1 || (fsf.dim() == 2 && fsf.size(0) == N && fsf.size(1) == T),
              "photonic::mvm: full_scale must be a scalar or [", N, ", ", T, "], got shape ",
              shape_str(fsf.sizes()));
  const bool fs_scalar = fsf.numel() == 1;
  const float* pf = fsf.data_ptr<float>();
  const float* pa = a.data_ptr<float>();
  const float* ps = scales.contiguous().data_ptr<float>();
  at::Tensor out = at::zeros({M, N}, xe.options());
  float* po = out.data_ptr<float>();
  const float c2 = static_cast<float>(read_noise_shot * read_noise_shot);
  const float th2 = static_cast<float>(read_noise_thermal * read_noise_thermal);
  const float Q = adc_rounding ? static_cast<float>((int64_t(1) << (adc_bits - 1)) - 1) : 1.f;
  const uint64_t key = stream_key(seed, kStreamRead);
  const float* tab = normal_table();
  const int64_t half = (N + 1) / 2;
  std::vector<float> s_t(N), fs_t(N), inv_step(N), step(N);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t k0 = t * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
    at::Tensor Y = at::mm(xe.narrow(1, k0, kl), W.narrow(1, k0, kl).t()).contiguous();
    const float* py = Y.data_ptr<float>();
    for (int64_t n = 0; n < N; ++n) {
      s_t[n] = ps[n * T + t];
      fs_t[n] = fs_scalar ? pf[0] : pf[n * T + t];
      inv_step[n] = Q / fs_t[n];
      step[n] = fs_t[n] / Q;
    }
    const float* sv = s_t.data();
    const float* fv = fs_t.data();
    const float* iq = inv_step.data();
    const float* sq = step.data();
    at::parallel_for(0, M, std::max<int64_t>(1, 4096 / std::max<int64_t>(N, 1)),
                     [&](int64_t b, int64_t e) {
      std::vector<float> zb(static_cast<size_t>(2 * half), 0.f);
      float* z = zb.data();
      for (int64_t m = b; m < e; ++m) {
        const float am = pa[m];
        if (am == 0.f) continue;
        const float inv_am = 1.f / am;
        const float* yr = py + m * N;
        float* orow = po + m * N;
        if (noisy) {
          const uint64_t cbase = static_cast<uint64_t>((t * M + m) * half);
          for (int64_t j = 0; j < half; ++j)
            normal2(tab, key, cbase + static_cast<uint64_t>(j), z[2 * j], z[2 * j + 1]);
        }
        // Branch-free, vectorisable element loop (s == 0 means an all-zero weight block).
        for (int64_t n = 0; n < N; ++n) {
          const float sn = sv[n];
          const float d = am * sn;
          const float inv_d = sn > 0.f ? inv_am / sn : 0.f;
          const float fs = fv[n];
          float y = yr[n] * inv_d;
          if (noisy) {
            const float var = c2 * std::fabs(y) * fs + th2 * fs * fs;
            y += std::sqrt(var) * z[n];
          }
          if (adc_rounding) {
            y = std::min(fs, std::max(-fs, y));
            y = round_magic(y * iq[n]) * sq[n];
          }
          orow[n] += sn > 0.f ? y * d : 0.f;
        }
      }
    });
  }
  if (has_bias) out.add_(b32);
  return out.reshape(out_shape);
}

}  // namespace optical
}  // namespace photonic

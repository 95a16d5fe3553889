// Optical MVM with non-volatile PCM weights: programming, drift, ADC calibration, tiled MVM.
//
// Model (docs/design.md, torch_photonic/config.py):
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
// Noise comes from a counter-based generator keyed by (seed, stream, element index), so results
// do not depend on the thread count. No hardware number lives in this file: all are arguments.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#if __has_include("quant/quantize.h")
#include "quant/quantize.h"
#define PHOTONIC_HAVE_QUANT_H 1
#endif

namespace photonic {
namespace optical {
namespace {

// ------------------------------------------------------------------ counter-based RNG
constexpr uint64_t kStreamProgram = 1;
constexpr uint64_t kStreamDrift = 2;
constexpr uint64_t kStreamRead = 3;

inline uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t stream_key(int64_t seed, uint64_t stream) {
  return mix64(mix64(static_cast<uint64_t>(seed)) ^ (stream * 0xD1B54A32D192ED03ULL));
}

// Two independent standard normals from one 64-bit counter hash (Box-Muller, 32-bit uniforms).
inline void normal2(uint64_t key, uint64_t counter, float& z0, float& z1) {
  const uint64_t h = mix64(key + counter * 0x9E3779B97F4A7C15ULL);
  const double u1 = (static_cast<double>(h >> 32) + 0.5) * (1.0 / 4294967296.0);
  const float u2 = static_cast<float>(static_cast<double>(h & 0xFFFFFFFFULL) * (1.0 / 4294967296.0));
  const float r = std::sqrt(static_cast<float>(-2.0 * std::log(u1)));
  const float th = 6.283185307179586f * u2;
  z0 = r * std::cos(th);
  z1 = r * std::sin(th);
}

inline float normal1(uint64_t key, uint64_t counter) {
  float a, b;
  normal2(key, counter, a, b);
  return a;
}

// ------------------------------------------------------------------ helpers
std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

at::Tensor fake_quant(const at::Tensor& x, const std::string& fmt, const std::string& scaling,
                      const std::string& rule, bool weight) {
  if (fmt == "none") return x;
#ifdef PHOTONIC_HAVE_QUANT_H
  return photonic::quant::fake_quantize(x, fmt, scaling, rule, weight).to(at::kFloat);
#else
  auto handle = c10::Dispatcher::singleton().findSchema({"photonic::fake_quantize", ""});
  TORCH_CHECK(handle.has_value(), "format '", fmt,
              "' needs the quantization ops (photonic::fake_quantize), which are not built");
  std::vector<c10::IValue> stack{x, fmt, scaling, rule, weight};
  handle->callBoxed(&stack);
  return stack[0].toTensor().to(at::kFloat);
#endif
}

inline int64_t n_tiles(int64_t k, int64_t tile_rows) { return (k + tile_rows - 1) / tile_rows; }

void check_weight_state(const at::Tensor& weff, const at::Tensor& scales, int64_t tile_rows,
                        const char* op) {
  TORCH_CHECK(tile_rows >= 1, op, ": tile_rows must be >= 1, got ", tile_rows);
  TORCH_CHECK(weff.dim() == 2, op, ": programmed weight must be 2-D [out, in], got shape ",
              shape_str(weff.sizes()));
  const int64_t T = n_tiles(weff.size(1), tile_rows);
  TORCH_CHECK(scales.dim() == 2 && scales.size(0) == weff.size(0) && scales.size(1) == T, op,
              ": scales shape ", shape_str(scales.sizes()), " does not match programmed weight ",
              shape_str(weff.sizes()), " with tile_rows=", tile_rows, " (expected [",
              weff.size(0), ", ", T, "])");
  TORCH_CHECK(weff.scalar_type() == at::kFloat && scales.scalar_type() == at::kFloat, op,
              ": programmed state must be float32");
}

// Activations through the DAC: format, per-row gain a[m] = max|x|, optional uniform rounding.
std::pair<at::Tensor, at::Tensor> prepare_activations(const at::Tensor& x2d,
                                                      const std::string& fmt,
                                                      const std::string& scaling,
                                                      const std::string& rule, int64_t dac_bits,
                                                      bool dac_rounding) {
  at::Tensor xq = fake_quant(x2d, fmt, scaling, rule, /*weight=*/false).contiguous();
  if (!xq.is_same(x2d) && xq.data_ptr() == x2d.data_ptr()) xq = xq.clone();
  const int64_t M = xq.size(0), K = xq.size(1);
  at::Tensor a = at::empty({M}, xq.options());
  at::Tensor xe = dac_rounding ? at::empty_like(xq) : xq;
  const float* px = xq.data_ptr<float>();
  float* pa = a.data_ptr<float>();
  float* pe = xe.data_ptr<float>();
  TORCH_CHECK(!dac_rounding || (dac_bits >= 2 && dac_bits <= 24), "dac_bits must be in [2, 24]");
  const float Q = dac_rounding ? static_cast<float>((int64_t(1) << (dac_bits - 1)) - 1) : 1.f;
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      const float* r = px + m * K;
      float mx = 0.f;
      for (int64_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(r[k]));
      pa[m] = mx;
      if (dac_rounding) {
        float* o = pe + m * K;
        if (mx == 0.f || !std::isfinite(mx)) {
          for (int64_t k = 0; k < K; ++k) o[k] = (mx == 0.f) ? 0.f : r[k];
          continue;
        }
        const float inv = Q / mx, step = mx / Q;
        for (int64_t k = 0; k < K; ++k) o[k] = std::nearbyint(r[k] * inv) * step;
      }
    }
  });
  return {xe, a};
}

// ------------------------------------------------------------------ drift
at::Tensor drift_impl(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                      int64_t tile_rows, double nu, double nu_std, double t0, double seconds,
                      bool compensate, int64_t seed) {
  check_weight_state(weff, scales, tile_rows, "photonic::drift");
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2,
              "photonic::drift: cells_per_weight must be 1 or 2, got ", cells_per_weight);
  TORCH_CHECK(t0 > 0, "photonic::drift: t0 must be > 0, got ", t0);
  TORCH_CHECK(nu_std >= 0, "photonic::drift: nu_std must be >= 0, got ", nu_std);
  at::Tensor w = weff.contiguous();
  const double t = std::max(seconds, t0);
  if (t <= t0 || (nu == 0.0 && nu_std == 0.0)) return w.clone();
  const int64_t N = w.size(0), K = w.size(1), T = scales.size(1);
  at::Tensor out = at::empty_like(w);
  const float* pw = w.data_ptr<float>();
  const float* ps = scales.contiguous().data_ptr<float>();
  float* po = out.data_ptr<float>();
  const double L = std::log(t / t0);
  const float base = static_cast<float>(std::exp(-nu * L));
  const float negLs = static_cast<float>(-nu_std * L);
  const uint64_t key = stream_key(seed, kStreamDrift);
  // Per-row sums of conductance before/after (double, per row -> thread-count independent).
  std::vector<double> s0(N, 0.0), s1(N, 0.0);
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      double a0 = 0, a1 = 0;
      for (int64_t t_ = 0; t_ < T; ++t_) {
        const float s = ps[n * T + t_];
        const int64_t k0 = t_ * tile_rows, k1 = std::min(K, k0 + tile_rows);
        const float inv = s > 0 ? 1.f / s : 0.f;
        uint64_t cached = ~uint64_t(0);
        float z[2] = {0.f, 0.f};
        for (int64_t k = k0; k < k1; ++k) {
          const int64_t idx = n * K + k;
          float f = base;
          if (nu_std > 0) {
            // element idx uses half (idx & 1) of counter idx >> 1: independent of traversal
            const uint64_t c = static_cast<uint64_t>(idx) >> 1;
            if (c != cached) { normal2(key, c, z[0], z[1]); cached = c; }
            f = base * std::exp(negLs * z[idx & 1]);
          }
          const float w0 = pw[idx];
          if (cells_per_weight == 2) {
            po[idx] = w0 * f;
            a0 += std::fabs(w0);
            a1 += std::fabs(w0 * f);
          } else {
            const float g0 = 0.5f * (w0 * inv + 1.f);
            const float g = g0 * f;
            po[idx] = (2.f * g - 1.f) * s;
            a0 += g0 * s;
            a1 += g * s;
          }
        }
      }
      s0[n] = a0;
      s1[n] = a1;
    }
  });
  if (compensate) {
    double S0 = 0, S1 = 0;
    for (int64_t n = 0; n < N; ++n) { S0 += s0[n]; S1 += s1[n]; }
    const float alpha = S1 > 0 ? static_cast<float>(S0 / S1) : 1.f;
    at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        for (int64_t t_ = 0; t_ < T; ++t_) {
          const float s = ps[n * T + t_];
          const int64_t k0 = t_ * tile_rows, k1 = std::min(K, k0 + tile_rows);
          for (int64_t k = k0; k < k1; ++k) {
            float& v = po[n * K + k];
            if (cells_per_weight == 2) v *= alpha;
            else if (s > 0) v = (2.f * alpha * 0.5f * (v / s + 1.f) - 1.f) * s;
          }
        }
      }
    });
  }
  return out;
}

// ------------------------------------------------------------------ ops
std::tuple<at::Tensor, at::Tensor> program_cpu(const at::Tensor& weight,
                                                c10::string_view weight_format,
                                                c10::string_view weight_scaling,
                                                c10::string_view scale_rule, int64_t levels,
                                                int64_t cells_per_weight, bool quantize_levels,
                                                double program_noise, int64_t tile_rows,
                                                int64_t seed) {
  TORCH_CHECK(weight.dim() == 2, "photonic::program: weight must be 2-D [out, in], got shape ",
              shape_str(weight.sizes()));
  TORCH_CHECK(weight.is_floating_point(), "photonic::program: weight must be floating point");
  TORCH_CHECK(levels >= 2 && levels <= 256, "photonic::program: levels must be in [2, 256], got ",
              levels);
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2,
              "photonic::program: cells_per_weight must be 1 or 2, got ", cells_per_weight);
  TORCH_CHECK(program_noise >= 0, "photonic::program: program_noise must be >= 0");
  TORCH_CHECK(tile_rows >= 1, "photonic::program: tile_rows must be >= 1");
  at::Tensor w = weight.detach().to(at::kFloat).contiguous();
  w = fake_quant(w, std::string(weight_format), std::string(weight_scaling),
                 std::string(scale_rule), /*weight=*/true).contiguous();
  const int64_t N = w.size(0), K = w.size(1), T = n_tiles(K, tile_rows);
  at::Tensor scales = at::zeros({N, T}, w.options());
  at::Tensor out = at::empty({N, K}, w.options());
  const float* pw = w.data_ptr<float>();
  float* ps = scales.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const float Lm1 = static_cast<float>(levels - 1);
  const float sigma = static_cast<float>(program_noise);
  const bool exact = !quantize_levels && program_noise == 0;
  const uint64_t key = stream_key(seed, kStreamProgram);
  at::parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t k0 = t * tile_rows, k1 = std::min(K, k0 + tile_rows);
        float mx = 0.f;
        for (int64_t k = k0; k < k1; ++k) mx = std::max(mx, std::fabs(pw[n * K + k]));
        TORCH_CHECK(std::isfinite(mx), "photonic::program: weight has non-finite values (row ", n,
                    ")");
        ps[n * T + t] = mx;
        if (exact || mx == 0.f) {
          for (int64_t k = k0; k < k1; ++k) po[n * K + k] = mx == 0.f ? 0.f : pw[n * K + k];
          continue;
        }
        const float inv = 1.f / mx;
        for (int64_t k = k0; k < k1; ++k) {
          const int64_t idx = n * K + k;
          const float wn = pw[idx] * inv;
          if (cells_per_weight == 2) {
            float g = std::fabs(wn);
            if (quantize_levels) g = std::nearbyint(g * Lm1) / Lm1;
            if (sigma > 0 && g > 0.f)
              g = std::min(1.f, std::max(0.f, g + sigma * normal1(key, static_cast<uint64_t>(idx))));
            po[idx] = std::copysign(g, wn) * mx;
          } else {
            float g = 0.5f * (wn + 1.f);
            if (quantize_levels) g = std::nearbyint(g * Lm1) / Lm1;
            if (sigma > 0)
              g = std::min(1.f, std::max(0.f, g + sigma * normal1(key, static_cast<uint64_t>(idx))));
            po[idx] = (2.f * g - 1.f) * mx;
          }
        }
      }
    }
  });
  return {out, scales};
}

at::Tensor drift_cpu(const at::Tensor& weff, const at::Tensor& scales, int64_t cells_per_weight,
                     int64_t tile_rows, double nu, double nu_std, double t0, double seconds,
                     bool compensate, int64_t seed) {
  return drift_impl(weff, scales, cells_per_weight, tile_rows, nu, nu_std, t0, seconds,
                    compensate, seed);
}

at::Tensor flatten_input(const at::Tensor& x, const at::Tensor& weff, const char* op) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == weff.size(1), op, ": input shape ",
              shape_str(x.sizes()), " does not match programmed weight shape ",
              shape_str(weff.sizes()), " (input's last dim ", x.dim() ? x.size(-1) : 0,
              " != in_features ", weff.size(1), ")");
  TORCH_CHECK(x.is_floating_point(), op, ": input must be floating point");
  return x.reshape({-1, weff.size(1)}).to(at::kFloat).contiguous();
}

at::Tensor calibrate_cpu(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                         c10::string_view act_format, c10::string_view act_scaling,
                         c10::string_view scale_rule, int64_t dac_bits, bool dac_rounding,
                         int64_t tile_rows, int64_t tile_cols, double k_sigma) {
  check_weight_state(weff, scales, tile_rows, "photonic::calibrate");
  TORCH_CHECK(tile_cols >= 1, "photonic::calibrate: tile_cols must be >= 1");
  TORCH_CHECK(k_sigma > 0, "photonic::calibrate: k_sigma must be > 0");
  at::Tensor x2 = flatten_input(x, weff, "photonic::calibrate");
  auto [xe, a] = prepare_activations(x2, std::string(act_format), std::string(act_scaling),
                                     std::string(scale_rule), dac_bits, dac_rounding);
  const int64_t M = xe.size(0), N = weff.size(0), K = weff.size(1), T = scales.size(1);
  const int64_t NT = (N + tile_cols - 1) / tile_cols;
  at::Tensor fs = at::empty({N, T}, weff.options());
  const float* pa = a.data_ptr<float>();
  const float* ps = scales.contiguous().data_ptr<float>();
  float* pf = fs.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t k0 = t * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
    at::Tensor Y = at::mm(xe.narrow(1, k0, kl), weff.narrow(1, k0, kl).t()).contiguous();
    const float* py = Y.data_ptr<float>();
    std::vector<double> ss(NT, 0.0);
    std::vector<int64_t> cnt(NT, 0);
    at::parallel_for(0, NT, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        const int64_t n0 = j * tile_cols, n1 = std::min(N, n0 + tile_cols);
        double acc = 0;
        int64_t c = 0;
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = n0; n < n1; ++n) {
            const float d = pa[m] * ps[n * T + t];
            if (d > 0) {
              const double y = py[m * N + n] / d;
              acc += y * y;
              ++c;
            }
          }
        ss[j] = acc;
        cnt[j] = c;
      }
    });
    for (int64_t j = 0; j < NT; ++j) {
      const double rms = cnt[j] ? std::sqrt(ss[j] / cnt[j]) : 0.0;
      double v = k_sigma * rms;
      if (!(v > 0) || v > kl) v = static_cast<double>(kl);  // max possible |y| is kl
      const int64_t n0 = j * tile_cols, n1 = std::min(N, n0 + tile_cols);
      for (int64_t n = n0; n < n1; ++n) pf[n * T + t] = static_cast<float>(v);
    }
  }
  return fs;
}

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
  TORCH_CHECK(!adc_rounding || (adc_bits >= 2 && adc_bits <= 24),
              "photonic::mvm: adc_bits must be in [2, 24], got ", adc_bits);
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
  const int64_t half = (N + 1) / 2;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t k0 = t * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
    at::Tensor Y = at::mm(xe.narrow(1, k0, kl), W.narrow(1, k0, kl).t()).contiguous();
    const float* py = Y.data_ptr<float>();
    at::parallel_for(0, M, std::max<int64_t>(1, 4096 / std::max<int64_t>(N, 1)),
                     [&](int64_t b, int64_t e) {
      for (int64_t m = b; m < e; ++m) {
        const float am = pa[m];
        if (am == 0.f) continue;
        const float* yr = py + m * N;
        float* orow = po + m * N;
        const uint64_t cbase = static_cast<uint64_t>((t * M + m) * half);
        for (int64_t n = 0; n < N; n += 2) {
          float z[2] = {0.f, 0.f};
          if (noisy) normal2(key, cbase + static_cast<uint64_t>(n >> 1), z[0], z[1]);
          const int64_t nend = std::min(N, n + 2);
          for (int64_t nn = n; nn < nend; ++nn) {
            const float d = am * ps[nn * T + t];
            if (d == 0.f) continue;
            const float fs = fs_scalar ? pf[0] : pf[nn * T + t];
            float y = yr[nn] / d;
            if (noisy) {
              const float var = c2 * std::fabs(y) * fs + th2 * fs * fs;
              y += std::sqrt(var) * z[nn - n];
            }
            if (adc_rounding) {
              y = std::min(fs, std::max(-fs, y));
              y = std::nearbyint(y * (Q / fs)) * (fs / Q);
            }
            orow[nn] += y * d;
          }
        }
      }
    });
  }
  if (has_bias) out.add_(b32);
  return out.reshape(out_shape);
}

// ------------------------------------------------------------------ meta kernels
std::tuple<at::Tensor, at::Tensor> program_meta(const at::Tensor& weight, c10::string_view,
                                                 c10::string_view, c10::string_view, int64_t,
                                                 int64_t, bool, double, int64_t tile_rows,
                                                 int64_t) {
  TORCH_CHECK(weight.dim() == 2, "photonic::program: weight must be 2-D [out, in], got shape ",
              shape_str(weight.sizes()));
  const int64_t N = weight.size(0), K = weight.size(1);
  auto opt = weight.options().dtype(at::kFloat);
  return {at::empty({N, K}, opt), at::empty({N, n_tiles(K, tile_rows)}, opt)};
}

at::Tensor drift_meta(const at::Tensor& weff, const at::Tensor&, int64_t, int64_t, double, double,
                      double, double, bool, int64_t) {
  return at::empty_like(weff);
}

at::Tensor calibrate_meta(const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
                          c10::string_view, c10::string_view, c10::string_view, int64_t, bool,
                          int64_t, int64_t, double) {
  return at::empty(scales.sizes(), weff.options());
}

at::Tensor mvm_meta(const at::Tensor& x, const at::Tensor& weff, const at::Tensor&,
                    const at::Tensor&, c10::string_view, c10::string_view, c10::string_view,
                    int64_t, bool, int64_t, bool, double, double, int64_t, int64_t, int64_t,
                    double, double, double, bool, double, int64_t, int64_t,
                    const c10::optional<at::Tensor>&) {
  TORCH_CHECK(x.dim() >= 1 && x.sym_size(-1) == weff.sym_size(1), "photonic::mvm: input shape ",
              x.sym_sizes(), " does not match programmed weight shape ", weff.sym_sizes());
  std::vector<c10::SymInt> shape(x.sym_sizes().begin(), x.sym_sizes().end());
  shape.back() = weff.sym_size(0);
  return at::empty_symint(shape, x.options().dtype(at::kFloat));
}

}  // namespace
}  // namespace optical
}  // namespace photonic

TORCH_LIBRARY_FRAGMENT(photonic, m) {
  m.def(
      "program(Tensor weight, str weight_format, str weight_scaling, str scale_rule, "
      "int levels, int cells_per_weight, bool quantize_levels, float program_noise, "
      "int tile_rows, int seed) -> (Tensor, Tensor)");
  m.def(
      "drift(Tensor weff, Tensor scales, int cells_per_weight, int tile_rows, float nu, "
      "float nu_std, float t0, float seconds, bool compensate, int seed) -> Tensor");
  m.def(
      "calibrate(Tensor x, Tensor weff, Tensor scales, str act_format, str act_scaling, "
      "str scale_rule, int dac_bits, bool dac_rounding, int tile_rows, int tile_cols, "
      "float k_sigma) -> Tensor");
  m.def(
      "mvm(Tensor x, Tensor weff, Tensor scales, Tensor full_scale, str act_format, "
      "str act_scaling, str scale_rule, int dac_bits, bool dac_rounding, int adc_bits, "
      "bool adc_rounding, float read_noise_shot, float read_noise_thermal, int tile_rows, "
      "int tile_cols, int cells_per_weight, float drift_nu, float drift_nu_std, float drift_t0, "
      "bool drift_compensation, float seconds_since_program, int program_seed, int seed, "
      "Tensor? bias=None) -> Tensor");
}

TORCH_LIBRARY_IMPL(photonic, CPU, m) {
  m.impl("program", &photonic::optical::program_cpu);
  m.impl("drift", &photonic::optical::drift_cpu);
  m.impl("calibrate", &photonic::optical::calibrate_cpu);
  m.impl("mvm", &photonic::optical::mvm_cpu);
}

TORCH_LIBRARY_IMPL(photonic, Meta, m) {
  m.impl("program", &photonic::optical::program_meta);
  m.impl("drift", &photonic::optical::drift_meta);
  m.impl("calibrate", &photonic::optical::calibrate_meta);
  m.impl("mvm", &photonic::optical::mvm_meta);
}

// photonic::mvm: the tiled optical matrix-vector product (model in kernels.h; the receiver and
// ADC of a k-tile in readout.cpp).
#include "optical/kernels.h"

#include "optical/common.h"
#include "optical/numerics.h"
#include "optical/readout.h"
#include "optical/rng.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace photonic {
namespace optical {

namespace {

constexpr const char* kOp = "photonic::mvm";

// 2^ceil(log2(a)) for finite a > 0: the gain of a block with a shared exponent.
inline float pow2_ceil(float a) {
  int e = 0;
  const float m = std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
  return std::ldexp(1.f, m == 0.5f ? e - 1 : e);
}

// The DAC: x̂ = clamp(x / a, -1, 1), optionally rounded to Qd steps per side, written times
// `unit` (1: normalised, a: original units). a == 0 gives zeros. Returns the number of inputs
// beyond the range (|x| > a); *abs_sum receives the sum of |x̂|.
inline int64_t encode(const float* x, int64_t n, float a, bool dac_rounding, float Qd,
                      float unit, float* out, float* abs_sum) {
  if (a == 0.f) {
    std::fill(out, out + n, 0.f);
    *abs_sum = 0.f;
    return 0;
  }
  int64_t clipped = 0;
  float sum = 0.f;
  for (int64_t k = 0; k < n; ++k) {  // branch-free, vectorisable
    clipped += std::fabs(x[k]) > a ? 1 : 0;
    float v = std::min(1.f, std::max(-1.f, x[k] / a));
    if (dac_rounding) v = round_magic(v * Qd) / Qd;
    sum += std::fabs(v);
    out[k] = v * unit;
  }
  *abs_sum = sum;
  return clipped;
}

// What the DAC side needs to know of the call.
struct Inputs {
  int64_t M, K, T, tile_rows;
  const float* xq;           // [M, K] after the activation format
  const float* input_range;  // static gains [T], or nullptr for dynamic ones
  bool block_exponent, dac_rounding;
  float Qd;
};

// The gain of row m's k-tile t (0: the tile contributes nothing).
inline float tile_gain(const Inputs& in, int64_t m, int64_t t) {
  const int64_t k0 = t * in.tile_rows, k1 = std::min(in.K, k0 + in.tile_rows);
  float a;
  if (in.input_range != nullptr) {
    a = in.input_range[t];
  } else {
    a = 0.f;
    const float* r = in.xq + m * in.K;
    for (int64_t k = k0; k < k1; ++k) a = std::max(a, std::fabs(r[k]));
  }
  if (in.block_exponent && a > 0.f && std::isfinite(a)) a = pow2_ceil(a);
  return a;
}

// Gains A [M, T], encoded inputs xe [M, K] (times `original ? a : 1`), input clips per
// (m, t) and, per (m, t), the sum of |x̂|. One row per task: thread-count independent.
void encode_all(const Inputs& in, bool original, float* xe, float* A, int64_t* icl,
                float* xs) {
  const int64_t M = in.M, K = in.K, T = in.T;
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t k0 = t * in.tile_rows, kl = std::min(K, k0 + in.tile_rows) - k0;
        const float a = tile_gain(in, m, t);
        A[m * T + t] = a;
        icl[m * T + t] = encode(in.xq + m * K + k0, kl, a, in.dac_rounding, in.Qd,
                                original ? a : 1.f, xe + m * K + k0, &xs[m * T + t]);
      }
  });
}

// xT [K, M] = xh [M, K]^T and, when axT is given, bfloat16 bits of |xh|^T, in blocks of k.
void transpose_inputs(const float* xh, int64_t M, int64_t K, float* xT, uint16_t* axT) {
  constexpr int64_t kB = 32;
  const int64_t grain = std::max<int64_t>(1, 4096 / (kB * std::max<int64_t>(M, 1)));
  at::parallel_for(0, (K + kB - 1) / kB, grain, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t k0 = blk * kB, k1 = std::min(K, k0 + kB);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = k0; k < k1; ++k) xT[k * M + m] = xh[m * K + k];
      if (axT != nullptr)
        for (int64_t k = k0; k < k1; ++k)
          for (int64_t m = 0; m < M; ++m)
            axT[k * M + m] = float_to_bf16_bits(std::fabs(xT[k * M + m]));
    }
  });
}

// The common-mode cells of one weight tile when the caller holds no copy: bfloat16 of |w|
// (pairs) or w (single cell), [N, kl].
at::Tensor cm_tile(const at::Tensor& W, int64_t k0, int64_t kl, bool pair) {
  const int64_t N = W.size(0), K = W.size(1);
  at::Tensor out = at::empty({N, kl}, W.options().dtype(at::kBFloat16));
  const float* pw = W.data_ptr<float>() + k0;
  uint16_t* po = reinterpret_cast<uint16_t*>(out.data_ptr());
  at::parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(kl, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float* wr = pw + n * K;
      uint16_t* orow = po + n * kl;
      if (pair)
        for (int64_t k = 0; k < kl; ++k) orow[k] = float_to_bf16_bits(std::fabs(wr[k]));
      else
        for (int64_t k = 0; k < kl; ++k) orow[k] = float_to_bf16_bits(wr[k]);
    }
  });
  return out;
}

// Digital accumulation of k-tile t in fp32: acc [N, M] (+)= ŷ s a tile after tile; the last
// tile writes out [M, N] = acc + ŷ s a (+ bias), transposed in blocks of outputs.
void accumulate(const float* y, const float* s, int64_t T, int64_t t, const float* a, int64_t N,
                int64_t M, float* acc, float* out, const float* bias) {
  const bool last = t == T - 1;
  constexpr int64_t kB = 16;
  const int64_t grain = std::max<int64_t>(1, 16384 / (kB * std::max<int64_t>(M, 1)));
  at::parallel_for(0, (N + kB - 1) / kB, grain, [&](int64_t b, int64_t e) {
    float c[kB];
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t n0 = blk * kB, n1 = std::min(N, n0 + kB);
      if (!last) {
        for (int64_t n = n0; n < n1; ++n) {
          const float sn = s[n * T + t];
          const float* yr = y + n * M;
          float* ar = acc + n * M;
          if (t == 0)
            for (int64_t m = 0; m < M; ++m) ar[m] = yr[m] * sn * a[m];
          else
            for (int64_t m = 0; m < M; ++m) ar[m] += yr[m] * sn * a[m];
        }
        continue;
      }
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = n0; n < n1; ++n) c[n - n0] = y[n * M + m] * s[n * T + t] * a[m];
        if (T > 1)
          for (int64_t n = n0; n < n1; ++n) c[n - n0] = acc[n * M + m] + c[n - n0];
        if (bias != nullptr)
          for (int64_t n = n0; n < n1; ++n) c[n - n0] += bias[n];
        std::copy(c, c + (n1 - n0), out + m * N + n0);
      }
    }
  });
}

// Bound management on k-tile t: a (row, output tile) whose read clipped is read again with the
// row's gain doubled (its inputs re-encoded by the DAC at half scale, fresh detector noise), up
// to `bm` times; the result, in units of the row's first gain, replaces that output tile's
// values in y [N, M]. clips [J, M] ends as the clips of each pair's last read; *retries counts
// the pairs read again. Input clips stay those of the first read.
void manage_bounds(const Readout& ro, const Inputs& in, const at::Tensor& W,
                      const at::Tensor& cmt, int64_t t, int64_t k0, int64_t kl, int64_t bm,
                      const float* gain, float* y, int64_t M, int64_t* clips, int64_t* retries) {
  const int64_t N = ro.N, J = ro.J, tc = ro.tile_cols, K = in.K;
  const bool shot = cmt.defined();
  std::vector<std::pair<int64_t, int64_t>> redo;  // (output tile j, row m)
  for (int64_t j = 0; j < J; ++j)
    for (int64_t m = 0; m < M; ++m)
      if (clips[j * M + m] > 0) redo.emplace_back(j, m);
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
  for (int64_t attempt = 1; attempt <= bm && !redo.empty(); ++attempt) {
    *retries += static_cast<int64_t>(redo.size());
    const float factor = std::ldexp(1.f, static_cast<int>(attempt));
    std::vector<std::pair<int64_t, int64_t>> next;
    size_t i = 0;
    while (i < redo.size()) {  // one output tile at a time
      const int64_t j = redo[i].first;
      std::vector<int64_t> rows;
      for (; i < redo.size() && redo[i].first == j; ++i) rows.push_back(redo[i].second);
      const int64_t R = static_cast<int64_t>(rows.size());
      const int64_t n0 = j * tc, n1 = std::min(N, n0 + tc), nb = n1 - n0;
      at::Tensor sub = at::empty({R, kl}, f32);
      std::vector<float> ok1(R, 1.f), sxs(R);
      float* psub = sub.data_ptr<float>();
      for (int64_t r = 0; r < R; ++r) {
        const int64_t m = rows[r];
        encode(in.xq + m * K + k0, kl, gain[m] * factor, in.dac_rounding, in.Qd, 1.f,
               psub + r * kl, &sxs[r]);
      }
      at::Tensor Ys;
      if (R <= kDirectRows) {  // one pass over the output tile's weights
        Ys = at::empty({nb, R}, f32);
        tile_row_products(W.data_ptr<float>() + n0 * K + k0, K, nb, kl, psub, R,
                          Ys.data_ptr<float>());
      } else {
        Ys = at::mm(W.narrow(0, n0, nb).narrow(1, k0, kl), sub.t()).contiguous();
      }
      at::Tensor Cs;
      if (shot)
        Cs = at::mm(cmt.narrow(0, n0, nb), at::abs(sub).t().to(at::kBFloat16).contiguous())
                 .contiguous();
      std::vector<int64_t> scl(J * R, 0);
      float* pys = Ys.data_ptr<float>();
      readout_tile(ro, t, attempt, pys, shot ? Cs.data_ptr<at::BFloat16>() : nullptr, R,
                   rows.data(), ok1.data(), sxs.data(), scl.data(), n0, n1);
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t r = 0; r < R; ++r) y[n * M + rows[r]] = pys[(n - n0) * R + r] * factor;
      for (int64_t r = 0; r < R; ++r) {
        clips[j * M + rows[r]] = scl[j * R + r];
        if (scl[j * R + r] > 0) next.emplace_back(j, rows[r]);
      }
    }
    redo.swap(next);
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> mvm_cpu(
    const at::Tensor& x, const at::Tensor& weff, const at::Tensor& scales,
    const at::Tensor& full_scale, const c10::optional<at::Tensor>& input_range,
    const c10::optional<at::Tensor>& cm_weight, c10::string_view act_format,
    c10::string_view act_scaling, c10::string_view scale_rule, int64_t dac_bits,
    bool dac_rounding, bool block_exponent, int64_t adc_bits, bool adc_rounding,
    double photons_per_unit, double receiver_sigma, int64_t bound_management, int64_t tile_rows,
    int64_t tile_cols, int64_t cells_per_weight, int64_t seed,
    const c10::optional<at::Tensor>& bias) {
  check_weight_state(weff, scales, tile_rows, kOp);
  TORCH_CHECK(tile_cols >= 1, kOp, ": tile_cols must be >= 1, got ", tile_cols);
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2, kOp,
              ": cells_per_weight must be 1 or 2, got ", cells_per_weight);
  TORCH_CHECK(!dac_rounding || (dac_bits >= 2 && dac_bits <= 23), kOp,
              ": dac_bits must be in [2, 23], got ", dac_bits);
  TORCH_CHECK(!adc_rounding || (adc_bits >= 2 && adc_bits <= 23), kOp,
              ": adc_bits must be in [2, 23], got ", adc_bits);
  TORCH_CHECK(std::isfinite(photons_per_unit) && photons_per_unit >= 0, kOp,
              ": photons_per_unit must be >= 0, got ", photons_per_unit);
  TORCH_CHECK(std::isfinite(receiver_sigma) && receiver_sigma >= 0, kOp,
              ": receiver_sigma must be >= 0, got ", receiver_sigma);
  TORCH_CHECK(bound_management >= 0 && bound_management <= 64, kOp,
              ": bound_management must be in [0, 64], got ", bound_management);
  const int64_t N = weff.size(0), K = weff.size(1), T = scales.size(1);
  const bool has_bias = bias.has_value() && bias->defined();
  at::Tensor b32;
  if (has_bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == N, kOp, ": bias shape ",
                shape_str(bias->sizes()), " does not match programmed weight shape ",
                shape_str(weff.sizes()), " (expected [", N, "])");
    b32 = bias->to(at::kFloat).contiguous();
  }
  at::Tensor ir;
  if (input_range.has_value() && input_range->defined()) {
    TORCH_CHECK(input_range->numel() == T && input_range->is_floating_point(), kOp,
                ": input_range must hold one float per k-tile ([", T, "]), got shape ",
                shape_str(input_range->sizes()));
    ir = input_range->to(at::kFloat).contiguous().reshape({T});
    TORCH_CHECK(at::all(at::isfinite(ir) & (ir >= 0)).item<bool>(), kOp,
                ": input_range must be finite and >= 0");
  }
  at::Tensor x2 = flatten_input(x, weff, kOp);
  const int64_t M = x2.size(0);
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = N;
  at::Tensor xq = fake_quant(x2, std::string(act_format), std::string(act_scaling),
                             std::string(scale_rule), /*weight=*/false)
                      .contiguous();
  at::Tensor W = weff.contiguous();
  at::Tensor S = scales.contiguous();

  Inputs in{M,
            K,
            T,
            tile_rows,
            xq.data_ptr<float>(),
            ir.defined() ? ir.data_ptr<float>() : nullptr,
            block_exponent,
            dac_rounding,
            dac_rounding ? static_cast<float>((int64_t(1) << (dac_bits - 1)) - 1) : 1.f};
  std::vector<float> A(M * T), XS(M * T);
  std::vector<int64_t> ICL(M * T, 0);
  int64_t out_clips = 0, retries = 0;
  auto stats_of = [&]() {
    int64_t in_clips = 0;
    for (int64_t v : ICL) in_clips += v;
    at::Tensor st = at::empty({5}, at::kLong);
    int64_t* p = st.data_ptr<int64_t>();
    p[0] = M * K;
    p[1] = in_clips;
    p[2] = M * N * T;
    p[3] = out_clips;
    p[4] = retries;
    return st;
  };

  const bool noisy = photons_per_unit > 0 || receiver_sigma > 0;
  if (!noisy && !adc_rounding) {
    // Exact path: inputs in original units as the DAC leaves them, one GEMM.
    at::Tensor xe = xq;
    if (dac_rounding || ir.defined()) {
      xe = at::empty_like(xq);
      encode_all(in, /*original=*/true, xe.data_ptr<float>(), A.data(), ICL.data(), XS.data());
    }
    at::Tensor y = has_bias ? at::addmm(b32, xe, W.t()) : at::mm(xe, W.t());
    return {y.reshape(out_shape), stats_of()};
  }

  // Tiled path. Inputs are kept transposed ([K, M]) so each k-tile's GEMMs give [N, M].
  const bool shot = photons_per_unit > 0;  // the common-mode GEMM sets the shot-noise variance
  at::Tensor xh = at::empty_like(xq);
  encode_all(in, /*original=*/false, xh.data_ptr<float>(), A.data(), ICL.data(), XS.data());
  at::Tensor xT = at::empty({K, M}, xq.options());
  at::Tensor axT = shot ? at::empty({K, M}, xq.options().dtype(at::kBFloat16)) : at::Tensor();
  transpose_inputs(xh.data_ptr<float>(), M, K, xT.data_ptr<float>(),
                   shot ? reinterpret_cast<uint16_t*>(axT.data_ptr()) : nullptr);
  const bool pair = cells_per_weight == 2;
  at::Tensor cmw;
  if (shot && cm_weight.has_value() && cm_weight->defined()) {
    TORCH_CHECK(cm_weight->dim() == 2 && cm_weight->size(0) == N && cm_weight->size(1) == K, kOp,
                ": cm_weight shape ", shape_str(cm_weight->sizes()), " does not match weff ",
                shape_str(weff.sizes()));
    cmw = cm_weight->to(at::kBFloat16);
  }
  at::Tensor fsf;
  Readout ro;
  ro.N = N;
  ro.T = T;
  ro.scales = S.data_ptr<float>();
  ro.noisy = noisy;
  ro.adc = adc_rounding;
  ro.single = !pair;
  ro.inv_photons = photons_per_unit > 0 ? static_cast<float>(1.0 / photons_per_unit) : 0.f;
  ro.receiver_var = static_cast<float>(receiver_sigma * receiver_sigma);
  ro.key = stream_key(seed, kStreamRead);
  if (adc_rounding) {
    fsf = full_scale.to(at::kFloat).contiguous();
    const bool fs_ok_shape =
        fsf.numel() == 1 || (fsf.dim() == 2 && fsf.size(0) == N && fsf.size(1) == T);
    TORCH_CHECK(fs_ok_shape, kOp, ": full_scale must be a scalar or [", N, ", ", T,
                "], got shape ", shape_str(fsf.sizes()));
    // Blocks with s == 0 read 0 and never reach the ADC: their full scale is not used.
    at::Tensor used = fsf.numel() == 1 ? fsf : fsf.masked_select(S > 0);
    TORCH_CHECK(at::all(at::isfinite(used) & (used > 0)).item<bool>(), kOp,
                ": full_scale must be finite and > 0");
    ro.full_scale = fsf.data_ptr<float>();
    ro.fs_scalar = fsf.numel() == 1;
    ro.Qa = static_cast<float>((int64_t(1) << (adc_bits - 1)) - 1);
  }
  const int64_t bm = adc_rounding ? bound_management : 0;

  std::vector<float> acc(T > 1 ? N * M : 0);  // running sum over the tiles, [N, M]
  at::Tensor out = at::empty({M, N}, xq.options());
  if (T == 0) {  // no inputs: the product is 0
    out.zero_();
    if (has_bias) out.add_(b32);
  }
  at::Tensor Y = at::empty({N, M}, xq.options());
  float* py = Y.data_ptr<float>();
  const float* ps = S.data_ptr<float>();
  std::vector<float> ok(M), xs(M), gain(M);
  const int64_t J = (N + tile_cols - 1) / tile_cols;  // output tiles
  ro.tile_cols = tile_cols;
  ro.J = J;
  ro.M = M;
  std::vector<int64_t> clips(J * M);  // [J, M]: ADC clips per output tile and row
  for (int64_t t = 0; t < T; ++t) {
    const int64_t k0 = t * tile_rows, kl = std::min(K, k0 + tile_rows) - k0;
    at::Tensor Wt = W.narrow(1, k0, kl);
    at::mm_out(Y, Wt, xT.narrow(0, k0, kl));
    at::Tensor cmt, C;
    if (shot) {
      cmt = cmw.defined() ? cmw.narrow(1, k0, kl) : cm_tile(W, k0, kl, pair);
      C = at::mm(cmt, axT.narrow(0, k0, kl)).contiguous();
    }
    for (int64_t m = 0; m < M; ++m) {
      ok[m] = A[m * T + t] > 0.f ? 1.f : 0.f;
      xs[m] = XS[m * T + t];
      gain[m] = A[m * T + t];
    }
    std::fill(clips.begin(), clips.end(), 0);
    readout_tile(ro, t, 0, py, shot ? C.data_ptr<at::BFloat16>() : nullptr, M, nullptr,
                 ok.data(), xs.data(), clips.data(), 0, N);
    manage_bounds(ro, in, W, cmt, t, k0, kl, bm, gain.data(), py, M, clips.data(), &retries);
    for (int64_t v : clips) out_clips += v;
    accumulate(py, ps, T, t, gain.data(), N, M, acc.data(), out.data_ptr<float>(),
               has_bias ? b32.data_ptr<float>() : nullptr);
  }
  return {out.reshape(out_shape), stats_of()};
}

}  // namespace optical
}  // namespace photonic

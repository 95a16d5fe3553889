// CPU kernels of the photonic quantizer (FP8 E4M3/E5M2, FP4 E2M1; none/tensor/channel/MX/NVFP4/
// DeepSeek block128 scalings). Every scaling is a walk over "segments" (a run of one row that
// shares one scale); each segment calls one templated, inlined element loop chosen once per call,
// so there is no per-element dispatch. Work is split over blocks/rows with at::parallel_for.
#include "quant/quantize.h"

#include "quant/names.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <vector>

namespace photonic {
namespace quant {

namespace {

enum class Op : uint8_t { None, Div, Mul };

// ---- element loops (csrc/quant/kernels.inc, built for two ISAs) ----------------------------------

template <Op OP>
inline float prescale(float v, float a) {
  if constexpr (OP == Op::Div) return v / a;
  if constexpr (OP == Op::Mul) return v * a;
  return v;
}

using FakeFn = void (*)(const float*, float*, int64_t, float, float);
using EncFn = void (*)(const float*, uint8_t*, int64_t, int64_t, float);
using DecFn = void (*)(const uint8_t*, int64_t, float*, int64_t, const float*, float);
using AmaxFn = uint32_t (*)(const float*, int64_t);

namespace base {
#include "quant/kernels.inc"
}  // namespace base

#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
#include "quant/kernels.inc"
}  // namespace avx2
#pragma GCC pop_options

// TORCH_PHOTONIC_QUANT_ISA=baseline forces the baseline loops (used by the tests).
bool use_avx2() {
  static const bool yes = [] {
    const char* env = std::getenv("TORCH_PHOTONIC_QUANT_ISA");
    if (env && std::string(env) == "baseline") return false;
    return bool(__builtin_cpu_supports("avx2"));
  }();
  return yes;
}
FakeFn pick_fake(Format f, bool sat, Op op) {
  return use_avx2() ? avx2::pick_fake(f, sat, op) : base::pick_fake(f, sat, op);
}
EncFn pick_enc(Format f, bool sat, Op op) {
  return use_avx2() ? avx2::pick_enc(f, sat, op) : base::pick_enc(f, sat, op);
}
DecFn pick_dec(bool fp4) { return use_avx2() ? avx2::pick_dec(fp4) : base::pick_dec(fp4); }
uint32_t amax_bits(const float* x, int64_t n) {
  static const AmaxFn fn = use_avx2() ? avx2::pick_amax() : base::pick_amax();
  return fn(x, n);
}

const float* lut_for(Format f) {
  switch (f) {
    case Format::E4M3: return decode_table<Format::E4M3>();
    case Format::E5M2: return decode_table<Format::E5M2>();
    default: return decode_table<Format::E2M1>();
  }
}

uint32_t global_amax_bits(const float* x, int64_t n) {
  return at::parallel_reduce(
      int64_t(0), n, int64_t(1) << 16, uint32_t(0),
      [&](int64_t b, int64_t e, uint32_t init) { return std::max(init, amax_bits(x + b, e - b)); },
      [](uint32_t p, uint32_t q) { return std::max(p, q); });
}

// ---- geometry -------------------------------------------------------------------------------

struct Geo {
  int64_t K = 1;  // last-dim length (1 for a 0-d tensor)
  int64_t R = 1;  // rows = product of the leading dims
  int64_t N = 1;  // rows per matrix (128x128 weight blocks)
  int64_t B = 1;  // matrices
};

Geo geometry(at::IntArrayRef s) {
  Geo g;
  if (s.empty()) return g;
  g.K = s.back();
  g.R = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i) g.R *= s[i];
  if (s.size() >= 2) {
    g.N = s[s.size() - 2];
    g.B = 1;
    for (size_t i = 0; i + 2 < s.size(); ++i) g.B *= s[i];
  } else {
    g.N = g.R;
    g.B = 1;
  }
  return g;
}

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

enum class Layout : uint8_t { Flat, RowBlocks, Tiles };

struct Plan {
  Format f;
  Scaling s;
  Rule rule;
  bool weight;
  bool sat;
  Op op;
  Layout layout;
  int64_t L;  // block length along the last dim (RowBlocks, Tiles)
};

Plan make_plan(Format f, Scaling s, Rule r, bool weight, int64_t dim) {
  TORCH_CHECK_VALUE(s != Scaling::NVFP4 || f == Format::E2M1,
                    "format: scaling='nvfp4' uses E2M1 elements with E4M3 block scales and is only "
                    "defined for format='fp4_e2m1'");
  Plan p{f, s, r, weight, s != Scaling::None, Op::None, Layout::Flat, 0};
  switch (s) {
    case Scaling::None: p.op = Op::None; p.layout = Layout::Flat; break;
    case Scaling::Tensor: p.op = Op::Div; p.layout = Layout::Flat; break;
    case Scaling::Channel: p.op = Op::Div; p.layout = Layout::RowBlocks; p.L = -1; break;
    case Scaling::MX: p.op = Op::Mul; p.layout = Layout::RowBlocks; p.L = 32; break;
    case Scaling::NVFP4: p.op = Op::Mul; p.layout = Layout::RowBlocks; p.L = 16; break;
    case Scaling::Block128:
    case Scaling::Block128UE8M0:
      p.op = s == Scaling::Block128 ? Op::Div : Op::Mul;
      p.L = 128;
      if (weight) {
        TORCH_CHECK_VALUE(dim >= 2, "weight: 128x128 weight blocks need a tensor with at least 2 "
                          "dims, got a ", dim, "-d tensor (use weight=False for 1x128 tiles)");
        p.layout = Layout::Tiles;
      } else {
        p.layout = Layout::RowBlocks;
      }
      break;
  }
  return p;
}

int64_t blocks_per_row(const Plan& p, int64_t K) {
  if (p.L < 0) return 1;  // channel: the whole row
  return K == 0 ? 0 : cdiv(K, p.L);
}

// ---- scales ---------------------------------------------------------------------------------

struct Blk {
  float a;       // prescale operand (divisor for Op::Div, multiplier for Op::Mul)
  float d;       // dequantization multiplier
  uint8_t code;  // stored 8-bit scale (E8M0 or E4M3) where the scaling has one
};

struct Ctx {
  Plan p;
  float maxv;
  int emax;
  float pts = 1.0f, inv_pts = 1.0f;  // NVFP4 per-tensor scale
};

inline Blk block_params(const Ctx& c, uint32_t am_bits) {
  const float amax = u2f(am_bits);
  switch (c.p.s) {
    case Scaling::MX: {
      int e = c.p.rule == Rule::Floor ? floor_log2_bits(amax) - c.emax
                                      : ceil_log2_exact(amax / c.maxv);
      e = clamp_int(e, -127, 127);
      return {exp2i(-e), exp2i(e), uint8_t(e + 127)};
    }
    case Scaling::Block128UE8M0: {
      const float m = std::max(amax, 1e-4f);
      const int e = clamp_int(ceil_log2_exact(m / c.maxv), -127, 127);
      return {exp2i(-e), exp2i(e), uint8_t(e + 127)};
    }
    case Scaling::NVFP4: {
      float sc = (amax / 6.0f) / c.pts;
      sc = std::min(std::max(sc, 0.015625f), 448.0f);
      const uint8_t code = encode<Format::E4M3, true>(sc);
      const float s8 = decode_scalar<Format::E4M3>(code);
      return {c.inv_pts / s8, c.pts * s8, code};
    }
    default: {  // tensor, channel, block128: s = amax / max_elem in fp32; s = 1 if it is 0
      float s = amax / c.maxv;
      if (s == 0.0f) s = 1.0f;
      return {s, s, 0};
    }
  }
}

// Output sink: fake-quantized floats or codes (+ stored scales).
struct Sink {
  const float* x = nullptr;
  int64_t K = 0;
  FakeFn ffn = nullptr;
  float* y = nullptr;
  EncFn efn = nullptr;
  uint8_t* codes = nullptr;
  int64_t crow = 0;             // code bytes per row
  float* fscales = nullptr;     // float32 scales
  uint8_t* bscales = nullptr;   // 8-bit scales (E8M0 / E4M3 bits)

  inline void run(int64_t r, int64_t c0, int64_t n, const Blk& b) const {
    const float* xs = x + r * K + c0;
    if (ffn) {
      ffn(xs, y + r * K + c0, n, b.a, b.d);
    } else {
      efn(xs, codes + r * crow, c0, n, b.a);
    }
  }
  inline void store(int64_t i, const Blk& b) const {
    if (fscales) fscales[i] = b.d;
    if (bscales) bscales[i] = b.code;
  }
};

[[noreturn]] void fail_nonfinite(const Plan& p) {
  TORCH_CHECK_VALUE(false, "x: contains NaN or Inf; scaling='", name_of(kScalings, p.s),
                    "' computes its scales from the absolute maximum, which must be finite "
                    "(only scaling='none' casts non-finite values)");
  abort();
}

constexpr int64_t kChunk = 8192;  // elements per flat segment (even, so fp4 pairs never straddle)

// Walk every segment and quantize it into the sink. Fills the sink's scale buffers.
void run_plan(const Plan& p, const Geo& g, const float* x, const Sink& sink, float* tensor_scale_out) {
  Ctx c{p, max_value(p.f), emax_elem(p.f)};
  const int64_t numel = g.R * g.K;

  if (p.s == Scaling::None && p.f == Format::E2M1) {
    TORCH_CHECK_VALUE(global_amax_bits(x, numel) <= kF32Inf,
                      "x: contains NaN, which fp4_e2m1 cannot represent (the format has no NaN)");
  }
  if (p.s == Scaling::NVFP4) {
    const uint32_t am = global_amax_bits(x, numel);
    if (am >= kF32Inf) fail_nonfinite(p);
    float pts = u2f(am) / 2688.0f;  // amax / (448 * 6)
    float inv = 1.0f / pts;
    if (!(pts > 0.0f) || f2u(inv) >= kF32Inf) {  // all-zero (or ~1e-35-tiny) tensor
      pts = 1.0f;
      inv = 1.0f;
    }
    c.pts = pts;
    c.inv_pts = inv;
  }
  if (tensor_scale_out) *tensor_scale_out = c.pts;

  if (p.layout == Layout::Flat) {
    Blk b{1.0f, 1.0f, 0};
    if (p.s == Scaling::Tensor) {
      const uint32_t am = global_amax_bits(x, numel);
      if (am >= kF32Inf) fail_nonfinite(p);
      b = block_params(c, am);
      sink.store(0, b);
    }
    const int64_t nch = g.K == 0 ? 0 : cdiv(g.K, kChunk);
    const int64_t seg = std::min<int64_t>(g.K, kChunk);
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(seg, 1));
    at::parallel_for(0, g.R * nch, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        const int64_t r = i / nch, j = i % nch;
        const int64_t c0 = j * kChunk;
        sink.run(r, c0, std::min(kChunk, g.K - c0), b);
      }
    });
    return;
  }

  std::atomic<bool> bad{false};
  if (p.layout == Layout::RowBlocks) {
    const int64_t nb = blocks_per_row(p, g.K);
    const int64_t L = p.L < 0 ? g.K : p.L;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(L, 1));
    at::parallel_for(0, g.R * nb, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        const int64_t r = i / nb, j = i % nb;
        const int64_t c0 = j * L;
        const int64_t n = std::min(L, g.K - c0);
        const uint32_t am = amax_bits(x + r * g.K + c0, n);
        if (am >= kF32Inf) {
          bad.store(true, std::memory_order_relaxed);
          continue;
        }
        const Blk b = block_params(c, am);
        sink.store(i, b);
        sink.run(r, c0, n, b);
      }
    });
  } else {  // Tiles: 128x128 blocks over the last two dims
    const int64_t T = 128;
    const int64_t nbr = g.N == 0 ? 0 : cdiv(g.N, T);
    const int64_t nbc = g.K == 0 ? 0 : cdiv(g.K, T);
    at::parallel_for(0, g.B * nbr, 1, [&](int64_t s0, int64_t s1) {
      std::vector<uint32_t> am(nbc);
      std::vector<Blk> blk(nbc);
      for (int64_t st = s0; st < s1; ++st) {
        const int64_t b = st / nbr, i = st % nbr;
        const int64_t r0 = b * g.N + i * T;
        const int64_t nr = std::min(T, g.N - i * T);
        std::fill(am.begin(), am.end(), 0u);
        for (int64_t r = r0; r < r0 + nr; ++r) {
          for (int64_t j = 0; j < nbc; ++j) {
            const int64_t c0 = j * T;
            am[j] = std::max(am[j], amax_bits(x + r * g.K + c0, std::min(T, g.K - c0)));
          }
        }
        bool ok = true;
        for (int64_t j = 0; j < nbc; ++j) {
          if (am[j] >= kF32Inf) {
            ok = false;
            break;
          }
          blk[j] = block_params(c, am[j]);
          sink.store(st * nbc + j, blk[j]);
        }
        if (!ok) {
          bad.store(true, std::memory_order_relaxed);
          continue;
        }
        for (int64_t r = r0; r < r0 + nr; ++r) {
          for (int64_t j = 0; j < nbc; ++j) {
            const int64_t c0 = j * T;
            sink.run(r, c0, std::min(T, g.K - c0), blk[j]);
          }
        }
      }
    });
  }
  if (bad.load()) fail_nonfinite(p);
}

at::Tensor to_f32(const at::Tensor& x, const char* argname) {
  TORCH_CHECK_TYPE(x.is_floating_point(), argname, ": expected a floating-point tensor "
                   "(float32, float16, bfloat16 or float64), got ", x.scalar_type());
  const auto st = x.scalar_type();
  TORCH_CHECK_TYPE(st == at::kFloat || st == at::kHalf || st == at::kBFloat16 || st == at::kDouble,
                   argname, ": expected float32, float16, bfloat16 or float64, got ", st);
  TORCH_CHECK(x.device().is_cpu(), argname, ": the quantizer kernels run on CPU tensors, got ",
              x.device());
  return x.to(at::kFloat).contiguous();
}

}  // namespace

// ---- names ------------------------------------------------------------------------------------

// Names come from the tables of quant/names.h, which _C._quant_names() also lists.
Format parse_format(const std::string& n) {
  if (const auto* e = find_name(kFormats, n)) return e->value;
  TORCH_CHECK_VALUE(false, "format: unknown format '", n, "'; valid formats: ", joined_names(kFormats));
  abort();
}
Scaling parse_scaling(const std::string& n) {
  if (const auto* e = find_name(kScalings, n)) return e->value;
  TORCH_CHECK_VALUE(false, "scaling: unknown scaling '", n, "'; valid scalings: ", joined_names(kScalings));
  abort();
}
Rule parse_rule(const std::string& n) {
  if (const auto* e = find_name(kRules, n)) return e->value;
  TORCH_CHECK_VALUE(false, "scale_rule: unknown scale rule '", n, "'; valid rules: ", joined_names(kRules));
  abort();
}

// ---- shapes -----------------------------------------------------------------------------------

std::vector<c10::SymInt> codes_shape(c10::SymIntArrayRef xs, Format f) {
  std::vector<c10::SymInt> out(xs.begin(), xs.end());
  if (f != Format::E2M1) return out;
  if (out.empty()) return {c10::SymInt(1)};
  out.back() = (out.back() + 1) / 2;
  return out;
}

std::vector<c10::SymInt> scales_shape(c10::SymIntArrayRef xs, Scaling s, bool weight) {
  auto ceil_div = [](const c10::SymInt& a, int64_t b) { return (a + (b - 1)) / b; };
  std::vector<c10::SymInt> lead;
  c10::SymInt K(1);
  if (!xs.empty()) {
    lead.assign(xs.begin(), xs.end() - 1);
    K = xs.back();
  }
  switch (s) {
    case Scaling::None: return {c10::SymInt(0)};
    case Scaling::Tensor: return {};
    case Scaling::Channel: lead.emplace_back(1); return lead;
    case Scaling::MX: lead.push_back(ceil_div(K, 32)); return lead;
    case Scaling::NVFP4: lead.push_back(ceil_div(K, 16)); return lead;
    default:
      if (weight && xs.size() >= 2) {
        std::vector<c10::SymInt> out(xs.begin(), xs.end() - 2);
        out.push_back(ceil_div(xs[xs.size() - 2], 128));
        out.push_back(ceil_div(K, 128));
        return out;
      }
      lead.push_back(ceil_div(K, 128));
      return lead;
  }
}

at::ScalarType scales_dtype(Scaling s) {
  switch (s) {
    case Scaling::MX:
    case Scaling::Block128UE8M0: return at::kFloat8_e8m0fnu;
    case Scaling::NVFP4: return at::kFloat8_e4m3fn;
    default: return at::kFloat;
  }
}

// ---- entry points -----------------------------------------------------------------------------

at::Tensor fake_quantize(const at::Tensor& x, const std::string& format, const std::string& scaling,
                         const std::string& rule, bool weight) {
  const Format f = parse_format(format);
  const Scaling s = parse_scaling(scaling);
  const Rule r = parse_rule(rule);
  const Plan p = make_plan(f, s, r, weight, x.dim());
  const at::Tensor xf = to_f32(x, "x");
  at::Tensor y = at::empty_like(xf, at::MemoryFormat::Contiguous);
  const Geo g = geometry(xf.sizes());
  Sink sink;
  sink.x = xf.const_data_ptr<float>();
  sink.K = g.K;
  sink.ffn = pick_fake(f, p.sat, p.op);
  sink.y = y.mutable_data_ptr<float>();
  run_plan(p, g, sink.x, sink, nullptr);
  return x.scalar_type() == at::kFloat ? y : y.to(x.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_codes(const at::Tensor& x,
                                                              const std::string& format,
                                                              const std::string& scaling,
                                                              const std::string& rule, bool weight) {
  const Format f = parse_format(format);
  const Scaling s = parse_scaling(scaling);
  const Rule r = parse_rule(rule);
  const Plan p = make_plan(f, s, r, weight, x.dim());
  const at::Tensor xf = to_f32(x, "x");
  const Geo g = geometry(xf.sizes());
  auto opts = xf.options();
  at::Tensor codes = at::empty_symint(codes_shape(xf.sym_sizes(), f), opts.dtype(at::kByte));
  at::Tensor scales = at::empty_symint(scales_shape(xf.sym_sizes(), s, weight), opts.dtype(scales_dtype(s)));
  at::Tensor tscale = at::empty({}, opts.dtype(at::kFloat));
  Sink sink;
  sink.x = xf.const_data_ptr<float>();
  sink.K = g.K;
  sink.efn = pick_enc(f, p.sat, p.op);
  sink.codes = static_cast<uint8_t*>(codes.data_ptr());
  sink.crow = f == Format::E2M1 ? (g.K + 1) / 2 : g.K;
  if (s != Scaling::None) {
    if (scales_dtype(s) == at::kFloat) {
      sink.fscales = scales.mutable_data_ptr<float>();
    } else {
      sink.bscales = static_cast<uint8_t*>(scales.data_ptr());
    }
  }
  run_plan(p, g, sink.x, sink, tscale.mutable_data_ptr<float>());
  return {codes, scales, tscale};
}

at::Tensor dequantize_codes(const at::Tensor& codes, const at::Tensor& scales,
                            const at::Tensor& tensor_scale, const std::string& format,
                            const std::string& scaling, at::IntArrayRef shape, bool weight,
                            at::ScalarType dtype) {
  const Format f = parse_format(format);
  const Scaling s = parse_scaling(scaling);
  const Plan p = make_plan(f, s, Rule::Floor, weight, int64_t(shape.size()));
  TORCH_CHECK_TYPE(at::isFloatingType(dtype), "dtype: expected a floating-point dtype, got ", dtype);
  for (auto v : shape) TORCH_CHECK_VALUE(v >= 0, "shape: negative size in ", shape);
  const auto xs = c10::fromIntArrayRefSlow(shape);
  TORCH_CHECK_TYPE(codes.scalar_type() == at::kByte, "codes: expected uint8 codes, got ",
                   codes.scalar_type());
  const auto want_c = codes_shape(xs, f);
  TORCH_CHECK_VALUE(codes.sym_sizes().equals(want_c), "codes: shape ", codes.sizes(),
                    " does not match shape ", shape, " and format '", format, "' (expected ",
                    c10::SymIntArrayRef(want_c), ")");
  const auto want_s = scales_shape(xs, s, weight);
  TORCH_CHECK_TYPE(scales.scalar_type() == scales_dtype(s), "scales: scaling '", scaling,
                   "' stores ", scales_dtype(s), " scales, got ", scales.scalar_type());
  TORCH_CHECK_VALUE(scales.sym_sizes().equals(want_s), "scales: shape ", scales.sizes(),
                    " does not match shape ", shape, " and scaling '", scaling, "' (expected ",
                    c10::SymIntArrayRef(want_s), ")");
  TORCH_CHECK_VALUE(tensor_scale.numel() == 1 && tensor_scale.scalar_type() == at::kFloat,
                    "tensor_scale: expected a float32 tensor with one element");
  TORCH_CHECK(codes.device().is_cpu() && scales.device().is_cpu(),
              "codes: the quantizer kernels run on CPU tensors");

  const at::Tensor cc = codes.contiguous();
  const at::Tensor sc = scales.contiguous();
  const float pts = tensor_scale.to(at::kFloat).cpu().item<float>();
  at::Tensor y = at::empty(shape, codes.options().dtype(at::kFloat));
  const Geo g = geometry(shape);
  const uint8_t* cp = cc.const_data_ptr<uint8_t>();
  float* yp = y.mutable_data_ptr<float>();
  const float* lut = lut_for(f);
  const bool fp4 = f == Format::E2M1;
  const int64_t crow = fp4 ? (g.K + 1) / 2 : g.K;
  const float* fs = scales_dtype(s) == at::kFloat && s != Scaling::None ? sc.const_data_ptr<float>() : nullptr;
  const uint8_t* bs = scales_dtype(s) != at::kFloat ? static_cast<const uint8_t*>(sc.const_data_ptr()) : nullptr;

  auto scale_of = [&](int64_t i) -> float {
    switch (s) {
      case Scaling::None: return 1.0f;
      case Scaling::MX:
      case Scaling::Block128UE8M0: return e8m0_value(bs[i]);
      case Scaling::NVFP4: return pts * decode_scalar<Format::E4M3>(bs[i]);
      default: return fs[i];
    }
  };
  const DecFn dec = pick_dec(fp4);
  auto seg = [&](int64_t r, int64_t c0, int64_t n, float d) {
    dec(cp + r * crow, c0, yp + r * g.K + c0, n, lut, d);
  };

  if (p.layout == Layout::Flat) {
    const float d = s == Scaling::Tensor ? fs[0] : 1.0f;
    const int64_t nch = g.K == 0 ? 0 : cdiv(g.K, kChunk);
    at::parallel_for(0, g.R * nch, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        const int64_t r = i / nch, c0 = (i % nch) * kChunk;
        seg(r, c0, std::min(kChunk, g.K - c0), d);
      }
    });
  } else if (p.layout == Layout::RowBlocks) {
    const int64_t nb = blocks_per_row(p, g.K);
    const int64_t L = p.L < 0 ? g.K : p.L;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(L, 1));
    at::parallel_for(0, g.R * nb, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        const int64_t r = i / nb, c0 = (i % nb) * L;
        seg(r, c0, std::min(L, g.K - c0), scale_of(i));
      }
    });
  } else {
    const int64_t T = 128;
    const int64_t nbr = g.N == 0 ? 0 : cdiv(g.N, T);
    const int64_t nbc = g.K == 0 ? 0 : cdiv(g.K, T);
    at::parallel_for(0, g.B * nbr, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t st = s0; st < s1; ++st) {
        const int64_t b = st / nbr, i = st % nbr;
        const int64_t r0 = b * g.N + i * T, nr = std::min(T, g.N - i * T);
        for (int64_t r = r0; r < r0 + nr; ++r) {
          for (int64_t j = 0; j < nbc; ++j) seg(r, j * T, std::min(T, g.K - j * T), scale_of(st * nbc + j));
        }
      }
    });
  }
  return dtype == at::kFloat ? y : y.to(dtype);
}

}  // namespace quant
}  // namespace photonic

// photonic::draw_cells: the cells one training forward sees (model in kernels.h).
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

std::tuple<at::Tensor, at::Tensor> draw_cells_cpu(const at::Tensor& weight,
                                                   const c10::optional<at::Tensor>& offset,
                                                   const c10::optional<at::Tensor>& sigma,
                                                   c10::string_view weight_format,
                                                   c10::string_view weight_scaling,
                                                   c10::string_view scale_rule, int64_t levels,
                                                   int64_t cells_per_weight, bool quantize_levels,
                                                   int64_t tile_rows, int64_t seed) {
  TORCH_CHECK(weight.dim() == 2, "photonic::draw_cells: weight must be 2-D [out, in], got shape ",
              shape_str(weight.sizes()));
  TORCH_CHECK(weight.is_floating_point(), "photonic::draw_cells: weight must be floating point");
  TORCH_CHECK(levels >= 2 && levels <= 256,
              "photonic::draw_cells: levels must be in [2, 256], got ", levels);
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2,
              "photonic::draw_cells: cells_per_weight must be 1 or 2, got ", cells_per_weight);
  TORCH_CHECK(tile_rows >= 1, "photonic::draw_cells: tile_rows must be >= 1");
  TORCH_CHECK(offset.has_value() == sigma.has_value(),
              "photonic::draw_cells: offset and sigma come together (both or neither)");
  const int64_t steps = quantize_levels ? levels - 1 : kUnquantisedBins;
  at::Tensor off_t, sig_t;
  if (offset.has_value()) {
    off_t = offset->to(at::kFloat).contiguous();
    sig_t = sigma->to(at::kFloat).contiguous();
    TORCH_CHECK(off_t.dim() == 1 && off_t.numel() == steps + 1 && sig_t.dim() == 1 &&
                    sig_t.numel() == steps + 1,
                "photonic::draw_cells: offset and sigma must be 1-D with ", steps + 1,
                " entries (one per level), got ", shape_str(off_t.sizes()), " and ",
                shape_str(sig_t.sizes()));
  }
  const bool noisy = offset.has_value();
  at::Tensor w = weight.detach().to(at::kFloat).contiguous();
  w = fake_quant(w, std::string(weight_format), std::string(weight_scaling),
                 std::string(scale_rule), /*weight=*/true).contiguous();
  const int64_t N = w.size(0), K = w.size(1), T = n_tiles(K, tile_rows);
  at::Tensor scales = at::zeros({N, T}, w.options());
  at::Tensor out = at::empty({N, K}, w.options());
  const float* pw = w.data_ptr<float>();
  float* ps = scales.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const float* poff = noisy ? off_t.data_ptr<float>() : nullptr;
  const float* psig = noisy ? sig_t.data_ptr<float>() : nullptr;
  const float S = static_cast<float>(steps);
  const bool pair = cells_per_weight == 2;
  const uint64_t key = stream_key(seed, kStreamTrain);
  at::parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    std::vector<float> zbuf(static_cast<size_t>(std::min(K, tile_rows)));
    for (int64_t n = b; n < e; ++n) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t k0 = t * tile_rows, k1 = std::min(K, k0 + tile_rows);
        float mx = 0.f;
        for (int64_t k = k0; k < k1; ++k) mx = std::max(mx, std::fabs(pw[n * K + k]));
        TORCH_CHECK(std::isfinite(mx), "photonic::draw_cells: weight has non-finite values (row ",
                    n, ")");
        ps[n * T + t] = mx;
        const int64_t kl = k1 - k0;
        const float* wr = pw + n * K + k0;
        float* orow = po + n * K + k0;
        if (mx == 0.f) {
          std::fill(orow, orow + kl, 0.f);
          continue;
        }
        float* z = zbuf.data();
        if (noisy) fill_normals(key, n * K + k0, kl, z);
        for (int64_t j = 0; j < kl; ++j) {
          const float wn = wr[j] / mx;
          const float g = pair ? std::fabs(wn) : 0.5f * (wn + 1.f);
          float target;
          int64_t idx;
          if (quantize_levels) {
            const float r = round_magic(g * S);
            idx = static_cast<int64_t>(r);
            const float gq = r / S;
            target = pair ? std::copysign(gq, wn) : 2.f * gq - 1.f;
          } else {
            idx = std::min<int64_t>(static_cast<int64_t>(std::floor(g * S)), steps - 1);
            target = wn;
          }
          if (noisy) {
            const float sgn = pair ? (wn > 0.f ? 1.f : (wn < 0.f ? -1.f : 0.f)) : 1.f;
            const float zz = (pair && wn == 0.f) ? 0.f : z[j];
            target = target + poff[idx] * sgn + psig[idx] * zz;
            target = std::min(1.f, std::max(-1.f, target));
          }
          orow[j] = target * mx;
        }
      }
    }
  });
  return {out, scales};
}

}  // namespace optical
}  // namespace photonic

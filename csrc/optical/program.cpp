// photonic::program: weights -> PCM conductances (model in kernels.h).
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

std::tuple<at::Tensor, at::Tensor> program_cpu(const at::Tensor& weight,
                                                c10::string_view weight_format,
                                                c10::string_view weight_scaling,
                                                c10::string_view scale_rule, int64_t levels,
                                                int64_t cells_per_weight, bool quantize_levels,
                                                c10::ArrayRef<double> program_noise_coeffs,
                                                int64_t tile_rows, int64_t seed,
                                                int64_t first_row) {
  TORCH_CHECK(weight.dim() == 2, "photonic::program: weight must be 2-D [out, in], got shape ",
              shape_str(weight.sizes()));
  TORCH_CHECK(weight.is_floating_point(), "photonic::program: weight must be floating point");
  TORCH_CHECK(levels >= 2 && levels <= 256, "photonic::program: levels must be in [2, 256], got ",
              levels);
  TORCH_CHECK(cells_per_weight == 1 || cells_per_weight == 2,
              "photonic::program: cells_per_weight must be 1 or 2, got ", cells_per_weight);
  check_list(program_noise_coeffs, 3, "photonic::program", "program_noise_coeffs");
  TORCH_CHECK(tile_rows >= 1, "photonic::program: tile_rows must be >= 1");
  TORCH_CHECK(first_row >= 0, "photonic::program: first_row must be >= 0, got ", first_row);
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
  // sigma(g) = c0 + c1 g + c2 g^2 at the target conductance, floored at 0.
  const float c0 = static_cast<float>(program_noise_coeffs[0]);
  const float c1 = static_cast<float>(program_noise_coeffs[1]);
  const float c2 = static_cast<float>(program_noise_coeffs[2]);
  const bool noisy = c0 != 0.f || c1 != 0.f || c2 != 0.f;
  const bool exact = !quantize_levels && !noisy;
  const uint64_t key = stream_key(seed, kStreamProgram);
  at::parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)),
                   [&](int64_t b, int64_t e) {
    std::vector<float> zbuf(static_cast<size_t>(std::min(K, tile_rows)));
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
        const int64_t kl = k1 - k0;
        const float* wr = pw + n * K + k0;
        float* orow = po + n * K + k0;
        float* z = zbuf.data();
        if (noisy) fill_normals(key, (first_row + n) * K + k0, kl, z);
        else std::fill(z, z + kl, 0.f);
        // branch-free element loops (vectorisable)
        if (cells_per_weight == 2) {
          for (int64_t j = 0; j < kl; ++j) {
            const float wn = wr[j] * inv;
            float g = std::fabs(wn);
            if (quantize_levels) g = round_magic(g * Lm1) / Lm1;
            const float sg = std::max(0.f, c0 + g * (c1 + g * c2));
            const float gn = std::min(1.f, std::max(0.f, g + sg * z[j]));
            g = g > 0.f ? gn : 0.f;  // a reset cell (weight 0) gets no programming noise
            orow[j] = (wn < 0.f ? -g : g) * mx;
          }
        } else {
          for (int64_t j = 0; j < kl; ++j) {
            float g = 0.5f * (wr[j] * inv + 1.f);
            if (quantize_levels) g = round_magic(g * Lm1) / Lm1;
            const float sg = std::max(0.f, c0 + g * (c1 + g * c2));
            g = std::min(1.f, std::max(0.f, g + sg * z[j]));
            orow[j] = (2.f * g - 1.f) * mx;
          }
        }
      }
    }
  });
  return {out, scales};
}

}  // namespace optical
}  // namespace photonic

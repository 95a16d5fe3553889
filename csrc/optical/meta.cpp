// Meta kernels of the optical ops: output shapes and dtypes only, for tracing and torch.compile.
#include "optical/kernels.h"

#include "optical/common.h"

#include <vector>

namespace photonic {
namespace optical {

std::tuple<at::Tensor, at::Tensor> program_meta(const at::Tensor& weight, c10::string_view,
                                                 c10::string_view, c10::string_view, int64_t,
                                                 int64_t, bool, c10::ArrayRef<double>,
                                                 int64_t tile_rows, int64_t, int64_t) {
  TORCH_CHECK(weight.dim() == 2, "photonic::program: weight must be 2-D [out, in], got shape ",
              shape_str(weight.sizes()));
  TORCH_CHECK(tile_rows >= 1, "photonic::program: tile_rows must be >= 1");
  const int64_t N = weight.size(0), K = weight.size(1);
  auto opt = weight.options().dtype(at::kFloat);
  return {at::empty({N, K}, opt), at::empty({N, n_tiles(K, tile_rows)}, opt)};
}

at::Tensor drift_meta(const at::Tensor& weff, const at::Tensor&, int64_t, int64_t,
                      c10::ArrayRef<double>, c10::ArrayRef<double>, c10::ArrayRef<double>,
                      c10::ArrayRef<double>, double, c10::ArrayRef<double>, double,
                      c10::string_view, int64_t) {
  return at::empty_like(weff);
}

std::tuple<at::Tensor, at::Tensor> mvm_meta(
    const at::Tensor& x, const at::Tensor& weff, const at::Tensor&, const at::Tensor&,
    const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&, c10::string_view,
    c10::string_view, c10::string_view, int64_t, bool, bool, int64_t, bool, double, double,
    int64_t, int64_t, int64_t, int64_t, int64_t, const c10::optional<at::Tensor>&) {
  TORCH_CHECK(x.dim() >= 1 && x.sym_size(-1) == weff.sym_size(1), "photonic::mvm: input shape ",
              x.sym_sizes(), " does not match programmed weight shape ", weff.sym_sizes());
  std::vector<c10::SymInt> shape(x.sym_sizes().begin(), x.sym_sizes().end());
  shape.back() = weff.sym_size(0);
  return {at::empty_symint(shape, x.options().dtype(at::kFloat)),
          at::empty({5}, x.options().dtype(at::kLong))};
}

}  // namespace optical
}  // namespace photonic

// Ops where the photonic device follows the accelerator convention (CUDA's) rather than the
// CPU's, because model code branches on `device.type == "cpu"` and takes the accelerator path.
#include "runtime/device.h"

#include <torch/library.h>

namespace photonic {
namespace {

// HF transformers' MoE (integrations/moe.py) counts tokens per expert with histc on integer
// expert ids on any non-CPU device; CPU's histc only takes floating input, CUDA's also integers.
at::Tensor histc(const at::Tensor& self, int64_t bins, const c10::Scalar& min, const c10::Scalar& max) {
  at::Tensor host = host_alias(self);
  if (at::isIntegralType(self.scalar_type(), /*includeBool=*/false)) {
    return adopt_host_result(at::histc(host.to(at::kFloat), bins, min, max).to(self.scalar_type()));
  }
  return adopt_host_result(at::histc(host, bins, min, max));
}

}  // namespace
}  // namespace photonic

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) { m.impl("histc", &photonic::histc); }

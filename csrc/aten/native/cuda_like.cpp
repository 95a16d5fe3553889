#include "aten/native/cuda_like.h"

#include "runtime/device.h"

namespace photonic {
namespace native {

// HF transformers' MoE (integrations/moe.py) counts tokens per expert with histc on integer
// expert ids on any non-CPU device; CPU's histc only takes floating input, CUDA's also integers.
at::Tensor histc(const at::Tensor& self, int64_t bins, const c10::Scalar& min, const c10::Scalar& max) {
  at::Tensor host = host_alias(self);
  if (at::isIntegralType(self.scalar_type(), /*includeBool=*/false)) {
    return adopt_host_result(at::histc(host.to(at::kFloat), bins, min, max).to(self.scalar_type()));
  }
  return adopt_host_result(at::histc(host, bins, min, max));
}

}  // namespace native
}  // namespace photonic

// Kernels where the photonic device follows the accelerator convention (CUDA's) rather than the
// CPU's, because model code branches on `device.type == "cpu"` and takes the accelerator path.
// Bodies in cuda_like.cpp, registered in aten/register_cuda_like.cpp.
#pragma once

#include <ATen/ATen.h>

namespace photonic {
namespace native {

// histc that also takes integer input, as CUDA's does.
at::Tensor histc(const at::Tensor& self, int64_t bins, const c10::Scalar& min, const c10::Scalar& max);

}  // namespace native
}  // namespace photonic

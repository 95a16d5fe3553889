// The digital epilogue of the matrix products: the electronics' work on the optical product
// a @ b before the result is handed back (alpha/beta of addmm and baddbmm, the bias of
// _grouped_mm). It runs on the host alias of the result and, like the host fallback, is counted
// as host work (host_ops.h) under "photonic::epilogue.<op>" (e.g. photonic::epilogue.addmm):
// one call per epilogue that does work, bytes read and written, elements written per pass.
// The name is not an aten op name on purpose: meters tell it apart from ops that fell back.
#pragma once

#include <ATen/ATen.h>

namespace photonic {

// r = alpha * r + beta * self, in place on r's host alias (beta == 0 ignores self, NaNs
// included, as on CPU; alpha == 1 and beta == 0 do no work and record nothing).
void scale_add_epilogue(const char* op, const at::Tensor& r, const at::Tensor& self, const c10::Scalar& beta,
                        const c10::Scalar& alpha);

// r += bias, in place on r's host alias.
void bias_epilogue(const char* op, const at::Tensor& r, const at::Tensor& bias);

}  // namespace photonic

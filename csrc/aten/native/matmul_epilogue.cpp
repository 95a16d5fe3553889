#include "aten/native/matmul_epilogue.h"

#include "aten/native/host_ops.h"
#include "runtime/device.h"

#include <string>

namespace photonic {
namespace {

int64_t tensor_bytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel() * t.element_size()) : 0;
}

std::string epilogue_label(const char* op) { return std::string("photonic::epilogue.") + op; }

}  // namespace

void scale_add_epilogue(const char* op, const at::Tensor& r, const at::Tensor& self, const c10::Scalar& beta,
                        const c10::Scalar& alpha) {
  at::Tensor hr = host_alias(r);
  const bool alpha_one = alpha.isFloatingPoint() ? alpha.toDouble() == 1.0 : alpha.toLong() == 1;
  if (!alpha_one) hr.mul_(alpha);
  const bool beta_zero = beta.isFloatingPoint() ? beta.toDouble() == 0.0 : beta.toLong() == 0;
  if (!beta_zero) hr.add_(host_alias(self), beta);
  if ((alpha_one && beta_zero) || !host_op_counting()) return;
  // One pass over r per operation: the scaling reads and writes r; the addition reads r and
  // self, and writes r.
  const int64_t r_bytes = tensor_bytes(r);
  int64_t bytes_in = 0, bytes_out = 0, elements = 0;
  if (!alpha_one) {
    bytes_in += r_bytes;
    bytes_out += r_bytes;
    elements += r.numel();
  }
  if (!beta_zero) {
    bytes_in += r_bytes + tensor_bytes(self);
    bytes_out += r_bytes;
    elements += r.numel();
  }
  record_host_op(epilogue_label(op), bytes_in, bytes_out, elements);
}

void bias_epilogue(const char* op, const at::Tensor& r, const at::Tensor& bias) {
  host_alias(r).add_(host_alias(bias));
  if (!host_op_counting()) return;
  const int64_t r_bytes = tensor_bytes(r);
  record_host_op(epilogue_label(op), r_bytes + tensor_bytes(bias), r_bytes, r.numel());
}

}  // namespace photonic

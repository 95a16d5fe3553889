#include "aten/native/matmul.h"

#include "aten/native/matmul_entry.h"
#include "aten/native/matmul_epilogue.h"
#include "runtime/device.h"

namespace photonic {
namespace native {
namespace {

void check_operands(const char* op, std::initializer_list<const at::Tensor*> ts) {
  const at::Tensor* host = nullptr;
  const at::Tensor* dev = nullptr;
  for (const at::Tensor* t : ts) {
    if (!t->defined()) continue;
    if (is_photonic(*t)) dev = t;
    else host = t;
    TORCH_CHECK(at::isFloatingType(t->scalar_type()) && !at::isComplexType(t->scalar_type()),
                     "photonic ", op, ": the optical matrix product takes real floating-point operands, got ",
                     t->scalar_type(), " (compute integer or complex products on the cpu)");
  }
  if (host != nullptr && dev != nullptr) throw_device_mismatch(std::string("aten::") + op, dev->device(), host->device());
}

// The product of `op` through the entry point, then the digital epilogue when `self` is given:
// r = alpha * (a @ b) + beta * self (matmul_epilogue.h).
at::Tensor product(MatmulOp op, const char* name, const at::Tensor* self, const at::Tensor& a,
                   const at::Tensor& b, const c10::Scalar& beta, const c10::Scalar& alpha,
                   const at::Tensor* out = nullptr) {
  check_operands(name, {self ? self : &a, &a, &b, out ? out : &a});
  at::Tensor r = matmul_entry(op, a, b, std::nullopt);
  if (self != nullptr) scale_add_epilogue(name, r, *self, beta, alpha);
  return r;
}

at::Tensor& write_out(at::Tensor& out, const at::Tensor& r) {
  if (out.sizes() != r.sizes()) out.resize_(r.sizes());
  out.copy_(r);
  return out;
}

const c10::Scalar kOne(1);

}  // namespace

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  return product(MatmulOp::mm, "mm", nullptr, a, b, kOne, kOne);
}
at::Tensor& mm_out(const at::Tensor& a, const at::Tensor& b, at::Tensor& out) {
  return write_out(out, product(MatmulOp::mm, "mm", nullptr, a, b, kOne, kOne, &out));
}
at::Tensor addmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                 const c10::Scalar& alpha) {
  return product(MatmulOp::mm, "addmm", &self, a, b, beta, alpha);
}
at::Tensor& addmm_out(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                      const c10::Scalar& alpha, at::Tensor& out) {
  return write_out(out, product(MatmulOp::mm, "addmm", &self, a, b, beta, alpha, &out));
}
at::Tensor& addmm_(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                   const c10::Scalar& alpha) {
  return write_out(self, product(MatmulOp::mm, "addmm", &self, a, b, beta, alpha));
}
at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
  return product(MatmulOp::bmm, "bmm", nullptr, a, b, kOne, kOne);
}
at::Tensor& bmm_out(const at::Tensor& a, const at::Tensor& b, at::Tensor& out) {
  return write_out(out, product(MatmulOp::bmm, "bmm", nullptr, a, b, kOne, kOne, &out));
}
at::Tensor baddbmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                   const c10::Scalar& alpha) {
  return product(MatmulOp::bmm, "baddbmm", &self, a, b, beta, alpha);
}
at::Tensor& baddbmm_out(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                        const c10::Scalar& alpha, at::Tensor& out) {
  return write_out(out, product(MatmulOp::bmm, "baddbmm", &self, a, b, beta, alpha, &out));
}
at::Tensor& baddbmm_(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                     const c10::Scalar& alpha) {
  return write_out(self, product(MatmulOp::bmm, "baddbmm", &self, a, b, beta, alpha));
}
at::Tensor grouped_mm(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& offs,
                      const std::optional<at::Tensor>& bias, std::optional<c10::ScalarType> out_dtype) {
  check_operands("_grouped_mm", {&a, &b});
  at::Tensor r = matmul_entry(MatmulOp::grouped_mm, a, b, offs);
  if (bias.has_value() && bias->defined()) bias_epilogue("_grouped_mm", r, *bias);
  if (out_dtype.has_value() && *out_dtype != r.scalar_type()) r = r.to(*out_dtype);
  return r;
}

}  // namespace native
}  // namespace photonic

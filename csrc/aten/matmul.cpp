#include "aten/matmul_entry.h"

#include "runtime/device.h"

#include <torch/library.h>

#include <memory>
#include <mutex>

namespace photonic {
namespace {

std::mutex g_handler_mutex;
std::shared_ptr<MatmulHandler> g_handler;

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
// r = alpha * (a @ b) + beta * self, on the host alias of r (beta == 0 ignores self, NaNs
// included, as on CPU).
at::Tensor product(MatmulOp op, const char* name, const at::Tensor* self, const at::Tensor& a,
                   const at::Tensor& b, const c10::Scalar& beta, const c10::Scalar& alpha,
                   const at::Tensor* out = nullptr) {
  check_operands(name, {self ? self : &a, &a, &b, out ? out : &a});
  at::Tensor r = matmul_entry(op, a, b, std::nullopt);
  if (self != nullptr) {
    at::Tensor hr = host_alias(r);
    const bool alpha_one = alpha.isFloatingPoint() ? alpha.toDouble() == 1.0 : alpha.toLong() == 1;
    if (!alpha_one) hr.mul_(alpha);
    const bool beta_zero = beta.isFloatingPoint() ? beta.toDouble() == 0.0 : beta.toLong() == 0;
    if (!beta_zero) hr.add_(host_alias(*self), beta);
  }
  return r;
}

at::Tensor& write_out(at::Tensor& out, const at::Tensor& r) {
  if (out.sizes() != r.sizes()) out.resize_(r.sizes());
  out.copy_(r);
  return out;
}

const c10::Scalar kOne(1);

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
  if (bias.has_value() && bias->defined()) host_alias(r).add_(host_alias(*bias));
  if (out_dtype.has_value() && *out_dtype != r.scalar_type()) r = r.to(*out_dtype);
  return r;
}

}  // namespace

const char* matmul_op_name(MatmulOp op) {
  switch (op) {
    case MatmulOp::mm: return "mm";
    case MatmulOp::bmm: return "bmm";
    case MatmulOp::grouped_mm: return "grouped_mm";
  }
  return "?";
}

at::Tensor matmul_entry(MatmulOp op, const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& offs) {
  std::shared_ptr<MatmulHandler> handler;
  {
    std::lock_guard<std::mutex> lock(g_handler_mutex);
    handler = g_handler;
  }
  const at::Tensor ha = host_alias(a);
  const at::Tensor hb = host_alias(b);
  std::optional<at::Tensor> hoffs = offs.has_value() ? std::optional<at::Tensor>(host_alias(*offs)) : std::nullopt;
  at::Tensor r;
  if (handler) {
    r = (*handler)(matmul_op_name(op), a, b, offs);
    TORCH_CHECK(r.defined(), "photonic: the matmul handler returned no tensor");
  } else {
    switch (op) {  // exact mode: the float product on the host
      case MatmulOp::mm: r = at::mm(ha, hb); break;
      case MatmulOp::bmm: r = at::bmm(ha, hb); break;
      case MatmulOp::grouped_mm: r = at::_grouped_mm(ha, hb, hoffs); break;
    }
  }
  return adopt_host_result(std::move(r));
}

void set_matmul_handler(MatmulHandler handler) {
  std::lock_guard<std::mutex> lock(g_handler_mutex);
  g_handler = handler ? std::make_shared<MatmulHandler>(std::move(handler)) : nullptr;
}

bool has_matmul_handler() {
  std::lock_guard<std::mutex> lock(g_handler_mutex);
  return g_handler != nullptr;
}

}  // namespace photonic

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("mm", &photonic::mm);
  m.impl("mm.out", &photonic::mm_out);
  m.impl("addmm", &photonic::addmm);
  m.impl("addmm.out", &photonic::addmm_out);
  m.impl("addmm_", &photonic::addmm_);
  m.impl("bmm", &photonic::bmm);
  m.impl("bmm.out", &photonic::bmm_out);
  m.impl("baddbmm", &photonic::baddbmm);
  m.impl("baddbmm.out", &photonic::baddbmm_out);
  m.impl("baddbmm_", &photonic::baddbmm_);
  m.impl("_grouped_mm", &photonic::grouped_mm);
}

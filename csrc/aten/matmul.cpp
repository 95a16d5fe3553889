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

at::Tensor entry_mm(const at::Tensor& a, const at::Tensor& b) { return matmul_entry(MatmulOp::mm, a, b, std::nullopt); }

// Digital epilogue on the host alias of the product: r = alpha * r + beta * self.
void epilogue(at::Tensor& r, const at::Tensor& self, const c10::Scalar& beta, const c10::Scalar& alpha) {
  at::Tensor hr = host_alias(r);
  if (!(alpha.isIntegral(false) && alpha.toLong() == 1) && !(alpha.isFloatingPoint() && alpha.toDouble() == 1.0)) {
    hr.mul_(alpha);
  }
  const bool beta_zero = beta.isFloatingPoint() ? beta.toDouble() == 0.0 : beta.toLong() == 0;
  if (!beta_zero) hr.add_(host_alias(self), beta);  // beta == 0 ignores self, NaNs included, as on CPU
}

void write_out(at::Tensor& out, const at::Tensor& r) {
  if (out.sizes() != r.sizes()) out.resize_(r.sizes());
  out.copy_(r);
}

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  check_operands("mm", {&a, &b});
  return entry_mm(a, b);
}
at::Tensor& mm_out(const at::Tensor& a, const at::Tensor& b, at::Tensor& out) {
  check_operands("mm", {&a, &b, &out});
  write_out(out, entry_mm(a, b));
  return out;
}
at::Tensor addmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                 const c10::Scalar& alpha) {
  check_operands("addmm", {&self, &a, &b});
  at::Tensor r = entry_mm(a, b);
  epilogue(r, self, beta, alpha);
  return r;
}
at::Tensor& addmm_out(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                      const c10::Scalar& alpha, at::Tensor& out) {
  check_operands("addmm", {&self, &a, &b, &out});
  at::Tensor r = entry_mm(a, b);
  epilogue(r, self, beta, alpha);
  write_out(out, r);
  return out;
}
at::Tensor& addmm_(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                   const c10::Scalar& alpha) {
  return addmm_out(self.clone(), a, b, beta, alpha, self);
}
at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
  check_operands("bmm", {&a, &b});
  return matmul_entry(MatmulOp::bmm, a, b, std::nullopt);
}
at::Tensor& bmm_out(const at::Tensor& a, const at::Tensor& b, at::Tensor& out) {
  check_operands("bmm", {&a, &b, &out});
  write_out(out, matmul_entry(MatmulOp::bmm, a, b, std::nullopt));
  return out;
}
at::Tensor baddbmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                   const c10::Scalar& alpha) {
  check_operands("baddbmm", {&self, &a, &b});
  at::Tensor r = matmul_entry(MatmulOp::bmm, a, b, std::nullopt);
  epilogue(r, self, beta, alpha);
  return r;
}
at::Tensor& baddbmm_out(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                        const c10::Scalar& alpha, at::Tensor& out) {
  check_operands("baddbmm", {&self, &a, &b, &out});
  at::Tensor r = matmul_entry(MatmulOp::bmm, a, b, std::nullopt);
  epilogue(r, self, beta, alpha);
  write_out(out, r);
  return out;
}
at::Tensor& baddbmm_(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const c10::Scalar& beta,
                     const c10::Scalar& alpha) {
  return baddbmm_out(self.clone(), a, b, beta, alpha, self);
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

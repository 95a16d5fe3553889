// The body of the matmul entry point and the handler it hands non-exact products to.
#include "aten/native/matmul_entry.h"

#include "runtime/device.h"

#include <memory>
#include <mutex>

namespace photonic {
namespace {

std::mutex g_handler_mutex;
std::shared_ptr<MatmulHandler> g_handler;

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

#include "aten/native/touched_bytes.h"

#include <string>

namespace photonic {
namespace {

// Gather ops (every overload, .out included) and the argument they gather from.
//  * F.embedding and nn.Embedding reach the device as aten::index_select (aten::embedding is
//    composite and decomposes before dispatch); it is listed so that a kernel registered for it
//    directly would be charged the same way.
//  * table[idx] reaches it as aten::index.Tensor_out: the functional aten::index allocates its
//    output on the device and calls the .out overload.
//  * aten::index accepts CPU index tensors; the fallback counts their bytes too, since the host
//    reads them.
struct GatherOp {
  const char* op;
  const char* source;
};
constexpr GatherOp kGatherOps[] = {
    {"aten::index_select", "self"},
    {"aten::index", "self"},
    {"aten::gather", "self"},
    {"aten::take", "self"},
    {"aten::embedding", "weight"},
};

}  // namespace

int gathered_source_argument(const c10::FunctionSchema& schema) {
  for (const GatherOp& g : kGatherOps) {
    if (schema.name() != g.op) continue;
    const auto index = schema.argumentIndexWithName(g.source);
    return index ? *index : -1;
  }
  return -1;
}

bool may_return_only_views(const c10::FunctionSchema& schema) {
  if (schema.returns().empty()) return false;
  for (const c10::Argument& r : schema.returns()) {
    if (r.alias_info() == nullptr || r.alias_info()->isWrite()) return false;
  }
  for (const c10::Argument& a : schema.arguments()) {
    if (a.alias_info() != nullptr && a.alias_info()->isWrite()) return false;
  }
  return true;
}

}  // namespace photonic

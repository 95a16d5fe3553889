// The body of the host fallback (registered in aten/register_fallback.cpp) and its policy.
#include "aten/native/fallback.h"

#include "aten/native/host_ops.h"
#include "aten/native/touched_bytes.h"
#include "runtime/device.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

namespace photonic {
namespace {

std::atomic<int> g_policy{0};  // 0 allow, 1 warn, 2 error
std::mutex g_warned_mutex;
std::set<std::string> g_warned;

// One photonic argument lent to the CPU kernel as a host alias.
struct Lent {
  at::Tensor device;
  at::Tensor alias;
  const void* data_before;
  bool written;
};

int64_t tensor_bytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel() * t.element_size()) : 0;
}

bool allows_host_operands(const c10::OperatorName& name) {
  // Like CUDA, indexing accepts host index tensors.
  return name.name == "aten::index" || name.name == "aten::index_put_" ||
         name.name == "aten::_index_put_impl_" || name.name == "aten::index_put";
}

std::string op_label(const c10::OperatorName& name) {
  return name.overload_name.empty() ? name.name : name.name + "." + name.overload_name;
}

}  // namespace

void host_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const auto& schema = op.schema();
  const auto& args = schema.arguments();
  const size_t num_args = args.size();
  const size_t first = stack->size() - num_args;

  const int policy = g_policy.load(std::memory_order_relaxed);
  if (policy != 0) {
    const std::string label = op_label(schema.operator_name());
    TORCH_CHECK(policy != 2, "photonic: ", label,
                " has no photonic kernel and the electronic fallback is disabled "
                "(torch.photonic.set_fallback_policy('error'))");
    std::lock_guard<std::mutex> lock(g_warned_mutex);
    if (g_warned.insert(label).second) TORCH_WARN("photonic: ", label, " runs on the electronic host (CPU fallback)");
  }

  std::vector<Lent> lent;
  bool host_operand = false;    // a cpu tensor (not a 0-d scalar) among the arguments
  bool device_operand = false;
  at::Generator device_gen;  // a photonic generator lent to a CPU generator
  at::Generator host_gen;

  // Bytes read (touched_bytes.h): photonic arguments, and the cpu index tensors of the ops that
  // take them (host memory the host reads), in full; `out=` arguments not at all (only
  // written); the source of a gather op one element per output element, once the output is
  // known (gathered_item_size).
  const bool host_operands_allowed = allows_host_operands(schema.operator_name());
  const int gathered_source = gathered_source_argument(schema);
  int64_t bytes_in = 0;
  int64_t gathered_item_size = 0;
  auto count_read = [&](const at::Tensor& t, size_t arg) {
    if (args[arg].is_out()) return;
    if (static_cast<int>(arg) == gathered_source) gathered_item_size = t.element_size();
    else bytes_in += tensor_bytes(t);
  };

  auto lend = [&](const at::Tensor& t, size_t arg, bool written) -> at::Tensor {
    if (!t.defined()) return t;
    if (!is_photonic(t)) {
      if (t.device().is_cpu() && t.dim() > 0) {
        host_operand = true;
        if (host_operands_allowed) count_read(t, arg);
      }
      return t;
    }
    device_operand = true;
    count_read(t, arg);
    at::Tensor alias = host_alias(t);
    lent.push_back(Lent{t, alias, alias.storage().data(), written});
    return alias;
  };

  for (size_t i = 0; i < num_args; ++i) {
    c10::IValue& iv = (*stack)[first + i];
    const auto* info = args[i].alias_info();
    const bool written = info != nullptr && info->isWrite();
    if (iv.isTensor()) {
      iv = lend(iv.toTensor(), i, written);
    } else if (iv.isTensorList()) {
      auto list = iv.toTensorList();
      for (size_t j = 0; j < list.size(); ++j) list.set(j, lend(list.get(j), i, written));
      iv = std::move(list);
    } else if (iv.isList() && iv.toListRef().size() > 0 && args[i].type()->kind() == c10::TypeKind::ListType) {
      auto generic = iv.toList();
      bool optional_tensors = false;
      for (size_t j = 0; j < generic.size(); ++j) {
        c10::IValue e = generic.get(j);
        if (e.isTensor()) {
          generic.set(j, lend(e.toTensor(), i, written));
          optional_tensors = true;
        }
      }
      if (optional_tensors) iv = std::move(generic);
    } else if (iv.isDevice() && iv.toDevice().type() == kDeviceType) {
      check_device_index(iv.toDevice().index());
      iv = c10::IValue(c10::Device(c10::kCPU));
    } else if (args[i].name() == "generator" && (iv.isNone() || (iv.isGenerator() &&
               iv.toGenerator().device().type() == kDeviceType))) {
      // Random ops draw from the photonic generator: lend its state to a CPU generator.
      device_gen = iv.isNone() ? default_generator() : iv.toGenerator();
      host_gen = at::make_generator<at::CPUGeneratorImpl>();
      {
        std::lock_guard<std::mutex> lock(device_gen.mutex());
        host_gen.set_state(device_gen.get_state());
      }
      iv = c10::IValue(host_gen);
    }
  }
  if (host_operand && device_operand && !host_operands_allowed) {
    throw_device_mismatch(op_label(schema.operator_name()), device0(), c10::Device(c10::kCPU));
  }

  op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), stack);

  if (host_gen.defined()) {
    std::lock_guard<std::mutex> lock(device_gen.mutex());
    device_gen.set_state(host_gen.get_state());
  }

  int64_t bytes_out = 0;
  for (const Lent& l : lent) {
    if (!l.written) continue;
    sync_mutated_alias(l.device, l.alias, l.data_before);
    bytes_out += tensor_bytes(l.device);
  }

  // Results: an argument returned in place comes back as itself, a view of an argument as a
  // photonic view of the same storage, anything fresh is adopted.
  bool fresh_result = false;  // a result that is no view of an argument
  auto to_device = [&](at::Tensor r) -> at::Tensor {
    if (!r.defined() || is_photonic(r)) return r;
    if (r.layout() != c10::kStrided) {
      fresh_result = true;
      return adopt_host_result(std::move(r));  // raises: dense device
    }
    for (const Lent& l : lent) {
      if (r.unsafeGetTensorImpl() == l.alias.unsafeGetTensorImpl()) return l.device;
    }
    for (const Lent& l : lent) {
      if (r.storage().is_alias_of(l.alias.storage())) {
        auto v = at::detail::make_tensor<c10::TensorImpl>(c10::TensorImpl::VIEW, c10::Storage(l.device.storage()),
                                                           c10::DispatchKeySet(kDispatchKey), r.dtype());
        v.unsafeGetTensorImpl()->set_sizes_and_strides(r.sizes(), r.strides(), r.storage_offset());
        if (r.is_conj()) v._set_conj(true);
        if (r.is_neg()) v._set_neg(true);
        return v;
      }
    }
    fresh_result = true;
    bytes_out += tensor_bytes(r);
    return adopt_host_result(std::move(r));
  };

  const size_t num_returns = schema.returns().size();
  const size_t ret_first = stack->size() - num_returns;
  for (size_t i = 0; i < num_returns; ++i) {
    c10::IValue& iv = (*stack)[ret_first + i];
    if (iv.isTensor()) {
      at::Tensor r = std::move(iv).toTensor();
      iv = to_device(std::move(r));
    } else if (iv.isTensorList()) {
      auto list = iv.toTensorList();
      for (size_t j = 0; j < list.size(); ++j) list.set(j, to_device(list.get(j)));
      iv = std::move(list);
    }
  }

  if (host_op_counting()) {
    int64_t elements_out = 0;
    for (size_t i = 0; i < num_returns; ++i) {
      const c10::IValue& iv = (*stack)[ret_first + i];
      if (iv.isTensor()) elements_out += iv.toTensor().numel();
    }
    bytes_in += elements_out * gathered_item_size;
    if (!fresh_result && may_return_only_views(schema)) {
      // Views of the arguments, nothing written: no byte moved, no element computed.
      bytes_in = bytes_out = elements_out = 0;
    }
    record_host_op(op_label(schema.operator_name()), bytes_in, bytes_out, elements_out);
  }
}

void set_fallback_policy(const std::string& policy) {
  if (policy == "allow") g_policy = 0;
  else if (policy == "warn") g_policy = 1;
  else if (policy == "error") g_policy = 2;
  else TORCH_CHECK_VALUE(false, "fallback policy must be 'allow', 'warn' or 'error', got '", policy, "'");
  std::lock_guard<std::mutex> lock(g_warned_mutex);
  g_warned.clear();
}

std::string fallback_policy() {
  switch (g_policy.load()) {
    case 1: return "warn";
    case 2: return "error";
    default: return "allow";
  }
}

}  // namespace photonic

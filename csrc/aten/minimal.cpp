// The minimal aten contract of a PrivateUse1 device (PyTorch 2.13): factories, copies, views
// with CPU-only kernels, storage (re)assignment, and the pieces the research note found missing
// in practice (../shared/research/privateuse1.md sections 1-2).
#include "aten/fallback.h"
#include "runtime/device.h"

#include <ATen/EmptyTensor.h>
#include <ATen/native/Resize.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/resize_native.h>
#include <ATen/ops/set_native.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_as_complex_native.h>
#include <ATen/ops/view_as_real_native.h>
#include <ATen/ops/view_native.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <c10/core/CPUAllocator.h>
#include <torch/library.h>

namespace photonic {
namespace {

void check_factory_device(std::optional<c10::Device> device) {
  if (device.has_value()) check_device_index(device->index());
}

at::Tensor empty_memory_format(c10::IntArrayRef size, std::optional<c10::ScalarType> dtype,
                               std::optional<c10::Layout> layout, std::optional<c10::Device> device,
                               std::optional<bool> pin_memory,
                               std::optional<c10::MemoryFormat> memory_format) {
  check_factory_device(device);
  TORCH_CHECK(!layout.has_value() || *layout == c10::kStrided,
              "photonic tensors are dense (layout=torch.strided); got layout ", *layout);
  return at::detail::empty_generic(size, allocator(), c10::DispatchKeySet(kDispatchKey),
                                   c10::dtype_or_default(dtype), memory_format);
}

at::Tensor empty_strided(c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<c10::ScalarType> dtype,
                         std::optional<c10::Layout> layout, std::optional<c10::Device> device,
                         std::optional<bool> pin_memory) {
  check_factory_device(device);
  return at::detail::empty_strided_generic(size, stride, allocator(), c10::DispatchKeySet(kDispatchKey),
                                           c10::dtype_or_default(dtype));
}

at::Tensor as_strided(const at::Tensor& self, c10::IntArrayRef size, c10::IntArrayRef stride,
                      std::optional<int64_t> storage_offset) {
  return at::native::as_strided_tensorimpl(self, size, stride, storage_offset);
}

const at::Tensor& resize_(const at::Tensor& self, c10::IntArrayRef size,
                          std::optional<c10::MemoryFormat> memory_format) {
  return at::native::resize_(self, size, memory_format);
}

at::Tensor& set_storage(at::Tensor& self, c10::Storage source, int64_t offset, c10::IntArrayRef size,
                        c10::IntArrayRef stride) {
  return at::native::set_storage_cpu_(self, std::move(source), offset, size, stride);
}

at::Tensor& set_source_storage(at::Tensor& self, c10::Storage source) {
  const int64_t numel = static_cast<int64_t>(source.nbytes() / self.dtype().itemsize());
  return set_storage(self, std::move(source), 0, {numel}, {});
}

at::Tensor& set_empty(at::Tensor& self) {
  c10::Storage storage(c10::Storage::use_byte_size_t(), 0, allocator(), /*resizable=*/true);
  return set_storage(self, std::move(storage), 0, {0}, {});
}

// Copies between cpu and photonic, and within photonic: a CPU copy between host aliases. The
// conj/neg bits ride on the aliases, so the CPU copy resolves them (pitfall 2 of the note).
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking) {
  const bool ok = (self.device().is_cpu() || is_photonic(self)) && (dst.device().is_cpu() || is_photonic(dst));
  TORCH_CHECK(ok, "photonic: cannot copy from ", self.device(), " to ", dst.device(),
              " (copies go through the host: call .cpu() first)");
  at::Tensor dst_alias = host_alias(dst);
  const void* before = dst_alias.storage().data();
  dst_alias.copy_(host_alias(self), non_blocking);
  if (is_photonic(dst)) sync_mutated_alias(dst, dst_alias, before);
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  if (dst.sizes() != self.sizes()) {
    if (is_photonic(dst)) at::native::resize_(dst, self.sizes(), std::nullopt);
    else dst.resize_(self.sizes());
  }
  return copy_from(self, dst, false);
}

bool has_compatible_shallow_copy_type(const at::Tensor& self, const at::Tensor& from) {
  // Dense host-memory tensors of cpu and photonic can swap .data without new Parameters
  // (pitfall 1: otherwise Module.to() unties tied weights and breaks lazy modules).
  auto dense = [](const at::Tensor& t) {
    return t.layout() == c10::kStrided && (t.device().is_cpu() || is_photonic(t));
  };
  return dense(self) && dense(from);
}

at::Tensor convolution(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                       c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                       bool transposed, c10::IntArrayRef output_padding, int64_t groups) {
  std::optional<at::Tensor> hb = bias.has_value() ? std::optional<at::Tensor>(host_alias(*bias)) : std::nullopt;
  return adopt_host_result(at::convolution(host_alias(input), host_alias(weight), hb, stride, padding, dilation,
                                           transposed, output_padding, groups));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> convolution_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight, c10::IntArrayRef stride,
    c10::IntArrayRef padding, c10::IntArrayRef dilation, bool transposed, c10::IntArrayRef output_padding,
    int64_t groups, std::array<bool, 3> output_mask) {
  std::vector<int64_t> bias_sizes{grad_output.size(1)};
  auto r = at::convolution_backward(host_alias(grad_output), host_alias(input), host_alias(weight),
                                    at::OptionalIntArrayRef(bias_sizes), stride, padding, dilation, transposed,
                                    output_padding, groups, output_mask);
  return {adopt_host_result(std::move(std::get<0>(r))), adopt_host_result(std::move(std::get<1>(r))),
          adopt_host_result(std::move(std::get<2>(r)))};
}

}  // namespace
}  // namespace photonic

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", &photonic::empty_memory_format);
  m.impl("empty_strided", &photonic::empty_strided);
  m.impl("as_strided", &photonic::as_strided);
  m.impl("view", &at::native::view);
  m.impl("_reshape_alias", &at::native::_reshape_alias);
  m.impl("unfold", &at::native::unfold);
  m.impl("view_as_real", &at::native::view_as_real);
  m.impl("view_as_complex", &at::native::view_as_complex);
  m.impl("resize_", &photonic::resize_);
  m.impl("set_.source_Storage", &photonic::set_source_storage);
  m.impl("set_.source_Storage_storage_offset", &photonic::set_storage);
  m.impl("set_", &photonic::set_empty);
  m.impl("_copy_from", &photonic::copy_from);
  m.impl("_copy_from_and_resize", &photonic::copy_from_and_resize);
  m.impl("_has_compatible_shallow_copy_type", &photonic::has_compatible_shallow_copy_type);
  m.impl("convolution_overrideable", &photonic::convolution);
  m.impl("convolution_backward_overrideable", &photonic::convolution_backward);
}

// Resolving a conj/neg bit copies through _copy_from; without these fallthroughs the Conjugate
// fallback re-enters itself until the stack overflows (pitfall 2).
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}
TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

// Kernel bodies of the minimal aten contract of a PrivateUse1 device (registered in
// aten/register_minimal.cpp): factories, storage (re)assignment, copies between cpu and photonic,
// the shallow-copy rule, convolution (the *_overrideable forms a PrivateUse1 device is sent to)
// and the fused RNN cells, which only have CUDA kernels upstream.
#include "aten/native/minimal.h"

#include "runtime/device.h"

#include <ATen/EmptyTensor.h>
#include <ATen/native/Resize.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/resize_native.h>
#include <ATen/ops/set_native.h>
#include <c10/core/CPUAllocator.h>

namespace photonic {
namespace native {
namespace {

void check_factory_device(std::optional<c10::Device> device) {
  if (device.has_value()) check_device_index(device->index());
}

}  // namespace

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
// conj/neg bits ride on the aliases, so the CPU copy resolves them.
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
  // (otherwise Module.to() unties tied weights and breaks lazy modules).
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

// Fused RNN cells: torch routes LSTM/GRU cells of non-CPU devices through
// _thnn_fused_{lstm,gru}_cell, which have CUDA kernels only, so the host fallback cannot run
// them. These are the CUDA kernels' formulas on host aliases, with the same workspace layouts
// (LSTM: activated gates [i, f, g, o]; GRU: [r, z, n, hn, hx]) so autograd's formulas apply.
namespace {
at::Tensor gates_sum(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& ba,
                     const std::optional<at::Tensor>& bb) {
  at::Tensor g = host_alias(a) + host_alias(b);
  if (ba.has_value() && ba->defined()) g.add_(host_alias(*ba));
  if (bb.has_value() && bb->defined()) g.add_(host_alias(*bb));
  return g;
}
}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_lstm_cell(
    const at::Tensor& input_gates, const at::Tensor& hidden_gates, const at::Tensor& cx,
    const std::optional<at::Tensor>& input_bias, const std::optional<at::Tensor>& hidden_bias) {
  auto chunks = gates_sum(input_gates, hidden_gates, input_bias, hidden_bias).chunk(4, 1);
  at::Tensor i = chunks[0].sigmoid(), f = chunks[1].sigmoid(), g = chunks[2].tanh(), o = chunks[3].sigmoid();
  at::Tensor cy = f * host_alias(cx) + i * g;
  at::Tensor hy = o * cy.tanh();
  at::Tensor workspace = at::cat({i, f, g, o}, 1);
  return {adopt_host_result(std::move(hy)), adopt_host_result(std::move(cy)),
          adopt_host_result(std::move(workspace))};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_lstm_cell_backward(
    const std::optional<at::Tensor>& grad_hy, const std::optional<at::Tensor>& grad_cy, const at::Tensor& cx,
    const at::Tensor& cy, const at::Tensor& workspace, bool has_bias) {
  auto ws = host_alias(workspace).chunk(4, 1);
  const at::Tensor &i = ws[0], &f = ws[1], &g = ws[2], &o = ws[3];
  at::Tensor tanh_cy = host_alias(cy).tanh();
  const bool has_ghy = grad_hy.has_value() && grad_hy->defined();
  const bool has_gcy = grad_cy.has_value() && grad_cy->defined();
  at::Tensor ghy = has_ghy ? host_alias(*grad_hy) : at::zeros_like(tanh_cy);
  at::Tensor gcx = ghy * o * (1 - tanh_cy * tanh_cy);
  if (has_gcy) gcx.add_(host_alias(*grad_cy));
  at::Tensor gi = gcx * g * i * (1 - i);
  at::Tensor gf = gcx * host_alias(cx) * f * (1 - f);
  at::Tensor gg = gcx * i * (1 - g * g);
  at::Tensor go = ghy * tanh_cy * o * (1 - o);
  at::Tensor grad_gates = at::cat({gi, gf, gg, go}, 1);
  at::Tensor grad_cx = gcx * f;
  at::Tensor grad_bias = has_bias ? grad_gates.sum(0) : at::Tensor();
  return {adopt_host_result(std::move(grad_gates)), adopt_host_result(std::move(grad_cx)),
          adopt_host_result(std::move(grad_bias))};
}

std::tuple<at::Tensor, at::Tensor> fused_gru_cell(const at::Tensor& input_gates, const at::Tensor& hidden_gates,
                                                  const at::Tensor& hx, const std::optional<at::Tensor>& input_bias,
                                                  const std::optional<at::Tensor>& hidden_bias) {
  at::Tensor ig = host_alias(input_gates), hg = host_alias(hidden_gates), h = host_alias(hx);
  if (input_bias.has_value() && input_bias->defined()) ig = ig + host_alias(*input_bias);
  if (hidden_bias.has_value() && hidden_bias->defined()) hg = hg + host_alias(*hidden_bias);
  auto ic = ig.chunk(3, 1);
  auto hc = hg.chunk(3, 1);
  at::Tensor r = (ic[0] + hc[0]).sigmoid();
  at::Tensor z = (ic[1] + hc[1]).sigmoid();
  at::Tensor n = (ic[2] + r * hc[2]).tanh();
  at::Tensor hy = n + z * (h - n);
  at::Tensor workspace = at::cat({r, z, n, hc[2], h}, 1);
  return {adopt_host_result(std::move(hy)), adopt_host_result(std::move(workspace))};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> fused_gru_cell_backward(
    const at::Tensor& grad_hy, const at::Tensor& workspace, bool has_bias) {
  auto ws = host_alias(workspace).chunk(5, 1);
  const at::Tensor &r = ws[0], &z = ws[1], &n = ws[2], &hn = ws[3], &hx = ws[4];
  at::Tensor go = host_alias(grad_hy);
  at::Tensor gz = go * (hx - n) * (1 - z) * z;
  at::Tensor ghx = go * z;
  at::Tensor gin = go * (1 - z) * (1 - n * n);
  at::Tensor ghn = gin * r;
  at::Tensor gr = gin * hn * (1 - r) * r;
  at::Tensor grad_input_gates = at::cat({gr, gz, gin}, 1);
  at::Tensor grad_hidden_gates = at::cat({gr, gz, ghn}, 1);
  at::Tensor grad_input_bias = has_bias ? grad_input_gates.sum(0) : at::Tensor();
  at::Tensor grad_hidden_bias = has_bias ? grad_hidden_gates.sum(0) : at::Tensor();
  return {adopt_host_result(std::move(grad_input_gates)), adopt_host_result(std::move(grad_hidden_gates)),
          adopt_host_result(std::move(ghx)), adopt_host_result(std::move(grad_input_bias)),
          adopt_host_result(std::move(grad_hidden_bias))};
}

}  // namespace native
}  // namespace photonic

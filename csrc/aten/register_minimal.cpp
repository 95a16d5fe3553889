// Registrations of the minimal aten contract of a PrivateUse1 device (PyTorch 2.13): factories,
// copies, views with CPU-only kernels (registered straight from at::native), storage
// (re)assignment, and the ops a device needs in practice beyond the documented minimum
// (convolution, fused RNN cells). Bodies in aten/native/minimal.cpp.
#include "aten/native/minimal.h"

#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_as_complex_native.h>
#include <ATen/ops/view_as_real_native.h>
#include <ATen/ops/view_native.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <torch/library.h>

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", &photonic::native::empty_memory_format);
  m.impl("empty_strided", &photonic::native::empty_strided);
  m.impl("as_strided", &photonic::native::as_strided);
  m.impl("view", &at::native::view);
  m.impl("_reshape_alias", &at::native::_reshape_alias);
  m.impl("unfold", &at::native::unfold);
  m.impl("view_as_real", &at::native::view_as_real);
  m.impl("view_as_complex", &at::native::view_as_complex);
  m.impl("resize_", &photonic::native::resize_);
  m.impl("set_.source_Storage", &photonic::native::set_source_storage);
  m.impl("set_.source_Storage_storage_offset", &photonic::native::set_storage);
  m.impl("set_", &photonic::native::set_empty);
  m.impl("_copy_from", &photonic::native::copy_from);
  m.impl("_copy_from_and_resize", &photonic::native::copy_from_and_resize);
  m.impl("_has_compatible_shallow_copy_type", &photonic::native::has_compatible_shallow_copy_type);
  m.impl("convolution_overrideable", &photonic::native::convolution);
  m.impl("convolution_backward_overrideable", &photonic::native::convolution_backward);
  m.impl("_thnn_fused_lstm_cell", &photonic::native::fused_lstm_cell);
  m.impl("_thnn_fused_lstm_cell_backward_impl", &photonic::native::fused_lstm_cell_backward);
  m.impl("_thnn_fused_gru_cell", &photonic::native::fused_gru_cell);
  m.impl("_thnn_fused_gru_cell_backward", &photonic::native::fused_gru_cell_backward);
}

// Resolving a conj/neg bit copies through _copy_from; without these fallthroughs the Conjugate
// fallback re-enters itself until the stack overflows.
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}
TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

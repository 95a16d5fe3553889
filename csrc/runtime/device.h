// The photonic device runtime: one device (index 0) whose memory is host memory.
// Shared by the allocator, the aten registrations, the fallback and the kernels. The PyTorch
// side of the runtime registers itself from its own files: guard.cpp (device guard), hooks.cpp
// (PrivateUse1 hooks), allocator.cpp (REGISTER_ALLOCATOR).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Allocator.h>

#include <cstdint>

namespace photonic {

constexpr c10::DeviceType kDeviceType = c10::DeviceType::PrivateUse1;
constexpr c10::DispatchKey kDispatchKey = c10::DispatchKey::PrivateUse1;

inline c10::Device device0() { return c10::Device(kDeviceType, 0); }
inline bool is_photonic(const at::Tensor& t) { return t.defined() && t.device().type() == kDeviceType; }

// Throws a clear error for any index but 0 (there is one emulated device). (device.cpp)
void check_device_index(c10::DeviceIndex index);

// ---- memory (allocator.cpp) ----
c10::Allocator* allocator();
int64_t memory_allocated();
int64_t max_memory_allocated();
void reset_peak_memory_stats();
void set_memory_limit(int64_t bytes);  // <= 0: unlimited
int64_t memory_limit();
// Takes ownership of a host DataPtr (keeping its deleter) as device memory of `nbytes`.
c10::DataPtr wrap_host_data_ptr(c10::DataPtr&& host, size_t nbytes);

// ---- host aliases (host_alias.cpp) ----
// A CPU tensor that views the same bytes as photonic tensor `t` (no copy). It keeps t's
// storage alive, carries its conj/neg bits, and may be resized by CPU kernels (then
// sync_mutated_alias moves the new buffer back to the device).
at::Tensor host_alias(const at::Tensor& t);
// A photonic tensor for the CPU result `r`: adopts r's buffer when r is its only owner,
// copies otherwise.
at::Tensor adopt_host_result(at::Tensor&& r);
// After a CPU kernel wrote through `alias` of `dev`, carry a reallocation or a metadata
// change (resize_, out= resizing) back to `dev`.
void sync_mutated_alias(const at::Tensor& dev, const at::Tensor& alias, const void* data_before);
// Error in the style of PyTorch's cuda/cpu mismatch when tensors of `op` are on both devices.
[[noreturn]] void throw_device_mismatch(const std::string& op, c10::Device a, c10::Device b);

// ---- random numbers (generator.cpp) ----
// The device's default generator, and fresh ones (torch.Generator("photonic")).
at::Generator& default_generator();
at::Generator new_generator();

}  // namespace photonic

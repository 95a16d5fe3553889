// Host aliases: the photonic device's memory is host memory, so CPU kernels can work on it in
// place. This is what makes the fallback and the matmul entry cost (almost) nothing extra.
#include "runtime/device.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/StorageImpl.h>
#include <c10/core/TensorImpl.h>

namespace photonic {
namespace {

void drop_storage_ref(void* ctx) { delete static_cast<c10::Storage*>(ctx); }

at::Tensor make_tensor_on(c10::Storage storage, c10::DispatchKey key, const at::Tensor& like_meta) {
  auto t = at::detail::make_tensor<c10::TensorImpl>(std::move(storage), c10::DispatchKeySet(key),
                                                     like_meta.dtype());
  t.unsafeGetTensorImpl()->set_sizes_and_strides(like_meta.sizes(), like_meta.strides(),
                                                 like_meta.storage_offset());
  if (like_meta.is_conj()) t._set_conj(true);
  if (like_meta.is_neg()) t._set_neg(true);
  return t;
}

}  // namespace

at::Tensor host_alias(const at::Tensor& t) {
  if (!is_photonic(t)) return t;
  const c10::Storage& s = t.storage();
  void* data = const_cast<void*>(s.data());
  c10::DataPtr dp(data, new c10::Storage(s), &drop_storage_ref, c10::Device(c10::kCPU));
  auto impl = c10::make_intrusive<c10::StorageImpl>(c10::StorageImpl::use_byte_size_t(), s.nbytes(),
                                                    std::move(dp), c10::GetDefaultCPUAllocator(),
                                                    /*resizable=*/true);
  return make_tensor_on(c10::Storage(std::move(impl)), c10::DispatchKey::CPU, t);
}

at::Tensor adopt_host_result(at::Tensor&& r) {
  if (!r.defined() || is_photonic(r)) return std::move(r);
  TORCH_INTERNAL_ASSERT(r.device().is_cpu(), "photonic: expected a host result, got ", r.device());
  TORCH_CHECK(r.layout() == c10::kStrided, "photonic tensors are dense (layout=torch.strided): an op returned a ",
              r.layout(), " tensor, which the photonic device does not support (keep sparse work on the cpu)");
  c10::StorageImpl* si = r.storage().unsafeGetStorageImpl();
  const bool sole_owner = r.use_count() == 1 && r.storage().use_count() == 1 && c10::raw::weak_intrusive_ptr::use_count(si) == 1 &&
                          !r.is_sparse() && si->data_ptr().device().is_cpu();
  if (sole_owner) {
    const size_t nbytes = si->nbytes();
    c10::DataPtr host = si->set_data_ptr(c10::DataPtr(nullptr, c10::Device(c10::kCPU)));
    auto impl = c10::make_intrusive<c10::StorageImpl>(c10::StorageImpl::use_byte_size_t(), nbytes,
                                                      wrap_host_data_ptr(std::move(host), nbytes),
                                                      allocator(), /*resizable=*/true);
    return make_tensor_on(c10::Storage(std::move(impl)), kDispatchKey, r);
  }
  // Someone else still holds the host buffer: copy it to fresh device memory.
  at::Tensor out = at::detail::empty_strided_generic(r.sizes(), r.strides(), allocator(),
                                                     c10::DispatchKeySet(kDispatchKey), r.scalar_type());
  host_alias(out).copy_(r);
  if (r.is_conj()) out._set_conj(true);
  if (r.is_neg()) out._set_neg(true);
  return out;
}

void sync_mutated_alias(const at::Tensor& dev, const at::Tensor& alias, const void* data_before) {
  c10::StorageImpl* asi = alias.storage().unsafeGetStorageImpl();
  c10::StorageImpl* dsi = dev.storage().unsafeGetStorageImpl();
  if (asi->data() != data_before) {
    // The CPU kernel reallocated the buffer (resize of an out= argument): move it to the device
    // storage, so every view sharing that storage sees it, as on CPU.
    const size_t nbytes = asi->nbytes();
    c10::DataPtr host = asi->set_data_ptr(c10::DataPtr(nullptr, c10::Device(c10::kCPU)));
    dsi->set_data_ptr_noswap(wrap_host_data_ptr(std::move(host), nbytes));
    dsi->set_nbytes(nbytes);
  }
  auto* impl = dev.unsafeGetTensorImpl();
  if (dev.sizes() != alias.sizes() || dev.strides() != alias.strides() ||
      dev.storage_offset() != alias.storage_offset()) {
    impl->set_sizes_and_strides(alias.sizes(), alias.strides(), alias.storage_offset());
  }
}

void throw_device_mismatch(const std::string& op, c10::Device a, c10::Device b) {
  TORCH_CHECK(false, "Expected all tensors to be on the same device, but found at least two devices, ",
              a, " and ", b, "! (when checking arguments for ", op,
              "; move them with .to('photonic') or .cpu())");
}

}  // namespace photonic

// The PrivateUse1 hooks of the photonic device: availability, the current device, generators
// (generator.cpp), pinned memory and storage resizing.
#include "runtime/device.h"

#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/CPUAllocator.h>

namespace photonic {
namespace {

struct Hooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return true; }
  bool hasPrimaryContext(c10::DeviceIndex index) const override { return index <= 0; }
  c10::DeviceIndex deviceCount() const override { return 1; }
  void setCurrentDevice(c10::DeviceIndex d) const override { check_device_index(d); }
  c10::DeviceIndex getCurrentDevice() const override { return 0; }
  c10::DeviceIndex exchangeDevice(c10::DeviceIndex d) const override {
    check_device_index(d);
    return 0;
  }
  c10::DeviceIndex maybeExchangeDevice(c10::DeviceIndex d) const override { return 0; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex index) const override {
    check_device_index(index);
    return default_generator();
  }
  at::Generator getNewGenerator(c10::DeviceIndex index) const override {
    check_device_index(index);
    return new_generator();
  }
  c10::Device getDeviceFromPtr(void*) const override { return device0(); }
  bool isPinnedPtr(const void*) const override { return false; }
  c10::Allocator* getPinnedMemoryAllocator() const override { return c10::GetDefaultCPUAllocator(); }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const override {
    c10::StorageImpl* si = storage.unsafeGetStorageImpl();
    TORCH_CHECK(si->resizable(), "photonic: trying to resize storage that is not resizable");
    c10::DataPtr fresh = allocator()->allocate(newsize);
    const size_t keep = std::min(newsize, si->nbytes());
    if (keep > 0) std::memcpy(fresh.get(), si->data(), keep);
    si->set_data_ptr_noswap(std::move(fresh));
    si->set_nbytes(newsize);
  }
};

struct RegisterHooks {
  RegisterHooks() { at::RegisterPrivateUse1HooksInterface(new Hooks()); }
};
RegisterHooks g_register_hooks;

}  // namespace
}  // namespace photonic

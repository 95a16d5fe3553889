// PrivateUse1 hooks and the default random generator of the photonic device.
#include "runtime/device.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/CPUAllocator.h>

namespace photonic {
namespace {

// The CPU generator (mt19937 + Philox offsets) relabelled as a photonic device generator.
// CPU kernels only accept CPU generators, so the fallback lends its state to a CPU generator
// for the duration of a random op (see fallback.cpp).
struct DeviceGenerator final : at::CPUGeneratorImpl {
  explicit DeviceGenerator(uint64_t seed = c10::default_rng_seed_val) : at::CPUGeneratorImpl(seed) {
    device_ = device0();
    key_set_ = c10::DispatchKeySet(kDispatchKey);
  }
};

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
    return at::make_generator<DeviceGenerator>();
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

at::Generator& default_generator() {
  static at::Generator gen = [] {
    auto g = at::make_generator<DeviceGenerator>();
    g.set_current_seed(c10::default_rng_seed_val);
    return g;
  }();
  return gen;
}

}  // namespace photonic

// The random generators of the photonic device.
#include "runtime/device.h"

#include <ATen/CPUGeneratorImpl.h>

namespace photonic {
namespace {

// The CPU generator (mt19937 + Philox offsets) relabelled as a photonic device generator.
// CPU kernels only accept CPU generators, so the fallback lends its state to a CPU generator
// for the duration of a random op (see aten/native/fallback.cpp).
struct DeviceGenerator final : at::CPUGeneratorImpl {
  explicit DeviceGenerator(uint64_t seed = c10::default_rng_seed_val) : at::CPUGeneratorImpl(seed) {
    device_ = device0();
    key_set_ = c10::DispatchKeySet(kDispatchKey);
  }
};

}  // namespace

at::Generator& default_generator() {
  static at::Generator gen = [] {
    auto g = at::make_generator<DeviceGenerator>();
    g.set_current_seed(c10::default_rng_seed_val);
    return g;
  }();
  return gen;
}

at::Generator new_generator() { return at::make_generator<DeviceGenerator>(); }

}  // namespace photonic

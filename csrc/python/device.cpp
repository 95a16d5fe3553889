// Python bindings of the device runtime: memory statistics, the default generator and host
// aliases (torch_photonic.device).
#include "python/bindings.h"
#include "runtime/device.h"

#include <mutex>

PHOTONIC_BIND(device) {
  m.def("_memory_allocated", &photonic::memory_allocated);
  m.def("_max_memory_allocated", &photonic::max_memory_allocated);
  m.def("_reset_peak_memory_stats", &photonic::reset_peak_memory_stats);
  m.def("_set_memory_limit", &photonic::set_memory_limit);
  m.def("_memory_limit", &photonic::memory_limit);

  m.def("_manual_seed", [](uint64_t seed) {
    auto& gen = photonic::default_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  });
  m.def("_seed", []() {
    auto& gen = photonic::default_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.seed();
  });
  m.def("_initial_seed", []() { return photonic::default_generator().current_seed(); });
  m.def("_get_rng_state", []() {
    auto& gen = photonic::default_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
  });
  m.def("_set_rng_state", [](const at::Tensor& state) {
    auto& gen = photonic::default_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.cpu());
  });

  m.def("_host_alias", &photonic::host_alias, "A cpu tensor viewing the same memory as a photonic tensor");
}

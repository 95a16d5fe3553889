// Python bindings of the device runtime: memory statistics, RNG, fallback counters and the
// matmul handler hook.
#include "aten/fallback.h"
#include "aten/matmul_entry.h"
#include "bindings.h"
#include "runtime/device.h"

#include <ATen/CPUGeneratorImpl.h>

namespace py = pybind11;

namespace {

void set_handler(py::object fn) {
  if (fn.is_none()) {
    photonic::set_matmul_handler(nullptr);
    return;
  }
  // The Python callable must be released with the GIL held.
  auto holder = std::shared_ptr<py::object>(new py::object(std::move(fn)), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  photonic::set_matmul_handler([holder](const std::string& op, const at::Tensor& a, const at::Tensor& b,
                                        const std::optional<at::Tensor>& offs) -> at::Tensor {
    py::gil_scoped_acquire gil;
    py::object r = (*holder)(op, a, b, offs.has_value() ? py::cast(*offs) : py::none());
    return r.cast<at::Tensor>();
  });
}

}  // namespace

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

  m.def("_set_matmul_handler", &set_handler, py::arg("handler"));
  m.def("_has_matmul_handler", &photonic::has_matmul_handler);
  m.def("_host_alias", &photonic::host_alias, "A cpu tensor viewing the same memory as a photonic tensor");

  m.def("_set_host_op_counting", &photonic::set_host_op_counting);
  m.def("_host_op_counting", &photonic::host_op_counting);
  m.def("_take_host_op_stats", [](bool reset) {
    py::dict out;
    for (const auto& [name, s] : photonic::take_host_op_stats(reset)) {
      py::dict d;
      d["calls"] = s.calls;
      d["bytes_in"] = s.bytes_in;
      d["bytes_out"] = s.bytes_out;
      d["elements_out"] = s.elements_out;
      out[py::str(name)] = d;
    }
    return out;
  }, py::arg("reset") = true);
  m.def("_set_fallback_policy", &photonic::set_fallback_policy);
  m.def("_fallback_policy", &photonic::fallback_policy);
}

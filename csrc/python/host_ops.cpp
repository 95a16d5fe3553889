// Python bindings of the electronic host: the per-op host counters (fallback and matmul
// epilogue) and the fallback policy.
#include "aten/native/fallback.h"
#include "aten/native/host_ops.h"
#include "python/bindings.h"

namespace py = pybind11;

PHOTONIC_BIND(host_ops) {
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

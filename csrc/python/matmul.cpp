// Python bindings of the matmul entry point: installing the handler that runs non-exact
// products (torch_photonic.device.matmul).
#include "aten/native/matmul_entry.h"
#include "python/bindings.h"

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

PHOTONIC_BIND(matmul) {
  m.def("_set_matmul_handler", &set_handler, py::arg("handler"));
  m.def("_has_matmul_handler", &photonic::has_matmul_handler);
}

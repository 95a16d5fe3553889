// The extension's single Python module. Each binding file in csrc/python/ adds its functions
// with PHOTONIC_BIND, so adding a file never means editing this one.
#include "python/bindings.h"

namespace photonic {
std::vector<Binder>& binders() {
  static std::vector<Binder> all;
  return all;
}
}  // namespace photonic

PYBIND11_MODULE(_C, m) {
  m.doc() = "torch_photonic C++ extension: the photonic device, quantization and optical kernels";
  for (auto& bind : photonic::binders()) bind(m);
}

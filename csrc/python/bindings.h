// Python bindings are contributed by the files of csrc/python/ (one per area) through a static
// registrar, so that adding a file never means editing module.cpp.
#pragma once
#include <torch/extension.h>

#include <functional>
#include <vector>

namespace photonic {

using Binder = std::function<void(pybind11::module&)>;

std::vector<Binder>& binders();

struct BindRegistrar {
  explicit BindRegistrar(Binder b) { binders().push_back(std::move(b)); }
};

}  // namespace photonic

// Usage, at namespace scope in a .cpp file:
//   PHOTONIC_BIND(quant) { m.def("name", &fn); }
#define PHOTONIC_BIND(part)                                                   \
  static void photonic_bind_##part(pybind11::module& m);                     \
  static ::photonic::BindRegistrar photonic_bind_registrar_##part(           \
      &photonic_bind_##part);                                                 \
  static void photonic_bind_##part(pybind11::module& m)

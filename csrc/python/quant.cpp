// Python bindings of the quantizer's name tables (quant/names.h): _C._quant_names() lists the
// formats, scalings and scale rules that the C++ parsers accept, in table order.
#include "python/bindings.h"
#include "quant/names.h"

namespace py = pybind11;

PHOTONIC_BIND(quant) {
  m.def("_quant_names", []() {
    using namespace photonic::quant;
    py::dict out;
    out["formats"] = names_of(kFormats);
    out["scalings"] = names_of(kScalings);
    out["scale_rules"] = names_of(kRules);
    return out;
  }, "The quantizer's names: {'formats': [...], 'scalings': [...], 'scale_rules': [...]}");
}

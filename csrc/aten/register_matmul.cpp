// Registrations of the matrix products (bodies in aten/native/matmul.cpp): every form ends in
// photonic::matmul_entry, followed by the digital epilogue.
#include "aten/native/matmul.h"

#include <torch/library.h>

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("mm", &photonic::native::mm);
  m.impl("mm.out", &photonic::native::mm_out);
  m.impl("addmm", &photonic::native::addmm);
  m.impl("addmm.out", &photonic::native::addmm_out);
  m.impl("addmm_", &photonic::native::addmm_);
  m.impl("bmm", &photonic::native::bmm);
  m.impl("bmm.out", &photonic::native::bmm_out);
  m.impl("baddbmm", &photonic::native::baddbmm);
  m.impl("baddbmm.out", &photonic::native::baddbmm_out);
  m.impl("baddbmm_", &photonic::native::baddbmm_);
  m.impl("_grouped_mm", &photonic::native::grouped_mm);
}

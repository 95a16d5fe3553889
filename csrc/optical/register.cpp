// Schemas and CPU / Meta registrations of the optical ops (schemas as in docs/design.md; bodies
// in program.cpp, draw.cpp, drift.cpp, mvm.cpp, meta.cpp). TORCH_LIBRARY_FRAGMENT because the quantizer
// also adds ops to the `photonic` namespace.
#include "optical/kernels.h"

#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(photonic, m) {
  m.def(
      "program(Tensor weight, str weight_format, str weight_scaling, str scale_rule, "
      "int levels, int cells_per_weight, bool quantize_levels, float[] program_noise_coeffs, "
      "int tile_rows, int seed, int first_row=0) -> (Tensor weff, Tensor scales)");
  m.def(
      "draw_cells(Tensor weight, Tensor? offset, Tensor? sigma, str weight_format, "
      "str weight_scaling, str scale_rule, int levels, int cells_per_weight, "
      "bool quantize_levels, int tile_rows, int seed) -> (Tensor cells, Tensor scales)");
  m.def(
      "drift(Tensor weff, Tensor scales, int cells_per_weight, int tile_rows, "
      "float[] nu_coeffs, float[] nu_range, float[] nu_std_coeffs, float[] nu_std_range, "
      "float t0, float[] read_noise, float seconds, str compensation, int seed) -> Tensor");
  m.def(
      "mvm(Tensor x, Tensor weff, Tensor scales, Tensor full_scale, Tensor? input_range, "
      "Tensor? cm_weight, str act_format, str act_scaling, str scale_rule, int dac_bits, "
      "bool dac_rounding, bool block_exponent, int adc_bits, bool adc_rounding, "
      "float photons_per_unit, float receiver_sigma, int bound_management, int tile_rows, "
      "int tile_cols, int cells_per_weight, int seed, Tensor? bias=None) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(photonic, CPU, m) {
  m.impl("program", &photonic::optical::program_cpu);
  m.impl("drift", &photonic::optical::drift_cpu);
  m.impl("draw_cells", &photonic::optical::draw_cells_cpu);
  m.impl("mvm", &photonic::optical::mvm_cpu);
}

TORCH_LIBRARY_IMPL(photonic, Meta, m) {
  m.impl("program", &photonic::optical::program_meta);
  m.impl("drift", &photonic::optical::drift_meta);
  m.impl("mvm", &photonic::optical::mvm_meta);
}

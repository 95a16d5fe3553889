// Schemas and CPU / Meta registrations of the optical ops (schemas as in docs/design.md; bodies
// in program.cpp, drift.cpp, calibrate.cpp, mvm.cpp, meta.cpp). TORCH_LIBRARY_FRAGMENT because
// the quantizer also adds ops to the `photonic` namespace.
#include "optical/kernels.h"

#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(photonic, m) {
  m.def(
      "program(Tensor weight, str weight_format, str weight_scaling, str scale_rule, "
      "int levels, int cells_per_weight, bool quantize_levels, float program_noise, "
      "int tile_rows, int seed) -> (Tensor, Tensor)");
  m.def(
      "drift(Tensor weff, Tensor scales, int cells_per_weight, int tile_rows, float nu, "
      "float nu_std, float t0, float seconds, bool compensate, int seed) -> Tensor");
  m.def(
      "calibrate(Tensor x, Tensor weff, Tensor scales, str act_format, str act_scaling, "
      "str scale_rule, int dac_bits, bool dac_rounding, int tile_rows, int tile_cols, "
      "float k_sigma) -> Tensor");
  m.def(
      "mvm(Tensor x, Tensor weff, Tensor scales, Tensor full_scale, str act_format, "
      "str act_scaling, str scale_rule, int dac_bits, bool dac_rounding, int adc_bits, "
      "bool adc_rounding, float read_noise_shot, float read_noise_thermal, int tile_rows, "
      "int tile_cols, int cells_per_weight, float drift_nu, float drift_nu_std, float drift_t0, "
      "bool drift_compensation, float seconds_since_program, int program_seed, int seed, "
      "Tensor? bias=None) -> Tensor");
}

TORCH_LIBRARY_IMPL(photonic, CPU, m) {
  m.impl("program", &photonic::optical::program_cpu);
  m.impl("drift", &photonic::optical::drift_cpu);
  m.impl("calibrate", &photonic::optical::calibrate_cpu);
  m.impl("mvm", &photonic::optical::mvm_cpu);
}

TORCH_LIBRARY_IMPL(photonic, Meta, m) {
  m.impl("program", &photonic::optical::program_meta);
  m.impl("drift", &photonic::optical::drift_meta);
  m.impl("calibrate", &photonic::optical::calibrate_meta);
  m.impl("mvm", &photonic::optical::mvm_meta);
}

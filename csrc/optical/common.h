// Pieces shared by the optical kernels (bodies in common.cpp): argument checks and the digital
// formats through the quantizer.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace photonic {
namespace optical {

// "[a, b, c]" for error messages.
std::string shape_str(at::IntArrayRef s);

// fake_quantize(x) in float32 through the quantizer; format "none" returns x unchanged.
at::Tensor fake_quant(const at::Tensor& x, const std::string& fmt, const std::string& scaling,
                      const std::string& rule, bool weight);

// Number of k-tiles of `tile_rows` rows that cover k inputs.
inline int64_t n_tiles(int64_t k, int64_t tile_rows) { return (k + tile_rows - 1) / tile_rows; }

// Checks a programmed state (weff [N, K] float32, scales [N, T] float32) against tile_rows.
void check_weight_state(const at::Tensor& weff, const at::Tensor& scales, int64_t tile_rows,
                        const char* op);

// Checks that the float list `name` of `op` has exactly n entries, all finite.
void check_list(c10::ArrayRef<double> v, size_t n, const char* op, const char* name);

// x [..., K] as a contiguous float32 [M, K] matrix, checked against weff [N, K].
at::Tensor flatten_input(const at::Tensor& x, const at::Tensor& weff, const char* op);

}  // namespace optical
}  // namespace photonic

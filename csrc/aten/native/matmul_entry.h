// The single entry point of every matrix product on the photonic device. mm, addmm, bmm,
// baddbmm, _grouped_mm and their .out/in-place forms all end here; only this body changes
// when the optics change. Body in matmul_entry.cpp; the aten kernels around it in matmul.cpp.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <optional>
#include <string>

namespace photonic {

enum class MatmulOp { mm, bmm, grouped_mm };
const char* matmul_op_name(MatmulOp op);

// a: [M, K] (mm), [B, M, K] (bmm), or grouped_mm's operands; b: [K, N] / [B, K, N] / ...
// Returns a fresh photonic tensor holding a @ b (before any alpha/beta/bias, which are digital).
at::Tensor matmul_entry(MatmulOp op, const at::Tensor& a, const at::Tensor& b,
                        const std::optional<at::Tensor>& offs);

// Non-exact modes hand products to a handler installed from Python (torch_photonic.device.matmul),
// which runs the optical kernel with the device's current hardware configuration. It receives
// the device operands (their identity and version tell a programmed weight from a changing
// operand; photonic._C._host_alias gives their host view) and returns a host tensor. No
// handler = exact mode.
using MatmulHandler = std::function<at::Tensor(const std::string& op, const at::Tensor& a, const at::Tensor& b,
                                               const std::optional<at::Tensor>& offs)>;
void set_matmul_handler(MatmulHandler handler);
bool has_matmul_handler();

}  // namespace photonic

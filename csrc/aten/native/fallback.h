// The electronic host: every aten op without a photonic kernel runs here, on CPU kernels that
// work in place on host aliases of device memory. One place, counted per op (host_ops.h).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <string>

namespace photonic {

// Runs `op` on the CPU with host aliases of its photonic arguments, and hands back photonic
// results (adopted without a copy where possible). Registered (aten/register_fallback.cpp) as
// the PrivateUse1 boxed fallback and explicitly for ops whose composite path would bypass it.
void host_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);

// "allow" (default), "warn" (once per op) or "error" (electronic fallback forbidden).
void set_fallback_policy(const std::string& policy);
std::string fallback_policy();

}  // namespace photonic

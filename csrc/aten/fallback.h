// The electronic host: every aten op without a photonic kernel runs here, on CPU kernels that
// work in place on host aliases of device memory. One place, with per-op counters for meters.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <map>
#include <string>

namespace photonic {

// Runs `op` on the CPU with host aliases of its photonic arguments, and hands back photonic
// results (adopted without a copy where possible). Used as the PrivateUse1 boxed fallback and
// registered explicitly for ops whose composite path would bypass it.
void host_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);

struct HostOpStats {
  int64_t calls = 0;
  int64_t bytes_in = 0;    // bytes of tensor arguments read
  int64_t bytes_out = 0;   // bytes of tensors written (results and mutated arguments)
  int64_t elements_out = 0;
};

// Counting is off unless a meter switched it on: then the fallback adds one entry per op name.
void set_host_op_counting(bool on);
bool host_op_counting();
std::map<std::string, HostOpStats> take_host_op_stats(bool reset);

// "allow" (default), "warn" (once per op) or "error" (electronic fallback forbidden).
void set_fallback_policy(const std::string& policy);
std::string fallback_policy();

}  // namespace photonic

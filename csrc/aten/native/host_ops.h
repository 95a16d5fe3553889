// Per-op counters of the work the photonic device does on its electronic host: the CPU fallback
// (fallback.cpp) and the digital epilogue of the matrix products (matmul_epilogue.cpp) record
// here; meters read the counters through torch.photonic.count_host_ops() and
// _C._take_host_op_stats.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace photonic {

struct HostOpStats {
  int64_t calls = 0;
  int64_t bytes_in = 0;    // bytes of tensor arguments read
  int64_t bytes_out = 0;   // bytes of tensors written (results and mutated arguments)
  int64_t elements_out = 0;
};

// Counting is off unless a meter switched it on: then each host op adds to the entry of its name.
void set_host_op_counting(bool on);
bool host_op_counting();
std::map<std::string, HostOpStats> take_host_op_stats(bool reset);

// One call of host op `name`; callers check host_op_counting() first (this records regardless).
void record_host_op(const std::string& name, int64_t bytes_in, int64_t bytes_out, int64_t elements_out);

}  // namespace photonic

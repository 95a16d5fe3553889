#include "aten/native/host_ops.h"

#include <atomic>
#include <mutex>

namespace photonic {
namespace {

std::atomic<bool> g_counting{false};
std::mutex g_stats_mutex;
std::map<std::string, HostOpStats> g_stats;

}  // namespace

void set_host_op_counting(bool on) { g_counting.store(on); }
bool host_op_counting() { return g_counting.load(std::memory_order_relaxed); }

std::map<std::string, HostOpStats> take_host_op_stats(bool reset) {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  std::map<std::string, HostOpStats> out = g_stats;
  if (reset) g_stats.clear();
  return out;
}

void record_host_op(const std::string& name, int64_t bytes_in, int64_t bytes_out, int64_t elements_out) {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  HostOpStats& s = g_stats[name];
  s.calls += 1;
  s.bytes_in += bytes_in;
  s.bytes_out += bytes_out;
  s.elements_out += elements_out;
}

}  // namespace photonic

// Device memory: host buffers from the default CPU allocator, wrapped so that the device keeps
// its own byte counter (memory_allocated / max_memory_allocated) and an optional capacity
// (set_memory_limit) that raises torch.OutOfMemoryError like a real device would.
#include "runtime/device.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>

namespace photonic {
namespace {

std::atomic<int64_t> g_allocated{0};
std::atomic<int64_t> g_peak{0};
std::atomic<int64_t> g_limit{0};

// What a device DataPtr owns: the host buffer and how to give it back.
struct Block {
  c10::DataPtr host;
  size_t nbytes;
};

void reserve(size_t nbytes) {
  const int64_t n = static_cast<int64_t>(nbytes);
  const int64_t limit = g_limit.load(std::memory_order_relaxed);
  const int64_t now = g_allocated.fetch_add(n, std::memory_order_relaxed) + n;
  if (limit > 0 && now > limit) {
    g_allocated.fetch_sub(n, std::memory_order_relaxed);
    TORCH_CHECK_WITH(OutOfMemoryError, false,
                     "photonic out of memory: tried to allocate ", nbytes, " bytes with ", now - n,
                     " bytes in use and a capacity of ", limit,
                     " bytes (set by torch.photonic.set_memory_limit)");
  }
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void release_block(void* ctx) {
  auto* block = static_cast<Block*>(ctx);
  g_allocated.fetch_sub(static_cast<int64_t>(block->nbytes), std::memory_order_relaxed);
  delete block;  // frees the host buffer through its own deleter
}

struct DeviceAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) override {
    reserve(nbytes);
    c10::DataPtr host = c10::GetDefaultCPUAllocator()->allocate(nbytes);
    void* data = host.get();
    auto* block = new Block{std::move(host), nbytes};
    return c10::DataPtr(data, block, &release_block, device0());
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

DeviceAllocator g_allocator;

}  // namespace

c10::DataPtr wrap_host_data_ptr(c10::DataPtr&& host, size_t nbytes) {
  reserve(nbytes);
  void* data = host.get();
  host.unsafe_set_device(c10::Device(c10::kCPU));
  auto* block = new Block{std::move(host), nbytes};
  return c10::DataPtr(data, block, &release_block, device0());
}

c10::Allocator* allocator() { return &g_allocator; }
int64_t memory_allocated() { return g_allocated.load(); }
int64_t max_memory_allocated() { return g_peak.load(); }
void reset_peak_memory_stats() { g_peak.store(g_allocated.load()); }
void set_memory_limit(int64_t bytes) { g_limit.store(bytes > 0 ? bytes : 0); }
int64_t memory_limit() { return g_limit.load(); }

}  // namespace photonic

REGISTER_ALLOCATOR(c10::DeviceType::PrivateUse1, &photonic::g_allocator);

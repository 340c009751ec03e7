// Waiting for a counter to move: spin briefly (lowest latency), then yield the
// core (other threads, e.g. actors', may need it), then sleep in the kernel.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace actinfer {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

struct SpinPolicy {
  int pause_iterations;
  int yield_iterations;
};

// Returns the counter's first value that differs from `seen`.
inline uint64_t wait_for_change(const std::atomic<uint64_t>& counter, uint64_t seen, SpinPolicy policy) {
  for (int spins = 0;; ++spins) {
    const uint64_t now = counter.load(std::memory_order_acquire);
    if (now != seen) return now;
    if (spins < policy.pause_iterations) {
      cpu_relax();
    } else if (spins < policy.pause_iterations + policy.yield_iterations) {
      std::this_thread::yield();
    } else {
      counter.wait(seen, std::memory_order_acquire);
      spins = 0;
    }
  }
}

}  // namespace actinfer

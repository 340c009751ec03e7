// Waiting for a counter to move: spin briefly (lowest latency), then sleep in the
// kernel. No sched_yield anywhere: with another runnable process on the core (a
// nice-19 batch job) each yield hands it the core, and our next wake-up then waits for
// its slice. Beside one nice-19 CPU-bound process, decode's threads waited 0.9 ms on
// average from wake-up to running with 2000 yields, 0.25 ms without (docs/journal.md,
// 2026-12-04, fourth session). libstdc++'s std::atomic::wait (GCC 12) yields 4 times
// before each sleep, and 64-bit atomics wait on a shared proxy word, so the sleep
// here is a futex on the counter itself.
#pragma once
#include <atomic>
#include <cstdint>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace actinfer {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// A 32-bit counter that threads wait on for a change. `advance` enters the kernel
// only when some waiter sleeps, so spinning waiters cost no system call.
class WakeCounter {
 public:
  uint32_t load(std::memory_order order = std::memory_order_acquire) const { return value_.load(order); }

  // Adds one and wakes every sleeping waiter; returns the new value.
  uint32_t advance();

  // Returns the counter's first value that differs from `seen`: `pause_iterations`
  // pauses first, then sleeps until `advance`.
  uint32_t wait_for_change(uint32_t seen, int pause_iterations);

 private:
  std::atomic<uint32_t> value_{0};
  std::atomic<int> sleepers_{0};
};

}  // namespace actinfer

// Waiting for a counter to move: spin briefly (lowest latency), then sleep in the
// kernel. No sched_yield stage between them: with any other runnable process on the
// core (a nice-19 batch job) each yield hands it the core, and our next wake-up then
// waits for its slice. Beside one nice-19 CPU-bound process, decode's threads waited
// 0.9 ms on average from wake-up to running with 2000 yields, 0.25 ms without, and
// busy/quiet decode went 0.88 -> 0.99 (medians of 14 alternated pairs); quiet decode
// and serve unchanged (docs/journal.md, 2026-12-04, fourth session).
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

// Returns the counter's first value that differs from `seen`.
inline uint64_t wait_for_change(const std::atomic<uint64_t>& counter, uint64_t seen, int pause_iterations) {
  for (int spins = 0;; ++spins) {
    const uint64_t now = counter.load(std::memory_order_acquire);
    if (now != seen) return now;
    if (spins < pause_iterations) {
      cpu_relax();
    } else {
      counter.wait(seen, std::memory_order_acquire);
      spins = 0;
    }
  }
}

}  // namespace actinfer

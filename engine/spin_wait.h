// Waiting for a counter to move: spin briefly (lowest latency), then sleep in the
// kernel. No sched_yield stage between them: with any other runnable process on the
// core (a nice-19 batch job) a yield hands it a whole scheduler slice (~0.75 ms),
// where a futex wake preempts it at once. Decode beside one nice-19 CPU-bound
// process, busy/quiet medians of 14 alternated pairs: 0.88 with 2000 yields, 0.99
// without; quiet decode and serve unchanged (docs/journal.md, 2026-12-04, fourth session).
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

#include "engine/spin_wait.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace actinfer {
namespace {

// Sleeps while `word` holds `expected` (returns at once when it does not), or until woken.
void sleep_while_equal(std::atomic<uint32_t>& word, uint32_t expected) {
#if defined(__linux__)
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
#else
  word.wait(expected, std::memory_order_acquire);
#endif
}

void wake_all(std::atomic<uint32_t>& word) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 0x7fffffff, nullptr, nullptr, 0);
#else
  word.notify_all();
#endif
}

}  // namespace

uint32_t WakeCounter::advance() {
  // seq_cst on both sides (here and in wait_for_change): either this load sees the
  // sleeper's registration, or the sleeper's futex sees the new value and returns.
  const uint32_t now = value_.fetch_add(1, std::memory_order_seq_cst) + 1;
  if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all(value_);
  return now;
}

uint32_t WakeCounter::wait_for_change(uint32_t seen, int pause_iterations) {
  for (int spins = 0;; ++spins) {
    const uint32_t now = value_.load(std::memory_order_acquire);
    if (now != seen) return now;
    if (spins < pause_iterations) {
      cpu_relax();
      continue;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    sleep_while_equal(value_, seen);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    spins = 0;
  }
}

}  // namespace actinfer

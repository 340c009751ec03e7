#include "engine/thread_pool.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "engine/spin_wait.h"
#include "topology/pinning.h"

namespace actinfer {
namespace {
// Workers spin briefly between the regions of a job, then sleep (engine/spin_wait.h).
constexpr int kSpinIterations = 4000;
}  // namespace

std::jthread start_thread(const ThreadStarter& starter, std::function<void()> body) {
  // A thread inherits its starter's cores: one started by a pinned thread (the CAF thread that
  // runs the gpu-worker also starts the cpu-workers' teams and the predictor's pool) would
  // share that one core. Freed first; an on_start hook in `body` may pin it again.
  auto freed = [body = std::move(body)] {
    topology::unpin_current_thread();
    body();
  };
  return starter ? starter(std::move(freed)) : std::jthread(std::move(freed));
}

bool warn_if_oversubscribed(int n_threads, const char* what) {
  const unsigned pus = std::thread::hardware_concurrency();
  if (pus == 0 || n_threads <= static_cast<int>(pus)) return false;
  std::fprintf(stderr, "warning: %d compute threads for %s on a machine with %u processing units: they will time-share cores\n",
               n_threads, what, pus);
  return true;
}

ThreadPool::ThreadPool(int n_threads, std::function<void(int)> on_start, const ThreadStarter& starter) : n_threads_(n_threads) {
  if (n_threads < 1) throw std::invalid_argument("thread count must be at least 1, got " + std::to_string(n_threads));
  oversubscribed_ = warn_if_oversubscribed(n_threads, "a thread pool");
  try {
    workers_.reserve(static_cast<size_t>(n_threads - 1));
    for (int i = 1; i < n_threads; ++i)
      workers_.push_back(start_thread(starter, [this, i, on_start] {
        if (on_start) on_start(i);
        worker_loop();
      }));
  } catch (const std::exception& e) {
    // Threads count from 1, the calling thread. The destructor does not run for a
    // constructor that throws: stop the workers already
    // started here, or joining them (workers_' destructor) would wait forever.
    stop_workers();
    throw std::runtime_error("cannot start compute thread " + std::to_string(workers_.size() + 2) + " of " +
                             std::to_string(n_threads) + ": " + e.what() +
                             " (a thread limit: ulimit -u or the container's pids.max; use fewer threads)");
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  stop_.store(true);
  generation_.advance();
}

void ThreadPool::run_parts(int n_parts, const std::function<void(int, int)>& task) {
  if (n_parts <= 0) return;
  if (caller_hook_ && hooked_caller_ != std::this_thread::get_id()) {
    hooked_caller_ = std::this_thread::get_id();
    caller_hook_();
  }
  if (n_threads_ == 1) {
    for (int p = 0; p < n_parts; ++p) task(p, n_parts);
    return;
  }
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  parts_done_.store(0, std::memory_order_relaxed);
  task_.store(&task, std::memory_order_relaxed);
  n_parts_.store(n_parts, std::memory_order_relaxed);
  claim_.store(uint64_t{generation} << 32, std::memory_order_release);
  generation_.advance();
  run_claimed_parts(generation);
  // Parts claimed by other threads may still run; a preempted one is waited for here,
  // spinning as ggml's barrier does (llama.cpp keeps 0.95-1.00 of its decode beside a
  // nice-19 process): this caller's yields were 80 a decoded token there, mostly in the
  // output head, each one a chance for that process to take the core for its slice.
  for (int spins = 0; parts_done_.load(std::memory_order_acquire) != n_parts; ++spins) {
    if (oversubscribed_ && spins >= kSpinIterations) std::this_thread::yield();
    else cpu_relax();
  }
}

void ThreadPool::run_claimed_parts(uint32_t generation) {
  for (;;) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    if (static_cast<uint32_t>(claim >> 32) != generation) return;  // a newer job: this one is done
    // n_parts may already be a newer job's: then the compare-exchange fails. Once it
    // succeeds, this job cannot finish before the claimed part does, so task_ is its own.
    const int n_parts = n_parts_.load(std::memory_order_acquire);
    const auto part = static_cast<int>(static_cast<uint32_t>(claim));
    if (part >= n_parts) return;
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    (*task_.load(std::memory_order_acquire))(part, n_parts);
    parts_done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    seen = generation_.wait_for_change(seen, kSpinIterations);
    if (stop_.load()) return;
    run_claimed_parts(seen);
  }
}

std::pair<int64_t, int64_t> ThreadPool::split(int64_t n, int part, int n_parts, int64_t align) {
  const int64_t units = (n + align - 1) / align;
  const int64_t begin_unit = units * part / n_parts;
  const int64_t end_unit = units * (part + 1) / n_parts;
  return {std::min(n, begin_unit * align), std::min(n, end_unit * align)};
}

}  // namespace actinfer

#include "engine/thread_pool.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "engine/spin_wait.h"

namespace actinfer {
namespace {
// Workers spin briefly between the regions of a job, then yield (other threads,
// e.g. actors', may need the core), then sleep.
constexpr int kSpinIterations = 4000;
constexpr int kYieldIterations = 2000;
}  // namespace

std::jthread start_thread(const ThreadStarter& starter, std::function<void()> body) {
  return starter ? starter(std::move(body)) : std::jthread(std::move(body));
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
  warn_if_oversubscribed(n_threads, "a thread pool");
  try {
    workers_.reserve(static_cast<size_t>(n_threads - 1));
    for (int i = 1; i < n_threads; ++i)
      workers_.push_back(start_thread(starter, [this, i, on_start] {
        if (on_start) on_start(i);
        worker_loop(i);
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
  generation_.fetch_add(1);
  generation_.notify_all();
}

void ThreadPool::run(const std::function<void(int, int)>& task) {
  if (n_threads_ == 1) {
    task(0, 1);
    return;
  }
  task_ = &task;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  task(0, n_threads_);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinIterations) cpu_relax();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    seen = wait_for_change(generation_, seen, {kSpinIterations, kYieldIterations});
    if (stop_.load()) return;
    (*task_)(index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

std::pair<int64_t, int64_t> ThreadPool::split(int64_t n, int part, int n_parts, int64_t align) {
  const int64_t units = (n + align - 1) / align;
  const int64_t begin_unit = units * part / n_parts;
  const int64_t end_unit = units * (part + 1) / n_parts;
  return {std::min(n, begin_unit * align), std::min(n, end_unit * align)};
}

}  // namespace actinfer

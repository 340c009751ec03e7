// A fixed team of threads that runs one task at a time on all of them
// (fork-join). Workers spin briefly between tasks, then sleep, so the many
// short parallel regions of a decoded token cost about a microsecond each.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace actinfer {

class ThreadPool {
 public:
  // n_threads counts the calling thread, which takes part in every task.
  // on_start(i) runs first on each worker thread i >= 1 (e.g. to pin it).
  explicit ThreadPool(int n_threads, std::function<void(int)> on_start = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs task(thread_index, n_threads) on every thread and returns when all are done.
  // The task must not throw. Not reentrant: call from one thread at a time.
  void run(const std::function<void(int, int)>& task);

  // Splits [0, n) into n_parts near-equal ranges, each a multiple of `align` except the last.
  static std::pair<int64_t, int64_t> split(int64_t n, int part, int n_parts, int64_t align = 1);

 private:
  void worker_loop(int index);
  int n_threads_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::jthread> workers_;
};

}  // namespace actinfer

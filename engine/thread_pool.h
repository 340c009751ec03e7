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

// Starts a thread running `body`. The default is std::jthread's constructor; tests pass one
// that throws std::system_error to stand for a thread limit (ulimit -u, a container's pids.max).
using ThreadStarter = std::function<std::jthread(std::function<void()> body)>;
std::jthread start_thread(const ThreadStarter& starter, std::function<void()> body);

// Prints a warning to stderr when n_threads compute threads (of `what`) exceed the machine's
// processing units: they will time-share cores. Returns whether it warned.
bool warn_if_oversubscribed(int n_threads, const char* what);

class ThreadPool {
 public:
  // n_threads counts the calling thread, which takes part in every task.
  // on_start(i) runs first on each worker thread i >= 1 (e.g. to pin it).
  // Throws std::runtime_error naming the thread when one cannot be created; the threads
  // already started are stopped and joined first (no hang, no terminate).
  explicit ThreadPool(int n_threads, std::function<void(int)> on_start = {}, const ThreadStarter& starter = {});
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
  void stop_workers();
  int n_threads_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::jthread> workers_;
};

}  // namespace actinfer

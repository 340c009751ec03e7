// A fixed team of threads that runs one task at a time on all of them
// (fork-join). A task is cut into parts that the threads claim one by one, so a
// thread the kernel has preempted (a busy machine) delays only a part it has
// already claimed: the others, the caller included, take the rest. Workers spin
// briefly between tasks, then sleep, so the many short parallel regions of a
// decoded token cost about a microsecond each. The caller waits for claimed parts by
// spinning, never yielding (unless oversubscribed): a yield beside a nice-19 process hands
// it the core for its slice (engine/spin_wait.h).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "engine/spin_wait.h"

namespace actinfer {

// Starts a thread running `body`, free to run on any core the process may use (not only its
// starter's). The default is std::jthread's constructor; tests pass one that throws
// std::system_error to stand for a thread limit (ulimit -u, a container's pids.max).
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
  // Runs `hook` on the thread that calls run/run_parts, before its first task there (and
  // again whenever another thread calls): the host backend pins its caller with it.
  void set_caller_hook(std::function<void()> hook) { caller_hook_ = std::move(hook); }
  // Runs task(part, n_threads) once for every part in [0, n_threads) and returns when all
  // are done. Parts go to whichever threads are running, but no two parts with the same
  // index run at once, so a part may use per-thread scratch slot `part`.
  // The task must not throw. Not reentrant: call from one thread at a time.
  void run(const std::function<void(int, int)>& task) { run_parts(n_threads_, task); }
  // The same over n_parts parts (finer parts balance better when threads are preempted;
  // then `part` may exceed the thread count and must not index per-thread scratch).
  void run_parts(int n_parts, const std::function<void(int, int)>& task);

  // Splits [0, n) into n_parts near-equal ranges, each a multiple of `align` except the last.
  static std::pair<int64_t, int64_t> split(int64_t n, int part, int n_parts, int64_t align = 1);

 private:
  void worker_loop();
  // Claims and runs parts of the job published as `generation` until none is left.
  void run_claimed_parts(uint32_t generation);
  void stop_workers();
  int n_threads_;
  std::function<void()> caller_hook_;
  std::thread::id hooked_caller_;  // the thread caller_hook_ last ran on
  std::atomic<const std::function<void(int, int)>*> task_{nullptr};
  std::atomic<int> n_parts_{0};
  // (generation << 32) | next unclaimed part: a worker that wakes late cannot claim a
  // part of a newer job by mistake, since its compare-exchange names the generation.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> parts_done_{0};
  WakeCounter generation_;  // wakes the workers
  // More threads than processing units: the caller's wait for a part then yields, since
  // the thread running that part may need this core.
  bool oversubscribed_ = false;
  std::atomic<bool> stop_{false};
  std::vector<std::jthread> workers_;
};

}  // namespace actinfer

// A team of compute threads that takes jobs asynchronously: post() returns at
// once, the team's lead thread runs the job with the team's thread pool, and the
// job itself reports completion (an actor posts work and gets a message back,
// so no actor blocks a scheduler thread while the arithmetic runs).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "engine/thread_pool.h"

namespace actinfer {

class WorkerTeam {
 public:
  using Job = std::function<void(ThreadPool&)>;
  // on_start(i) runs first on thread i (0 = the lead), e.g. to pin it to a core.
  explicit WorkerTeam(int n_threads, std::function<void(int)> on_start = {});
  ~WorkerTeam();
  WorkerTeam(const WorkerTeam&) = delete;
  WorkerTeam& operator=(const WorkerTeam&) = delete;

  // Runs job on the team; one job at a time (the owner waits for the job's own
  // completion signal before posting the next). The job must not throw.
  void post(Job job);
  int size() const { return n_threads_; }

 private:
  void lead_loop(std::function<void(int)> on_start);
  int n_threads_;
  Job job_;
  std::atomic<uint64_t> posted_{0};
  std::atomic<bool> stop_{false};
  std::unique_ptr<ThreadPool> pool_;  // created on the lead thread
  std::jthread lead_;
};

}  // namespace actinfer

// A team of compute threads that takes jobs asynchronously: post() returns at
// once, the team's lead thread runs the job with the team's thread pool, and the
// job itself reports completion (an actor posts work and gets a message back,
// so no actor blocks a scheduler thread while the arithmetic runs).
#pragma once
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <thread>

#include "engine/spin_wait.h"
#include "engine/thread_pool.h"

namespace actinfer {

class WorkerTeam {
 public:
  using Job = std::function<void(ThreadPool&)>;
  // Receives an exception a job threw, on the lead thread; the team takes the next job.
  using JobErrorHandler = std::function<void(std::exception_ptr)>;
  // on_start(i) runs first on thread i (0 = the lead), e.g. to pin it to a core.
  // Creates all the team's threads before it returns: one that cannot be created throws
  // std::runtime_error here (the others stopped and joined), not later on the lead thread.
  // Without on_job_error a throwing job prints the error and aborts (a job owner that
  // waits for its completion message would otherwise hang).
  explicit WorkerTeam(int n_threads, std::function<void(int)> on_start = {}, JobErrorHandler on_job_error = {},
                      const ThreadStarter& starter = {});
  ~WorkerTeam();
  WorkerTeam(const WorkerTeam&) = delete;
  WorkerTeam& operator=(const WorkerTeam&) = delete;

  // Runs job on the team; one job at a time (the owner waits for the job's own
  // completion signal before posting the next). The job must not throw.
  void post(Job job);
  int size() const { return n_threads_; }

 private:
  void lead_loop();
  int n_threads_;
  JobErrorHandler on_job_error_;
  Job job_;
  WakeCounter posted_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<ThreadPool> pool_;  // created on the lead thread
  std::jthread lead_;
};

}  // namespace actinfer

#include "engine/worker_team.h"

#include <cstdio>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>

#include "engine/spin_wait.h"

namespace actinfer {
namespace {
// Between jobs the lead stays awake for the next layer's job, but sleeps after a
// short spin: the actor threads that produce that job need the core.
constexpr int kPauseIterations = 2000;
}

WorkerTeam::WorkerTeam(int n_threads, std::function<void(int)> on_start, JobErrorHandler on_job_error, const ThreadStarter& starter)
    : n_threads_(n_threads), on_job_error_(std::move(on_job_error)) {
  if (n_threads < 1) throw std::invalid_argument("a worker team needs at least 1 thread, got " + std::to_string(n_threads));
  // The pool is created on the lead thread (its threads inherit the lead's placement);
  // the constructor waits for it so that a failure surfaces here, as an exception.
  auto ready = std::make_shared<std::promise<void>>();  // shared: the lead may still be in set_value when we return
  std::future<void> started = ready->get_future();
  try {
    lead_ = start_thread(starter, [this, on_start, starter, ready] {
      try {
        if (on_start) on_start(0);
        pool_ = std::make_unique<ThreadPool>(n_threads_, on_start, starter);
      } catch (...) {
        ready->set_exception(std::current_exception());
        return;
      }
      ready->set_value();
      lead_loop();
    });
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot start the lead thread of a " + std::to_string(n_threads) + "-thread worker team: " + e.what() +
                             " (a thread limit: ulimit -u or the container's pids.max; use fewer threads)");
  }
  started.get();  // rethrows the pool's failure (the lead thread has returned; lead_ joins it)
}

WorkerTeam::~WorkerTeam() {
  stop_.store(true);
  posted_.advance();
}

void WorkerTeam::post(Job job) {
  job_ = std::move(job);
  posted_.advance();
}

void WorkerTeam::lead_loop() {
  uint32_t seen = 0;
  for (;;) {
    seen = posted_.wait_for_change(seen, kPauseIterations);
    if (stop_.load()) break;
    Job job = std::move(job_);
    try {
      job(*pool_);
    } catch (...) {
      // An exception must not end the thread (std::terminate) nor vanish (the job's owner
      // waits for its completion message): hand it to the owner.
      if (!on_job_error_) {
        try {
          throw;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "error: a worker team job failed: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "error: a worker team job failed\n");
        }
        std::abort();
      }
      on_job_error_(std::current_exception());
    }
  }
  pool_.reset();  // joins the pool's threads on this thread
}

}  // namespace actinfer
